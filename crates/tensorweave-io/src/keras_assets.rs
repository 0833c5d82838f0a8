//! The state Keras keeps outside a layer's configuration and weights, put
//! back into the configuration before the model is built: the vocabulary of
//! an adapted `TextVectorization`, `StringLookup` or `IntegerLookup` (the
//! asset file `assets/<path>/vocabulary.txt` of the `.keras` archive; Keras'
//! `load_assets` reads it with `str.splitlines()` and drops trailing empty
//! lines), and its tf-idf weights (the dataset `<path>/vars/idf_weights` of
//! `model.weights.h5`, Keras' `load_own_variables`).
//!
//! `<path>` is where Keras' saving walks the layer: `layers/<key>` with the
//! key the snake_case class name made unique in the model's layer order
//! (`string_lookup`, `string_lookup_1`, …; ops are not layers), a nested
//! model's layers under its own `layers/`.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value as Json;
use tensorweave_core::{to_snake_case, MemoryBudget, Result};

use crate::h5_weights::layout::{join, python_class, unique_key};
use crate::h5_weights::store::H5Store;
use crate::limits::invalid_data;

/// The classes whose vocabulary is an asset.
const LOOKUP_CLASSES: [&str; 3] = ["TextVectorization", "StringLookup", "IntegerLookup"];

/// Python's `str.splitlines()` without the trailing empty entries.
fn keras_lines(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                lines.push(std::mem::take(&mut current));
            }
            '\n' | '\x0b' | '\x0c' | '\x1c' | '\x1d' | '\x1e' | '\u{85}' | '\u{2028}'
            | '\u{2029}' => lines.push(std::mem::take(&mut current)),
            other => current.push(other),
        }
    }
    if !current.is_empty() {
        lines.push(current);
    }
    while lines.last().is_some_and(String::is_empty) {
        lines.pop();
    }
    lines
}

/// Fills the vocabularies and idf weights of the lookup layers of `config`
/// (a `config.json`) from the archive's `assets` and its weights file.
pub(crate) fn adopt_assets(
    config: &mut Json,
    assets: &BTreeMap<String, Vec<u8>>,
    h5: Option<&[u8]>,
    budget: &MemoryBudget,
) -> Result<()> {
    let store = match h5 {
        Some(bytes) if needs_state(config) => Some(H5Store::from_bytes(bytes.to_vec(), *budget)?),
        _ => None,
    };
    let Some(inner) = config.get_mut("config") else {
        return Ok(());
    };
    walk(inner, "", assets, store.as_ref())
}

/// Whether any lookup layer of the configuration is left for its assets.
fn needs_state(config: &Json) -> bool {
    match config {
        Json::Object(map) => {
            let is_lookup = map
                .get("class_name")
                .and_then(Json::as_str)
                .is_some_and(|c| LOOKUP_CLASSES.contains(&python_class(c)));
            is_lookup || map.values().any(needs_state)
        }
        Json::Array(items) => items.iter().any(needs_state),
        _ => false,
    }
}

/// A model's `config` (with `layers`) whose saved state starts at `prefix`.
fn walk(
    model: &mut Json,
    prefix: &str,
    assets: &BTreeMap<String, Vec<u8>>,
    store: Option<&H5Store>,
) -> Result<()> {
    let Some(Json::Array(layers)) = model.get_mut("layers") else {
        return Ok(());
    };
    let container = join(prefix, "layers");
    let mut used = HashMap::new();
    for entry in layers.iter_mut() {
        let is_op = entry
            .get("module")
            .and_then(Json::as_str)
            .is_some_and(|m| m.starts_with("keras.src.ops"));
        let Some(class) = entry.get("class_name").and_then(Json::as_str) else {
            continue;
        };
        if is_op {
            continue;
        }
        let class = python_class(class).to_string();
        let key = match class.as_str() {
            "Functional" | "Model" => unique_key("functional", &mut used),
            other => unique_key(&to_snake_case(other), &mut used),
        };
        let path = join(&container, &key);
        let Some(layer_config) = entry.get_mut("config") else {
            continue;
        };
        match class.as_str() {
            "Functional" | "Model" | "Sequential" => walk(layer_config, &path, assets, store)?,
            c if LOOKUP_CLASSES.contains(&c) => {
                adopt_layer(layer_config, &class, &path, assets, store)?
            }
            _ => {}
        }
    }
    Ok(())
}

fn adopt_layer(
    config: &mut Json,
    class: &str,
    path: &str,
    assets: &BTreeMap<String, Vec<u8>>,
    store: Option<&H5Store>,
) -> Result<()> {
    let name = config
        .get("name")
        .and_then(Json::as_str)
        .unwrap_or("?")
        .to_string();
    let Some(map) = config.as_object_mut() else {
        return Ok(());
    };
    if map.get("vocabulary").is_none_or(Json::is_null) {
        let file = format!("assets/{path}/vocabulary.txt");
        if let Some(bytes) = assets.get(&file) {
            let text = std::str::from_utf8(bytes).map_err(|e| {
                invalid_data(format!(
                    "{file} (the vocabulary of {class} '{name}') is not UTF-8 text: {e}"
                ))
            })?;
            let lines = keras_lines(text);
            let vocabulary: Vec<Json> = if class == "IntegerLookup" {
                lines
                    .iter()
                    .map(|l| {
                        l.trim().parse::<i64>().map(Json::from).map_err(|_| {
                            invalid_data(format!(
                                "{file} (the vocabulary of IntegerLookup '{name}') holds \
                                 '{l}', not an integer"
                            ))
                        })
                    })
                    .collect::<Result<_>>()?
            } else {
                lines.into_iter().map(Json::from).collect()
            };
            map.insert("vocabulary".into(), Json::Array(vocabulary));
        }
    }
    let tf_idf = map.get("output_mode").and_then(Json::as_str) == Some("tf_idf");
    if tf_idf && map.get("idf_weights").is_none_or(Json::is_null) {
        if let Some(store) = store {
            let group = join(path, "vars");
            let has = store
                .datasets(&group)?
                .is_some_and(|names| names.iter().any(|n| n == "idf_weights"));
            if has {
                let shape = store.shape(&group, "idf_weights")?;
                let weights = store.read(&group, "idf_weights", &shape)?;
                map.insert(
                    "idf_weights".into(),
                    Json::Array(weights.iter().map(|&w| Json::from(w)).collect()),
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::keras_lines;

    #[test]
    fn lines_as_python_splitlines() {
        assert_eq!(keras_lines("a\nb"), ["a", "b"]);
        assert_eq!(keras_lines("\n[UNK]\nx\n\n"), ["", "[UNK]", "x"]);
        assert_eq!(keras_lines("a\r\nb\rc\u{2028}d"), ["a", "b", "c", "d"]);
        assert_eq!(keras_lines(" \n\t"), [" ", "\t"]);
    }
}
