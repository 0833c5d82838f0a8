//! tensorweave's native files: the graph as Keras-layout JSON (see
//! [`crate::keras_json`]) and the weights as safetensors, named by layer path
//! (`bidirectional/forward_lstm/lstm_cell/kernel`).
//!
//! ```
//! use tensorweave_io::native::ModelIo;
//! use tensorweave_layers::prelude::*;
//!
//! let x = Input::new([4]).name("x").build();
//! let y = Dense::new(2).name("out").call(&x).unwrap();
//! let model = Model::new(&[x], &[y]).unwrap();
//!
//! let json = model.to_json().unwrap();
//! let again = Model::from_json(&json).unwrap();
//! assert_eq!(again.to_json().unwrap(), json);
//!
//! let dir = std::env::temp_dir().join(format!("tw-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! model.save(dir.join("model")).unwrap(); // model.json + model.safetensors
//! let loaded = Model::load(dir.join("model")).unwrap();
//! assert_eq!(loaded.get_weights(), model.get_weights());
//! # std::fs::remove_dir_all(&dir).ok();
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use tensorweave_core::format_dims;

use ndarray::{ArrayD, IxDyn};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use tensorweave_core::{BuildContext, Error, MemoryBudget, Model, Result, WeightInit};

use crate::limits::{read_file, shown};

use crate::keras_json::{
    model_from_keras_config, model_from_keras_config_with, model_to_keras_config, FORMAT_VERSION,
};
use crate::registry::{default_registry, LayerRegistry};

/// Saving and loading models in tensorweave's native format.
pub trait ModelIo: Sized {
    /// The graph as pretty-printed, deterministic JSON in Keras' functional layout.
    fn to_json(&self) -> Result<String>;

    /// A model from JSON written by [`ModelIo::to_json`] or Keras' `to_json`,
    /// with the layers of the default registry
    /// ([`crate::registry::default_registry`]). Weights are freshly initialised.
    fn from_json(json: &str) -> Result<Self>;

    /// [`ModelIo::from_json`] with an explicit registry.
    fn from_json_with(json: &str, registry: &LayerRegistry) -> Result<Self>;

    /// Writes `PATH.json` (the graph) and `PATH.safetensors` (the weights); a
    /// `.json` or `.safetensors` extension on `path` is replaced. Each file is
    /// written to a temporary file and renamed, so a failed save leaves any
    /// existing file intact.
    fn save(&self, path: impl AsRef<Path>) -> Result<()>;

    /// Reads `PATH.json` and `PATH.safetensors` (default registry).
    fn load(path: impl AsRef<Path>) -> Result<Self>;

    /// [`ModelIo::load`] with an explicit registry.
    fn load_with(path: impl AsRef<Path>, registry: &LayerRegistry) -> Result<Self>;

    /// Loads a Keras model: a `.keras` archive (config and weights), or a Keras
    /// `to_json` file with weights from a `.weights.h5` / `.npz` given in
    /// `weights`. User layers are found in the default registry
    /// ([`crate::registry::register_layer`]).
    fn from_keras(path: impl AsRef<Path>, weights: Option<&Path>) -> Result<Self>;

    /// Writes the model as a Keras 3 `.keras` archive that Keras' `load_model`
    /// opens (uncompiled; a trained model with its optimizer state is saved
    /// by `tensorweave::saving::TrainerIo::save_keras`).
    fn save_keras(&self, path: impl AsRef<Path>) -> Result<()>;

    /// Writes the weights to a safetensors file, one tensor per weight path.
    fn save_weights_safetensors(&self, path: impl AsRef<Path>) -> Result<()>;

    /// Reads weights from a safetensors file, matched by weight path. A missing,
    /// extra or wrongly shaped tensor is an error naming it, and nothing is
    /// written unless every weight fits.
    fn load_weights_safetensors(&self, path: impl AsRef<Path>) -> Result<()>;
}

