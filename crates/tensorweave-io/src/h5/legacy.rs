//! Keras 2's HDF5 files (`model.save("m.h5")` from Keras 2.x / tf.keras, and
//! Keras 3's legacy `.h5` writer; `model.save_weights("w.h5")`): weights
//! grouped by layer *name*. A group (`model_weights` in a full-model file,
//! the root in a weights file) lists its layers in the attribute
//! `layer_names`; each layer's group lists its weights, in the layer's own
//! weight order, in `weight_names` (`"lstm/lstm_cell/kernel:0"`), each a
//! dataset at that path under the layer's group. A full-model file also
//! holds the model's configuration as JSON in the root attribute
//! `model_config`.

use ndarray::ArrayD;
use tensorweave_core::{format_dims, Error, Model, Result};

use super::store::H5Store;

/// A string or a list of strings from an attribute, whatever string type
/// h5py wrote it with (fixed-length bytes or variable-length UTF-8).
pub(crate) fn attr_strings(store: &H5Store, group: &str, key: &str) -> Result<Option<Vec<String>>> {
    use hdf5_pure::AttrValue;
    let Some(g) = store.group(group)? else {
        return Ok(None);
    };
    let attrs = g.attrs().map_err(|e| Error::Weights {
        layer: String::new(),
        message: format!("cannot read the attributes of '{group}': {e}"),
    })?;
    Ok(match attrs.get(key) {
        None => None,
        Some(v) => Some(match v {
            AttrValue::String(s)
            | AttrValue::VarLenString(s)
            | AttrValue::AsciiString(s)
            | AttrValue::VarLenAsciiString(s) => {
                vec![s.clone()]
            }
            AttrValue::StringSized { value, .. } | AttrValue::AsciiStringSized { value, .. } => {
                vec![value.clone()]
            }
            AttrValue::StringArray(v) | AttrValue::AsciiStringArray(v) => v.clone(),
            AttrValue::VarLenStringArray(v) | AttrValue::VarLenAsciiStringArray(v) => v.clone(),
            AttrValue::StringArraySized { values, .. }
            | AttrValue::AsciiStringArraySized { values, .. } => values.clone(),
            AttrValue::U8Array(bytes) => vec![String::from_utf8_lossy(bytes).into_owned()],
            // An empty list is written by h5py as an empty float array.
            AttrValue::F64Array(v) if v.is_empty() => Vec::new(),
            AttrValue::F32Array(v) if v.is_empty() => Vec::new(),
            AttrValue::I64Array(v) if v.is_empty() => Vec::new(),
            AttrValue::I32Array(v) if v.is_empty() => Vec::new(),
            other => {
                return Err(Error::Weights {
                    layer: String::new(),
                    message: format!(
                        "the attribute '{key}' of '{group}' is not a string ({other:?})"
                    ),
                })
            }
        }),
    })
}

/// Whether the file's group `group` is a Keras 2 weights group (it lists
/// `layer_names`).
pub(crate) fn is_legacy(store: &H5Store, group: &str) -> Result<bool> {
    Ok(attr_strings(store, group, "layer_names")?.is_some())
}

/// The model configuration of a Keras 2 full-model file, if it has one.
pub(crate) fn model_config(store: &H5Store) -> Result<Option<serde_json::Value>> {
    let Some(text) = attr_strings(store, "", "model_config")? else {
        return Ok(None);
    };
    let text = text.concat();
    let mut config: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        Error::Config(format!(
            "the file's `model_config` attribute is not valid JSON: {e}"
        ))
    })?;
    // The writer's version (a root attribute) says what the configuration's
    // names mean; `to_json` files carry it inside, as here.
    if let (Some(version), Some(map)) = (
        attr_strings(store, "", "keras_version")?,
        config.as_object_mut(),
    ) {
        map.entry("keras_version")
            .or_insert_with(|| serde_json::Value::String(version.concat()));
    }
    Ok(Some(config))
}

/// The weights of `model` read from the Keras 2 group `group`, in
/// [`Model::get_weights`] order: for each layer with weights, in the model's
/// layer order, the arrays its group lists in `weight_names`.
pub(crate) fn legacy_weights(
    model: &Model,
    store: &H5Store,
    group: &str,
) -> Result<Vec<ArrayD<f32>>> {
    let names = attr_strings(store, group, "layer_names")?.unwrap_or_default();
    let mut out = Vec::new();
    let mut used = Vec::new();
    for layer in model.layers() {
        let mut ours: Vec<(String, Vec<usize>)> = Vec::new();
        layer.visit_params(&mut |path, p| ours.push((path.to_string(), p.value.shape().to_vec())));
        if ours.is_empty() {
            continue;
        }
        let name = layer.name().to_string();
        let weights_error = |message: String| Error::Weights {
            layer: name.clone(),
            message,
        };
        if !names.contains(&name) {
            return Err(weights_error(format!(
                "the weights file has no layer '{name}' (it has {}); the file was saved from a \
                 different model",
                names.join(", ")
            )));
        }
        used.push(name.clone());
        let layer_group = if group.is_empty() {
            name.clone()
        } else {
            format!("{group}/{name}")
        };
        let weight_names = attr_strings(store, &layer_group, "weight_names")?.unwrap_or_default();
        if weight_names.len() != ours.len() {
            return Err(weights_error(format!(
                "the weights file holds {} arrays for this {} layer ({}), but it has {} weights; \
                 the file was saved from a different architecture",
                weight_names.len(),
                layer.class_name(),
                weight_names.join(", "),
                ours.len()
            )));
        }
        for (wname, (path, shape)) in weight_names.iter().zip(&ours) {
            let (dir, dataset) = match wname.rsplit_once('/') {
                Some((d, n)) => (format!("{layer_group}/{d}"), n.to_string()),
                None => (layer_group.clone(), wname.clone()),
            };
            let found = store.shape(&dir, &dataset)?;
            if &found != shape {
                return Err(weights_error(format!(
                    "'{dir}/{dataset}' has shape {}, but {path} has shape {}; the file was saved \
                     from a different architecture",
                    format_dims(&found),
                    format_dims(shape)
                )));
            }
            out.push(store.read(&dir, &dataset, shape)?);
        }
    }
    // Layers with weights in the file that the model lacks.
    for n in &names {
        if used.contains(n) {
            continue;
        }
        let g = if group.is_empty() {
            n.clone()
        } else {
            format!("{group}/{n}")
        };
        let listed = attr_strings(store, &g, "weight_names")?.unwrap_or_default();
        if !listed.is_empty() {
            return Err(Error::Weights {
                layer: n.clone(),
                message: format!(
                    "the weights file has {} weights for layer '{n}', which the model does not \
                     have; the file was saved from a different model",
                    listed.len()
                ),
            });
        }
    }
    Ok(out)
}
