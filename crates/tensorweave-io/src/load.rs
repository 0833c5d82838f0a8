//! Opening a model file by its kind: a `.keras` archive, a Keras `to_json`
//! file with a weights file, or a tensorweave model (`.json` + `.safetensors`).
//! Every loader here builds layers without drawing initial weights (they are
//! read from the file next) and within a memory budget.

use std::path::Path;

use tensorweave_core::{BuildContext, Error, MemoryBudget, Model, Result, WeightInit};

use crate::keras_archive::{load_weights_file, read_keras_archive};
use crate::native::ModelIo;
use crate::registry::default_registry;

/// Opens a model file for prediction:
///
/// - `NAME.keras`: a Keras archive (config and weights; `weights` replaces
///   the archive's weights when given);
/// - `NAME.json` with `weights`: a Keras `model.to_json()` file, with weights
///   from a `.weights.h5` or an `.npz` (see [`load_weights_file`]);
/// - `NAME.json` without `weights`: a tensorweave model, its weights in
///   `NAME.safetensors` beside it.
pub fn load_model(path: &Path, weights: Option<&Path>) -> Result<Model> {
    let name = path.to_string_lossy().to_lowercase();
    if name.ends_with(".keras") {
        let archive = read_keras_archive(path)?;
        let model = keras_model(&archive.config)?;
        match weights {
            Some(w) => load_weights_file(&model, w)?,
            None => archive.load_weights_into(&model)?,
        }
        Ok(model)
    } else if name.ends_with(".json") {
        match weights {
            Some(w) => {
                let text = std::fs::read(path).map_err(|e| {
                    Error::Io(std::io::Error::new(
                        e.kind(),
                        format!("cannot read {}: {e}", path.display()),
                    ))
                })?;
                let config: serde_json::Value = serde_json::from_slice(&text).map_err(|e| {
                    Error::Config(format!("{} is not valid JSON: {e}", path.display()))
                })?;
                let model = keras_model(&config)?;
                load_weights_file(&model, w)?;
                Ok(model)
            }
            None if path.with_extension("safetensors").exists() => load_native_model(path),
            None => Err(Error::Config(format!(
                "no weights for {}: pass --weights FILE (.weights.h5 or .npz) for a Keras to_json file, \
                 or put {} beside a tensorweave model",
                path.display(),
                path.with_extension("safetensors").display()
            ))),
        }
    } else if name.ends_with(".h5") || name.ends_with(".hdf5") {
        Err(Error::Config(format!(
            "{} is an HDF5 file: a legacy Keras model (model.save(\"x.h5\")) or a weights file; \
             give the model as .keras (or as to_json .json with --weights FILE.weights.h5)",
            path.display()
        )))
    } else {
        Err(Error::Config(format!(
            "unsupported model file {}: expected a Keras .keras archive or a model .json",
            path.display()
        )))
    }
}

/// Builds a model from a Keras config (`to_json` / `config.json`) with the
/// process-wide layer registry, so registered user layers are found; layers
/// get placeholder weights, which the caller fills from a file.
fn keras_model(config: &serde_json::Value) -> Result<Model> {
    let mut ctx = BuildContext::with(WeightInit::Placeholder, MemoryBudget::default());
    crate::keras_json::model_from_keras_config_with(config, &default_registry(), &mut ctx)
}

/// Loads a tensorweave model JSON with its `NAME.safetensors`.
fn load_native_model(path: &Path) -> Result<Model> {
    <Model as ModelIo>::load(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_model_files_are_named() {
        for (file, needle) in [
            ("m.h5", "legacy Keras model"),
            ("m.onnx", "unsupported model file"),
            ("/nonexistent/m.keras", "cannot open"),
            ("/nonexistent/m.json", "no weights"),
        ] {
            let err = load_model(Path::new(file), None).unwrap_err().to_string();
            assert!(err.contains(needle), "{file}: {err}");
        }
    }
}