impl ModelIo for Model {
    fn to_json(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(&model_to_keras_config(self)?)?)
    }

    fn from_json(json: &str) -> Result<Self> {
        Self::from_json_with(json, &default_registry())
    }

    fn from_json_with(json: &str, registry: &LayerRegistry) -> Result<Self> {
        let value: serde_json::Value = serde_json::from_str(json)?;
        model_from_keras_config(&value, registry)
    }

    fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let (json_path, weights_path) = paths(path.as_ref());
        let json = self.to_json()?;
        let weights = weights_bytes(self)?;
        // Write both temporaries before replacing either file.
        let json_tmp = write_temp(&json_path, json.as_bytes())?;
        let weights_tmp = match write_temp(&weights_path, &weights) {
            Ok(t) => t,
            Err(e) => {
                let _ = fs::remove_file(&json_tmp);
                return Err(e);
            }
        };
        commit(&weights_tmp, &weights_path).inspect_err(|_| {
            let _ = fs::remove_file(&json_tmp);
        })?;
        commit(&json_tmp, &json_path)
    }

    fn from_keras(path: impl AsRef<Path>, weights: Option<&Path>) -> Result<Self> {
        crate::load::load_model(path.as_ref(), weights)
    }

    fn load(path: impl AsRef<Path>) -> Result<Self> {
        Self::load_with(path, &default_registry())
    }

    fn load_with(path: impl AsRef<Path>, registry: &LayerRegistry) -> Result<Self> {
        load_native_with(path.as_ref(), registry, &MemoryBudget::default())
    }

    fn save_keras(&self, path: impl AsRef<Path>) -> Result<()> {
        crate::keras_save::save_keras(self, path.as_ref(), &Default::default())
    }

    fn save_weights_safetensors(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let tmp = write_temp(path, &weights_bytes(self)?)?;
        commit(&tmp, path)
    }

    fn load_weights_safetensors(&self, path: impl AsRef<Path>) -> Result<()> {
        load_weights_safetensors_with(self, path.as_ref(), &MemoryBudget::default())
    }
}

/// [`ModelIo::load_with`] within `budget`: reads `PATH.json` and
/// `PATH.safetensors`, checking every size in the safetensors header
/// (overflow-free, against the file and against `budget`) before reading.
pub fn load_native_with(
    path: &Path,
    registry: &LayerRegistry,
    budget: &MemoryBudget,
) -> Result<Model> {
    load_native_from(path, &|_| registry.clone(), budget)
}

/// [`load_native_with`], the registry made from the model's configuration
/// (the inspection loader describes unknown classes from it).
pub(crate) fn load_native_from(
    path: &Path,
    registry_for: &dyn Fn(&serde_json::Value) -> LayerRegistry,
    budget: &MemoryBudget,
) -> Result<Model> {
    let (json_path, weights_path) = paths(path);
    let bytes = read_file(&json_path, "model file", budget)?;
    let json = String::from_utf8(bytes).map_err(|e| {
        Error::Config(format!(
            "{}: not UTF-8 text (byte {})",
            json_path.display(),
            e.utf8_error().valid_up_to()
        ))
    })?;
    // The weights come from the safetensors file next: none are drawn, and
    // layer sizes are checked against the budget as layers are built.
    let model = serde_json::from_str(&json)
        .map_err(Error::from)
        .and_then(|value: serde_json::Value| {
            let mut ctx = BuildContext::with(WeightInit::Placeholder, *budget);
            model_from_keras_config_with(&value, &registry_for(&value), &mut ctx)
        })
        .map_err(|e| match e {
            Error::Config(message) => Error::Config(format!("{}: {message}", json_path.display())),
            Error::Json(e) => Error::Config(format!("{}: invalid JSON: {e}", json_path.display())),
            other => other,
        })?;
    load_weights_safetensors_with(&model, &weights_path, budget)?;
    Ok(model)
}

/// [`ModelIo::load_weights_safetensors`] within `budget`.
pub fn load_weights_safetensors_with(
    model: &Model,
    path: &Path,
    budget: &MemoryBudget,
) -> Result<()> {
    let bytes = read_file(path, "weights file", budget)?;
    let weights = read_weights(model, &bytes, path, budget)?;
    model.set_weights(&weights)
}

/// Reads every weight of `model` from safetensors bytes held in memory, in
/// [`Model::get_weights`] order, without assigning them; `source` names the
/// bytes in errors. Every size in the header is checked first (see
/// [`load_native_with`]).
pub fn weights_from_safetensors(
    model: &Model,
    bytes: &[u8],
    source: &Path,
    budget: &MemoryBudget,
) -> Result<Vec<ArrayD<f32>>> {
    read_weights(model, bytes, source, budget)
}

/// The largest safetensors header read (the safetensors crate's own limit).
const MAX_HEADER: u64 = 100_000_000;

