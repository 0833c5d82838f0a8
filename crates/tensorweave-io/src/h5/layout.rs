//! Where Keras 3 puts each weight of a model in its weights file
//! (`keras/src/saving/saving_lib.py`: `_save_state`, `_walk_saveable`,
//! `_save_container_state`), computed from *our* model structure.
//!
//! - A Functional model stores its layers (Keras' `model.layers`: ops are not
//!   layers) under `<path>/layers/<key>`, where `<key>` is the snake_case Python
//!   class name made unique by position: `dense`, `dense_1`, … — not the layer
//!   name. A layer met a second time (shared between nested models) is stored
//!   only where it was met first, but still takes its key.
//! - Every saveable's own variables are datasets `<path>/vars/0`, `1`, …:
//!   trainable ones first, then non-trainable ones (`Layer::params` order);
//!   its sublayers follow under their attribute (`Layer::sublayers`): a
//!   recurrent layer's cell at `<path>/cell`, a `Bidirectional`'s directions
//!   at `<path>/forward_layer` and `<path>/backward_layer`, a
//!   `TimeDistributed`'s inner layer at `<path>/layer` (a nested model there
//!   has its own `layers/…`).

use std::collections::HashMap;
use tensorweave_core::format_dims;

use tensorweave_core::{to_snake_case, Error, FunctionalLayer, Graph, LayerRef, Result};

use super::store::H5Store;
use crate::described::DescribedLayer;

/// One weight of the model and the dataset that holds it.
#[derive(Debug, Clone)]
pub(crate) struct Slot {
    /// Our weight path, e.g. `bidirectional/forward_lstm/lstm_cell/kernel`.
    pub weight: String,
    /// The `vars` group in the file, e.g. `layers/bidirectional/forward_layer/cell/vars`.
    pub group: String,
    /// The dataset name inside the group (`0`, `1`, …).
    pub dataset: String,
    /// The shape, equal in the model and in the file.
    pub shape: Vec<usize>,
}

/// The Python class name behind a Keras class name: registered user classes
/// are named `package>ClassName`.
pub(crate) fn python_class(class_name: &str) -> &str {
    class_name.rsplit('>').next().unwrap_or(class_name)
}

/// Keras' `_get_unique_name`: `key`, then `key_1`, `key_2`, …
pub(crate) fn unique_key(key: &str, used: &mut HashMap<String, usize>) -> String {
    match used.get_mut(key) {
        Some(n) => {
            *n += 1;
            format!("{key}_{n}")
        }
        None => {
            used.insert(key.to_string(), 0);
            key.to_string()
        }
    }
}

pub(crate) fn join(a: &str, b: &str) -> String {
    if a.is_empty() {
        b.to_string()
    } else {
        format!("{a}/{b}")
    }
}

