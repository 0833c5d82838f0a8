//! Writing a model as a Keras 3 `.keras` archive that Keras' `load_model`
//! opens: `config.json` (the model's Keras config, with a `compile_config`
//! when the model was trained), `metadata.json` and `model.weights.h5` laid
//! out as Keras' `saving_lib` lays it out (`layers/<key>/vars/<i>`, keys from
//! the Python class names made unique by position, a layer shared between
//! nested models written where it is met first, a `vars` group with the
//! saved `name` for every saveable, the optimizer's variables at
//! `optimizer/vars/<i>` in Keras' order).
//!
//! The tree is checked against the archives Keras itself wrote after `fit`
//! (`tests/keras_save.rs`).

use std::collections::{HashMap, HashSet};
use std::path::Path;

use ndarray::ArrayD;
use serde_json::{json, Value as Json};
use tensorweave_core::{to_snake_case, FunctionalLayer, Graph, LayerRef, Model, Result};

use crate::h5_weights::layout::{join, python_class, unique_key};
use crate::h5_weights::writer::{keras_archive_bytes, write_keras_archive, H5Writer};
use crate::keras_json::model_to_keras_config;

/// The Keras version written into `metadata.json`: the version whose
/// formats this crate reproduces.
pub const KERAS_VERSION: &str = "3.15.1";

/// One of the optimizer's variables as Keras saves it.
#[derive(Debug, Clone, PartialEq)]
pub enum SavedVariable {
    /// The step counter (`iteration`, int64).
    Int64(i64),
    /// A float32 variable (learning rate, slot, …).
    Float32(ArrayD<f32>),
}

/// What a trained model saves besides itself.
#[derive(Debug, Clone, Default)]
pub struct TrainingState {
    /// Keras' `compile_config` (optimizer, loss, metrics, …).
    pub compile_config: Option<Json>,
    /// The optimizer's name (the `name` of `optimizer/vars`) and its
    /// variables in Keras' order.
    pub optimizer: Option<(String, Vec<SavedVariable>)>,
}

/// The three files of the archive: `config.json`, `metadata.json` and
/// `model.weights.h5`.
fn archive_parts(model: &Model, state: &TrainingState) -> Result<(String, String, Vec<u8>)> {
    let mut config = model_to_keras_config(model)?;
    if let Json::Object(map) = &mut config {
        map.remove(crate::keras_json::FORMAT_VERSION_KEY);
        if let Some(compile) = &state.compile_config {
            map.insert("compile_config".into(), compile.clone());
        }
    }
    let metadata = json!({ "keras_version": KERAS_VERSION, "date_saved": date_saved() });
    let mut h5 = H5Writer::new();
    let mut seen = HashSet::new();
    write_functional(&mut h5, model.graph(), "", &mut seen)?;
    h5.write_vars("", model.name(), &[])?;
    if let Some((name, vars)) = &state.optimizer {
        h5.write_vars("optimizer", name, &[])?;
        for (i, v) in vars.iter().enumerate() {
            let path = format!("optimizer/vars/{i}");
            match v {
                SavedVariable::Int64(n) => h5.write_i64_scalar(&path, *n)?,
                SavedVariable::Float32(a) => h5.write_array(&path, &a.view())?,
            }
        }
    }
    Ok((
        serde_json::to_string(&config)?,
        serde_json::to_string(&metadata)?,
        h5.to_bytes()?,
    ))
}

/// The archive's bytes.
pub fn keras_bytes(model: &Model, state: &TrainingState) -> Result<Vec<u8>> {
    let (config, metadata, weights) = archive_parts(model, state)?;
    keras_archive_bytes(&config, &metadata, &weights)
}

/// Writes the archive to `path` (through a temporary file renamed over it,
/// so a failed save leaves an existing file intact).
pub fn save_keras(model: &Model, path: &Path, state: &TrainingState) -> Result<()> {
    let (config, metadata, weights) = archive_parts(model, state)?;
    write_keras_archive(path, &config, &metadata, &weights)
}

/// Keras' `date_saved`, `YYYY-MM-DD@HH:MM:SS` in UTC.
fn date_saved() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}@{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A Functional model's layers under `<prefix>/layers/<key>`.
fn write_functional(
    h5: &mut H5Writer,
    graph: &Graph,
    prefix: &str,
    seen: &mut HashSet<u64>,
) -> Result<()> {
    let container = join(prefix, "layers");
    let mut used = HashMap::new();
    for layer in graph.ordered_layers() {
        if layer.read().is_op() {
            continue;
        }
        let class = python_class(layer.class_name());
        let key = if class == "Sequential" || class == "Functional" {
            unique_key("functional", &mut used)
        } else {
            unique_key(&to_snake_case(class), &mut used)
        };
        if seen.insert(layer.id()) {
            write_saveable(h5, layer, &join(&container, &key), seen)?;
        }
    }
    Ok(())
}

/// The idf weights a lookup layer in `tf_idf` mode saves as its own
/// variable (`vars/idf_weights`), from its configuration.
fn lookup_idf_weights(class: &str, config: &serde_json::Value) -> Option<Vec<f32>> {
    if !matches!(
        class,
        "TextVectorization" | "StringLookup" | "IntegerLookup"
    ) || config
        .get("output_mode")
        .and_then(serde_json::Value::as_str)
        != Some("tf_idf")
    {
        return None;
    }
    config
        .get("idf_weights")?
        .as_array()?
        .iter()
        .map(|w| w.as_f64().map(|w| w as f32))
        .collect()
}

/// One saveable at `path`: a nested model's layers and its `vars`, or the
/// layer's own variables (trainable first) then each sublayer under its
/// attribute.
fn write_saveable(
    h5: &mut H5Writer,
    layer: &LayerRef,
    path: &str,
    seen: &mut HashSet<u64>,
) -> Result<()> {
    let guard = layer.read();
    if let Some(f) = guard.as_any().downcast_ref::<FunctionalLayer>() {
        write_functional(h5, f.graph(), path, seen)?;
        return h5.write_vars(path, layer.name(), &[]);
    }
    let params: Vec<ArrayD<f32>> = guard.params().iter().map(|p| p.value.clone()).collect();
    let subs = guard.sublayers();
    let idf = lookup_idf_weights(guard.class_name(), &guard.config());
    let is_text_vectorization = guard.class_name() == "TextVectorization";
    drop(guard);
    let views: Vec<_> = params.iter().map(|p| p.view()).collect();
    h5.write_vars(path, layer.name(), &views)?;
    if let Some(idf) = idf {
        // Keras' lookups save their tf-idf weights themselves, by name; a
        // TextVectorization's inner StringLookup loads them too.
        h5.write_f32(&format!("{}/vars/idf_weights", path), &[idf.len()], &idf)?;
        if is_text_vectorization {
            let inner = join(path, "_lookup_layer");
            h5.write_vars(&inner, "string_lookup", &[])?;
            h5.write_f32(&format!("{inner}/vars/idf_weights"), &[idf.len()], &idf)?;
        }
    }
    for sub in subs {
        write_saveable(h5, &sub.layer, &join(path, sub.attribute), seen)?;
    }
    Ok(())
}