/// Checks a safetensors file's header against its data before the
/// safetensors crate parses it, so that an error names the tensor that is
/// wrong ("the header" when it is no one tensor's fault): the header length,
/// each tensor's dtype, shape and offsets (overflow-free, inside the data,
/// covering it without gaps or overlaps) and each tensor's size against
/// `budget`.
fn check_safetensors(bytes: &[u8], budget: &MemoryBudget) -> std::result::Result<(), String> {
    let len_field: [u8; 8] = bytes
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            format!(
                "the file has {} bytes; a safetensors file starts with an 8-byte header length",
                bytes.len()
            )
        })?;
    let n = u64::from_le_bytes(len_field);
    let after = bytes.len() as u64 - 8;
    if n > MAX_HEADER {
        return Err(format!(
            "the header claims {n} bytes, more than the {MAX_HEADER} a safetensors header may have"
        ));
    }
    if n > after {
        return Err(format!(
            "the header claims {n} bytes but the file has only {after} after the length: it is truncated"
        ));
    }
    let header_end = 8 + n as usize;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..header_end])
            .map_err(|e| format!("the header is not a JSON object: {e}"))?;
    let data_len = bytes.len() as u64 - header_end as u64;
    let mut spans: Vec<(u64, u64, &str)> = Vec::with_capacity(header.len());
    for (name, entry) in &header {
        if name == "__metadata__" {
            continue;
        }
        let tensor = || format!("tensor '{}'", shown(name));
        let dtype: Dtype = entry
            .get("dtype")
            .cloned()
            .ok_or_else(|| format!("{} has no dtype", tensor()))
            .and_then(|d| {
                serde_json::from_value(d.clone()).map_err(|_| {
                    format!(
                        "{} has an unknown dtype {}",
                        tensor(),
                        shown(&d.to_string())
                    )
                })
            })?;
        let shape: Vec<u64> = entry
            .get("shape")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .ok_or_else(|| format!("{} has no shape of whole numbers", tensor()))?;
        let offsets: [u64; 2] = entry
            .get("data_offsets")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .ok_or_else(|| format!("{} has no data_offsets [begin, end]", tensor()))?;
        let [begin, end] = offsets;
        let bits = MemoryBudget::bytes_for(&tensor(), &shape, dtype.bitsize())
            .map_err(|e| e.to_string().trim_start_matches("config: ").to_string())?;
        if bits % 8 != 0 {
            return Err(format!(
                "{}: shape {} of {dtype} is not a whole number of bytes",
                tensor(),
                format_dims(&shape)
            ));
        }
        let needed = bits / 8;
        if begin > end || end - begin != needed {
            return Err(format!(
                "{}: shape {} of {dtype} needs {needed} bytes, its data_offsets \
                 [{begin}, {end}] disagree",
                tensor(),
                format_dims(&shape)
            ));
        }
        if end > data_len {
            return Err(format!(
                "{}: its data ends at byte {end} of the data, which has only {data_len} bytes                  (the file is truncated or the header lies)",
                tensor()
            ));
        }
        budget
            .check(
                &format!("{} (shape {})", tensor(), format_dims(&shape)),
                needed,
            )
            .map_err(|e| e.to_string().trim_start_matches("config: ").to_string())?;
        spans.push((begin, end, name));
    }
    spans.sort_unstable();
    let mut at = 0u64;
    let mut previous: Option<&str> = None;
    for &(begin, end, name) in &spans {
        if begin != at {
            let kind = if begin < at {
                "overlaps"
            } else {
                "leaves a gap after"
            };
            return Err(match previous {
                Some(p) => format!(
                    "tensor '{}' (bytes {begin}..{end}) {kind} tensor '{}' (ending at byte {at})",
                    shown(name),
                    shown(p)
                ),
                None => format!(
                    "tensor '{}' starts at byte {begin}; the first tensor must start at byte 0",
                    shown(name)
                ),
            });
        }
        at = end;
        previous = Some(name);
    }
    if at != data_len {
        return Err(format!(
            "the header: the tensors cover {at} bytes, but the data after the header has {data_len}"
        ));
    }
    Ok(())
}

/// The first few of `problems`, joined, with a count of the rest.
fn first_problems(problems: &[String]) -> String {
    const SHOWN: usize = 4;
    let mut text = problems
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if problems.len() > SHOWN {
        text.push_str(&format!("; and {} more problems", problems.len() - SHOWN));
    }
    text
}

/// `PATH.json` and `PATH.safetensors`.
fn paths(path: &Path) -> (PathBuf, PathBuf) {
    let base = match path.extension().and_then(|e| e.to_str()) {
        Some("json" | "safetensors") => path.with_extension(""),
        _ => path.to_path_buf(),
    };
    let with = |ext: &str| {
        let mut p = base.clone().into_os_string();
        p.push(ext);
        PathBuf::from(p)
    };
    (with(".json"), with(".safetensors"))
}