fn describe(params: &[(String, Vec<usize>)]) -> String {
    params
        .iter()
        .map(|(p, s)| format!("{} {}", p.rsplit('/').next().unwrap_or(p), format_dims(s)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Computes the dataset of every weight of a model, checking that the file has
/// exactly those datasets with those shapes. Reads no array data.
pub(crate) struct Planner<'a> {
    store: &'a H5Store,
    /// Layers already planned: our path where they were met, and their slots.
    visited: HashMap<u64, (String, Vec<Slot>)>,
    slots: Vec<Slot>,
}

impl<'a> Planner<'a> {
    pub(crate) fn new(store: &'a H5Store) -> Self {
        Planner {
            store,
            visited: HashMap::new(),
            slots: Vec::new(),
        }
    }

    /// The slots found so far, in the model's `get_weights()` order.
    pub(crate) fn into_slots(self) -> Vec<Slot> {
        self.slots
    }

    /// Plans a Functional model whose groups start at `h5` (`""` for the file's root).
    pub(crate) fn functional(&mut self, graph: &Graph, h5: &str, ours: &str) -> Result<()> {
        let container = join(h5, "layers");
        let mut used = HashMap::new();
        let mut keys = Vec::new();
        for layer in graph.ordered_layers() {
            if layer.read().is_op() {
                continue;
            }
            let key = self.container_key(layer, &container, &mut used)?;
            let ours_path = join(ours, layer.name());
            if let Some((first_path, previous)) = self.visited.get(&layer.id()) {
                // Saved once, where Keras met it first; our weight paths name
                // the place it is met now.
                let replayed: Vec<Slot> = previous
                    .iter()
                    .map(|slot| Slot {
                        weight: format!(
                            "{ours_path}{}",
                            slot.weight.get(first_path.len()..).unwrap_or_default()
                        ),
                        ..slot.clone()
                    })
                    .collect();
                self.slots.extend(replayed);
            } else {
                self.layer(layer, &join(&container, &key), &ours_path)?;
            }
            keys.push(key);
        }
        self.check_no_extra_layers(&container, &keys)
    }

    /// The key of `layer` in a `layers` container. A nested model is a
    /// `Functional` for us but may have been a `Sequential` in Keras (a
    /// different key): the file decides, by which group exists.
    fn container_key(
        &self,
        layer: &LayerRef,
        container: &str,
        used: &mut HashMap<String, usize>,
    ) -> Result<String> {
        let class = python_class(layer.class_name());
        if class == "Functional" || class == "Sequential" {
            let mut trial = used.clone();
            let as_functional = unique_key("functional", &mut trial);
            let mut trial = used.clone();
            let as_sequential = unique_key("sequential", &mut trial);
            let children = self.store.child_groups(container)?;
            let has = |k: &str| children.iter().any(|c| c == k);
            let pick = if has(&as_functional) && has(&as_sequential) {
                // Both exist: the saved name tells which one this model is.
                let seq_name = self
                    .store
                    .saved_name(&join(&join(container, &as_sequential), "vars"));
                if seq_name.as_deref() == Some(layer.name()) {
                    "sequential"
                } else {
                    "functional"
                }
            } else if has(&as_sequential) {
                "sequential"
            } else {
                "functional"
            };
            return Ok(unique_key(pick, used));
        }
        Ok(unique_key(&to_snake_case(class), used))
    }

    /// Fails when a `layers` container of the file holds layers with weights that
    /// the model does not have (weights saved from another architecture).
    fn check_no_extra_layers(&self, container: &str, keys: &[String]) -> Result<()> {
        let mut extra = Vec::new();
        for child in self.store.child_groups(container)? {
            if keys.contains(&child) {
                continue;
            }
            let path = join(container, &child);
            let sub = self.store.child_groups(&path)?;
            let vars = self
                .store
                .datasets(&join(&path, "vars"))?
                .unwrap_or_default();
            if !vars.is_empty() || sub.iter().any(|s| s != "vars") {
                extra.push(path);
            }
        }
        if extra.is_empty() {
            return Ok(());
        }
        Err(Error::Weights {
            layer: container.to_string(),
            message: format!(
                "the weights file has layers that the model does not have: {}; \
                 the file was saved from a different architecture",
                extra.join(", ")
            ),
        })
    }

    /// Plans one layer of a `layers` container, stored at `h5`.
    fn layer(&mut self, layer: &LayerRef, h5: &str, ours: &str) -> Result<()> {
        let start = self.slots.len();
        self.saveable(layer, layer, h5, ours)?;
        let planned = self.slots[start..].to_vec();
        self.visited.insert(layer.id(), (ours.to_string(), planned));
        Ok(())
    }

    /// Plans `layer` at `h5` as Keras' `_save_state` walks it: a model's
    /// `layers`, or the layer's own variables in `vars` followed by each
    /// sublayer under its attribute (`cell`, `forward_layer`, `layer`, …).
    /// Errors name `report`, the layer of the model being loaded.
    fn saveable(
        &mut self,
        report: &LayerRef,
        layer: &LayerRef,
        h5: &str,
        ours: &str,
    ) -> Result<()> {
        let guard = layer.read();
        if let Some(f) = guard.as_any().downcast_ref::<FunctionalLayer>() {
            return self.functional(f.graph(), h5, ours);
        }
        let describe_from_file = guard
            .as_any()
            .downcast_ref::<DescribedLayer>()
            .is_some_and(DescribedLayer::has_no_weights);
        drop(guard);
        if describe_from_file {
            self.adopt_shapes(layer, &join(h5, "vars"))?;
        }
        let guard = layer.read();
        let own: Vec<(String, Vec<usize>)> = guard
            .params()
            .iter()
            .map(|p| (join(ours, &p.name), p.value.shape().to_vec()))
            .collect();
        let subs = guard.sublayers();
        drop(guard);
        self.vars(report, &join(h5, "vars"), own)?;
        for sub in subs {
            let inner = join(ours, sub.layer.name());
            self.saveable(report, &sub.layer, &join(h5, sub.attribute), &inner)?;
        }
        Ok(())
    }

    /// Gives a layer known only by its description the weights `group` holds.
    fn adopt_shapes(&mut self, layer: &LayerRef, group: &str) -> Result<()> {
        let Some(names) = self.store.datasets(group)? else {
            return Ok(());
        };
        let shapes = (0..names.len())
            .map(|i| self.store.shape(group, &i.to_string()))
            .collect::<Result<Vec<_>>>()?;
        if let Some(described) = layer.write().as_any_mut().downcast_mut::<DescribedLayer>() {
            described.adopt_weight_shapes(&shapes);
        }
        Ok(())
    }

    /// Plans the weights `params` of `layer`, stored as `group/0`, `group/1`, ….
    fn vars(
        &mut self,
        layer: &LayerRef,
        group: &str,
        params: Vec<(String, Vec<usize>)>,
    ) -> Result<()> {
        let weights_error = |message: String| Error::Weights {
            layer: layer.name().to_string(),
            message,
        };
        // Keras numbers a layer's variables; a named dataset is state a layer
        // saves itself (a lookup's `idf_weights`), read with its configuration.
        let names = match self.store.datasets(group)? {
            Some(names) => names
                .into_iter()
                .filter(|n| n.parse::<usize>().is_ok())
                .collect::<Vec<_>>(),
            None if params.is_empty() => return Ok(()),
            None => {
                return Err(weights_error(format!(
                    "the weights file has no group '{group}' for this {} layer, which has {} weights ({}); \
                     the file was saved from a different architecture",
                    layer.class_name(),
                    params.len(),
                    describe(&params)
                )))
            }
        };
        if names.len() != params.len() {
            return Err(weights_error(format!(
                "'{group}' in the weights file holds {} arrays, but this {} layer has {} weights ({}); \
                 the file was saved from a different architecture",
                names.len(),
                layer.class_name(),
                params.len(),
                describe(&params)
            )));
        }
        for (i, (weight, shape)) in params.into_iter().enumerate() {
            let dataset = i.to_string();
            if !names.contains(&dataset) {
                return Err(weights_error(format!(
                    "'{group}' in the weights file has no array '{dataset}' (it has {}); expected {weight} {}",
                    names.join(", "),
                    format_dims(&shape)
                )));
            }
            let found = self.store.shape(group, &dataset)?;
            if found != shape {
                return Err(weights_error(format!(
                    "'{group}/{dataset}' in the weights file has shape {}, but {weight} has shape {}; \
                     the file was saved from a different architecture",
                    format_dims(&found),
                    format_dims(&shape)
                )));
            }
            self.slots.push(Slot {
                weight,
                group: group.to_string(),
                dataset,
                shape,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected values from Keras' own function:
    /// `keras.src.utils.naming.to_snake_case(n)` for each name (Keras 3.15.1).
    #[test]
    fn snake_case_follows_keras() {
        let cases = [
            ("Dense", "dense"),
            ("LSTM", "lstm"),
            ("GRU", "gru"),
            ("SimpleRNN", "simple_rnn"),
            ("Conv1D", "conv1d"),
            ("GlobalMaxPooling1D", "global_max_pooling1d"),
            ("GlobalAveragePooling1D", "global_average_pooling1d"),
            ("InputLayer", "input_layer"),
            ("BatchNormalization", "batch_normalization"),
            ("TimeDistributed", "time_distributed"),
            ("AttLayer", "att_layer"),
            ("Functional", "functional"),
            ("PReLU", "p_re_lu"),
            ("ConvLSTM2D", "conv_lstm2d"),
            ("MultiHeadAttention", "multi_head_attention"),
            ("ABCLayer", "abc_layer"),
            ("My-Layer", "my_layer"),
        ];
        for (name, expected) in cases {
            assert_eq!(to_snake_case(name), expected, "{name}");
        }
    }

    #[test]
    fn unique_keys_count_per_key() {
        let mut used = HashMap::new();
        let keys: Vec<String> = ["dense", "lstm", "dense", "dense"]
            .iter()
            .map(|k| unique_key(k, &mut used))
            .collect();
        assert_eq!(keys, ["dense", "lstm", "dense_1", "dense_2"]);
    }

    #[test]
    fn registered_class_names_lose_their_package() {
        assert_eq!(python_class("textclf>AttLayer"), "AttLayer");
        assert_eq!(python_class("Dense"), "Dense");
    }
}
