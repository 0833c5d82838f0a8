//! Opening a model file by its kind: a `.keras` archive, a Keras `to_json`
//! file with a weights file, or a tensorweave model (`.json` + `.safetensors`).
//! Every loader here builds layers without drawing initial weights (they are
//! read from the file next) and within a memory budget.

use std::path::Path;

use tensorweave_core::registry::truncate;
use tensorweave_core::{BuildContext, Error, MemoryBudget, Model, Result, WeightInit};

use crate::described::{described_layers, describing_registry};
use crate::keras_archive::{load_weights_file_with, read_keras_archive_with};
use crate::limits::{invalid_data, read_file};
use crate::registry::{default_registry, LayerRegistry};

/// Opens a model file for prediction within the default [`MemoryBudget`]
/// (see [`load_model_with`]).
pub fn load_model(path: &Path, weights: Option<&Path>) -> Result<Model> {
    load_model_with(path, weights, &MemoryBudget::default())
}

/// Opens a model file for prediction:
///
/// - `NAME.keras`: a Keras archive (config and weights; `weights` replaces
///   the archive's weights when given);
/// - `NAME.json` with `weights`: a Keras `model.to_json()` file, with weights
///   from a `.weights.h5` or an `.npz` (see
///   [`crate::keras_archive::load_weights_file`]);
/// - `NAME.json` without `weights`: a tensorweave model, its weights in
///   `NAME.safetensors` beside it.
///
/// Every size read from the files (zip members, HDF5 datasets, safetensors
/// and `.npy` headers, layer sizes) is checked against `budget` before
/// memory is reserved for it.
pub fn load_model_with(
    path: &Path,
    weights: Option<&Path>,
    budget: &MemoryBudget,
) -> Result<Model> {
    open(path, weights, budget, Registry::Registered)
}

/// Opens a model file to summarize or draw it, like [`load_model_with`],
/// except that a layer class with no registered constructor (a user-defined
/// layer, or a Keras op tensorweave does not implement) is rebuilt from what
/// the files record: its output shapes from the configuration, its weights
/// from the weights file (`.keras` and `.weights.h5`; see
/// [`crate::described`]). Such layers cannot run: `predict` on the model
/// fails naming them. [`crate::described::described_layers`] lists them.
pub fn inspect_model_with(
    path: &Path,
    weights: Option<&Path>,
    budget: &MemoryBudget,
) -> Result<Model> {
    open(path, weights, budget, Registry::Describing)
}

/// Which constructors a loader uses for the classes it meets.
#[derive(Clone, Copy)]
enum Registry {
    /// The process-wide registry: unknown classes are errors.
    Registered,
    /// The process-wide registry, unknown classes described from the file.
    Describing,
}

impl Registry {
    fn for_config(self, config: &serde_json::Value) -> LayerRegistry {
        match self {
            Registry::Registered => default_registry(),
            Registry::Describing => describing_registry(&default_registry(), config),
        }
    }
}

fn open(
    path: &Path,
    weights: Option<&Path>,
    budget: &MemoryBudget,
    registry: Registry,
) -> Result<Model> {
    let name = path.to_string_lossy().to_lowercase();
    if name.ends_with(".keras") {
        let archive = read_keras_archive_with(path, budget)?;
        let model = keras_model(&archive.config_with_assets(budget)?, budget, registry)?;
        match weights {
            Some(w) => weights_file(&model, w, budget)?,
            None => archive.load_weights_into_with(&model, budget)?,
        }
        // A model saved compiled with its optimizer built: Keras' summary
        // counts the optimizer's variables.
        if let crate::keras_archive::KerasWeights::H5(h5) = &archive.weights {
            model.set_optimizer_size(crate::h5_weights::optimizer_size(h5, budget)?);
        }
        Ok(model)
    } else if name.ends_with(".json") {
        match weights {
            Some(w) => {
                let text = read_file(path, "model file", budget)?;
                let config: serde_json::Value = serde_json::from_slice(&text).map_err(|e| {
                    invalid_data(format!("{} is not valid JSON: {e}", path.display()))
                })?;
                let model = keras_model(&config, budget, registry)?;
                weights_file(&model, w, budget)?;
                Ok(model)
            }
            None if path.with_extension("safetensors").exists() => {
                crate::native::load_native_from(
                    path,
                    &|config| registry.for_config(config),
                    budget,
                )
            }
            None => Err(Error::Config(format!(
                "no weights for {}: pass --weights FILE (.weights.h5 or .npz) for a Keras to_json file, \
                 or put {} beside a tensorweave model",
                path.display(),
                path.with_extension("safetensors").display()
            ))),
        }
    } else if name.ends_with(".h5") || name.ends_with(".hdf5") {
        // Keras 2's full-model file: the configuration in `model_config`,
        // the weights by layer name in `model_weights`.
        let bytes = read_file(path, "model file", budget)?;
        let Some(config) = crate::h5_weights::legacy_model_config(&bytes, budget)? else {
            return Err(Error::Config(format!(
                "{} is an HDF5 file without a model configuration (a weights file from \
                 save_weights); give the model's to_json .json with --weights {}",
                path.display(),
                path.display()
            )));
        };
        let model = keras_model(&config, budget, registry)?;
        match weights {
            Some(w) => weights_file(&model, w, budget)?,
            None => crate::h5_weights::load_legacy_h5_weights(&model, &bytes, budget)?,
        }
        Ok(model)
    } else {
        Err(Error::Config(format!(
            "unsupported model file {}: expected a Keras .keras archive or a model .json",
            path.display()
        )))
    }
}

/// Reads a weights file into `model`; an `.npz` (weights by position) cannot
/// say which arrays belong to a layer known only by its description.
fn weights_file(model: &Model, path: &Path, budget: &MemoryBudget) -> Result<()> {
    let loaded = load_weights_file_with(model, path, budget);
    let is_npz = path.to_string_lossy().to_lowercase().ends_with(".npz");
    let described = described_layers(model);
    match loaded {
        Err(Error::Weights { .. }) if is_npz && !described.is_empty() => {
            let names: Vec<String> = described
                .iter()
                .map(|d| {
                    format!(
                        "'{}' ({})",
                        truncate(d.layer.name(), 80),
                        truncate(d.layer.class_name(), 80)
                    )
                })
                .collect();
            Err(Error::Config(format!(
                "{} lists weights by position, which does not say which of them belong to {}, \
                 known only from the model file; give the weights as a .weights.h5 file or \
                 load the .keras archive",
                path.display(),
                names.join(", ")
            )))
        }
        other => other,
    }
}

/// Builds a model from a Keras config (`to_json` / `config.json`) with the
/// process-wide layer registry, so registered user layers are found; layers
/// get placeholder weights, which the caller fills from a file.
fn keras_model(
    config: &serde_json::Value,
    budget: &MemoryBudget,
    registry: Registry,
) -> Result<Model> {
    let mut ctx = BuildContext::with(WeightInit::Placeholder, *budget);
    crate::keras_json::model_from_keras_config_with(config, &registry.for_config(config), &mut ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_model_files_are_named() {
        for (file, needle) in [
            ("/nonexistent/m.h5", "does not exist"),
            ("m.onnx", "unsupported model file"),
            ("/nonexistent/m.keras", "does not exist"),
            ("/nonexistent/m.json", "no weights"),
        ] {
            let err = load_model(Path::new(file), None).unwrap_err().to_string();
            assert!(err.contains(needle), "{file}: {err}");
        }
    }
}