fn io_error(path: &Path, e: std::io::Error) -> Error {
    Error::Io(std::io::Error::new(
        e.kind(),
        format!("{}: {e}", path.display()),
    ))
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to a fresh temporary file next to `path` and returns its path.
fn write_temp(path: &Path, bytes: &[u8]) -> Result<PathBuf> {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(
        ".{file_name}.tmp-{}-{}",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let write = || -> std::io::Result<()> {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        io_error(&tmp, e)
    })?;
    Ok(tmp)
}

/// Moves a temporary file over its destination.
fn commit(tmp: &Path, path: &Path) -> Result<()> {
    fs::rename(tmp, path).map_err(|e| {
        let _ = fs::remove_file(tmp);
        io_error(path, e)
    })
}

/// The weights as safetensors bytes, one float32 tensor per weight path.
fn weights_bytes(model: &Model) -> Result<Vec<u8>> {
    let specs = model.weight_specs();
    let values = model.get_weights();
    let mut data: BTreeMap<String, (Vec<usize>, Vec<u8>)> = BTreeMap::new();
    for ((path, shape, _), value) in specs.into_iter().zip(values) {
        let bytes: Vec<u8> = value.iter().flat_map(|v| v.to_le_bytes()).collect();
        if data.insert(path.clone(), (shape, bytes)).is_some() {
            return Err(Error::Config(format!(
                "two weights of model '{}' have the path '{path}'; rename a layer",
                model.name()
            )));
        }
    }
    let views = data
        .iter()
        .map(|(name, (shape, bytes))| {
            TensorView::new(Dtype::F32, shape.clone(), bytes)
                .map(|v| (name.as_str(), v))
                .map_err(|e| Error::Config(format!("weight '{name}': {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let metadata = HashMap::from([(
        "tensorweave_format_version".to_string(),
        FORMAT_VERSION.to_string(),
    )]);
    safetensors::serialize(views, Some(metadata))
        .map_err(|e| Error::Config(format!("cannot write safetensors: {e}")))
}

/// Reads every weight of `model` from safetensors bytes, in `get_weights` order.
fn read_weights(
    model: &Model,
    bytes: &[u8],
    path: &Path,
    budget: &MemoryBudget,
) -> Result<Vec<ArrayD<f32>>> {
    check_safetensors(bytes, budget).map_err(|message| {
        Error::Config(format!(
            "{}: not a valid safetensors file: {message}",
            path.display()
        ))
    })?;
    let file = SafeTensors::deserialize(bytes).map_err(|e| {
        Error::Config(format!(
            "{}: not a valid safetensors file: {e}",
            path.display()
        ))
    })?;
    let named: Vec<(String, Vec<usize>)> = file
        .tensors()
        .into_iter()
        .map(|(name, view)| (name, view.shape().to_vec()))
        .collect();
    crate::described::adopt_named_weights(model, &named);
    let specs = model.weight_specs();
    let mut problems = Vec::new();
    let mut weights = Vec::with_capacity(specs.len());
    for (path, shape, _) in &specs {
        let view = match file.tensor(path) {
            Ok(v) => v,
            Err(_) => {
                problems.push(format!("missing weight '{path}' {}", format_dims(shape)));
                continue;
            }
        };
        if view.dtype() != Dtype::F32 {
            problems.push(format!(
                "weight '{path}' has dtype {:?}; only F32 is supported",
                view.dtype()
            ));
            continue;
        }
        if view.shape() != shape.as_slice() {
            problems.push(format!(
                "weight '{path}' has shape {}, the model needs {}",
                format_dims(view.shape()),
                format_dims(shape)
            ));
            continue;
        }
        let data: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        match ArrayD::from_shape_vec(IxDyn(shape), data) {
            Ok(a) => weights.push(a),
            Err(e) => problems.push(format!("weight '{path}': {e}")),
        }
    }
    let known: std::collections::HashSet<&str> = specs.iter().map(|s| s.0.as_str()).collect();
    let mut extra: Vec<String> = file
        .names()
        .into_iter()
        .filter(|n| !known.contains(n))
        .map(|n| {
            format!(
                "unexpected weight '{}' (the model has no such weight)",
                shown(n)
            )
        })
        .collect();
    extra.sort();
    problems.extend(extra);
    if problems.is_empty() {
        Ok(weights)
    } else {
        Err(Error::Weights {
            layer: model.name().to_string(),
            message: format!("{}: {}", path.display(), first_problems(&problems)),
        })
    }
}
