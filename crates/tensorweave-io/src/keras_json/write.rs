//! Models to Keras functional configs.

use std::collections::HashMap;

use serde_json::{json, Map, Value};
use tensorweave_core::{DType, FunctionalLayer, Graph, LayerRef, Model, Tensor};
use tensorweave_layers::ops::NotEqual;
use tensorweave_layers::time_distributed::TimeDistributedLayer;

use super::{FORMAT_VERSION, FORMAT_VERSION_KEY, MASKS_KEY};
use crate::registry::{default_registry, LayerRegistry, BUILTIN_LAYERS};

const FUNCTIONAL_MODULE: &str = "keras.src.models.functional";
const OPS_MODULE: &str = "keras.src.ops.numpy";

/// The model as Keras' `model.to_json()` object, plus
/// `"tensorweave_format_version"`. User layers are written with the
/// `registered_name` they have in the default registry (see
/// [`crate::registry::register_layer`]).
pub fn model_to_keras_config(model: &Model) -> Value {
    model_to_keras_config_with(model, &default_registry())
}

/// [`model_to_keras_config`], taking the registered names of user layers from
/// `registry`.
pub fn model_to_keras_config_with(model: &Model, registry: &LayerRegistry) -> Value {
    let writer = Writer { registry };
    let mut top = Map::new();
    top.insert("module".into(), FUNCTIONAL_MODULE.into());
    top.insert("class_name".into(), "Functional".into());
    top.insert(
        "config".into(),
        writer.functional_config(model.graph(), model.name()),
    );
    top.insert("registered_name".into(), "Functional".into());
    top.insert("build_config".into(), json!({ "input_shape": null }));
    top.insert(FORMAT_VERSION_KEY.into(), FORMAT_VERSION.into());
    Value::Object(top)
}

struct Writer<'a> {
    registry: &'a LayerRegistry,
}

/// `[layer, node_index, tensor_index]` with node indices counted in one graph.
struct Indexer {
    node_index: HashMap<u64, usize>,
}

impl Indexer {
    fn new(graph: &Graph) -> Self {
        Indexer {
            node_index: graph
                .dag
                .node_weights()
                .map(|n| (n.node.id(), n.node_index))
                .collect(),
        }
    }

    fn history(&self, t: &Tensor) -> Value {
        let node = self.node_index.get(&t.node().id()).copied().unwrap_or(0);
        json!([t.layer().name(), node, t.output_index()])
    }

    fn keras_tensor(&self, t: &Tensor) -> Value {
        json!({
            "class_name": "__keras_tensor__",
            "config": {
                "shape": t.shape(),
                "dtype": t.dtype().keras_name(),
                "keras_history": self.history(t),
            }
        })
    }
}

fn is_functional(layer: &LayerRef) -> bool {
    layer.read().as_any().is::<FunctionalLayer>()
}

impl Writer<'_> {
    /// `{"name", "trainable", "layers", "input_layers", "output_layers"}`.
    fn functional_config(&self, graph: &Graph, name: &str) -> Value {
        let indexer = Indexer::new(graph);
        let layers: Vec<Value> = graph
            .layer_order
            .iter()
            .filter_map(|&id| {
                let layer = graph.layers.get(id)?;
                Some(self.layer_entry(graph, &indexer, id, layer))
            })
            .collect();
        let endpoint = |t: &Tensor| {
            let mut h = indexer.history(t);
            // Keras numbers a nested Functional's calls from 1 here.
            if is_functional(t.layer()) {
                if let Some(n) = h.get_mut(1) {
                    *n = json!(n.as_u64().unwrap_or(0) + 1);
                }
            }
            h
        };
        let structure = |tensors: &[Tensor]| match tensors {
            [one] => endpoint(one),
            many => Value::Array(many.iter().map(endpoint).collect()),
        };
        let mut config = Map::new();
        config.insert("name".into(), name.into());
        config.insert("trainable".into(), true.into());
        config.insert("layers".into(), Value::Array(layers));
        config.insert("input_layers".into(), structure(&graph.inputs));
        config.insert("output_layers".into(), structure(&graph.outputs));
        Value::Object(config)
    }

    /// One entry of `layers`: the layer object, `build_config`, `name`, `inbound_nodes`.
    fn layer_entry(
        &self,
        graph: &Graph,
        indexer: &Indexer,
        id: tensorweave_core::LayerId,
        layer: &LayerRef,
    ) -> Value {
        let nodes = graph.nodes_of(id);
        let mut entry = self.layer_object(layer);
        let is_op = layer.read().is_op();
        if !is_op && layer.class_name() != "InputLayer" {
            let build = if is_functional(layer) {
                json!({ "input_shape": null })
            } else {
                let shape = nodes.first().map(|&ix| {
                    let node = &graph.dag[ix].node;
                    match node.inputs() {
                        [one] if !node.list_input() => json!(one.shape()),
                        many => Value::Array(many.iter().map(|t| json!(t.shape())).collect()),
                    }
                });
                json!({ "input_shape": shape })
            };
            entry.insert("build_config".into(), build);
        }
        entry.insert("name".into(), layer.name().into());
        let inbound: Vec<Value> = nodes
            .iter()
            .filter(|&&ix| !graph.dag[ix].node.inputs().is_empty())
            .map(|&ix| self.node_entry(indexer, layer, &graph.dag[ix].node))
            .collect();
        entry.insert("inbound_nodes".into(), Value::Array(inbound));
        Value::Object(entry)
    }

    /// `{"args", "kwargs"}` of one call, plus the list-input masks.
    fn node_entry(
        &self,
        indexer: &Indexer,
        layer: &LayerRef,
        node: &tensorweave_core::Node,
    ) -> Value {
        let (uses_mask, is_op, not_equal) = {
            let guard = layer.read();
            (
                guard.uses_mask(),
                guard.is_op(),
                guard.as_any().downcast_ref::<NotEqual>().map(|op| op.value),
            )
        };
        // Keras' ops take their tensors as separate arguments (`logical_or(x1, x2)`),
        // except `concatenate(xs)`; layers as they were called.
        let list_form = if is_op {
            layer.class_name() == "Concatenate"
        } else {
            node.list_input()
        };
        let tensors: Vec<Value> = node
            .inputs()
            .iter()
            .map(|t| indexer.keras_tensor(t))
            .collect();
        let mut args = if list_form {
            vec![Value::Array(tensors)]
        } else {
            tensors
        };
        if let Some(value) = not_equal {
            let float_input = node
                .inputs()
                .first()
                .is_some_and(|t| t.dtype() == DType::F32);
            args.push(scalar(value, float_input));
        }
        let masks: Vec<Value> = node
            .masks()
            .iter()
            .map(|m| m.as_ref().map_or(Value::Null, |t| indexer.keras_tensor(t)))
            .collect();
        let mut kwargs = Map::new();
        let mut entry = Map::new();
        if !list_form && masks.len() == 1 {
            if uses_mask {
                kwargs.insert(
                    "mask".into(),
                    masks.into_iter().next().unwrap_or(Value::Null),
                );
            }
        } else if masks.iter().any(|m| !m.is_null()) {
            entry.insert(MASKS_KEY.into(), Value::Array(masks));
        }
        let mut out = Map::new();
        out.insert("args".into(), Value::Array(args));
        out.insert("kwargs".into(), Value::Object(kwargs));
        out.extend(entry);
        Value::Object(out)
    }

    /// `{"module", "class_name", "config", "registered_name"}` of a layer.
    fn layer_object(&self, layer: &LayerRef) -> Map<String, Value> {
        let class = layer.class_name().to_string();
        let (module, config, registered) = {
            let guard = layer.read();
            if let Some(f) = guard.as_any().downcast_ref::<FunctionalLayer>() {
                (
                    Value::from(FUNCTIONAL_MODULE),
                    self.functional_config(f.graph(), layer.name()),
                    Value::from("Functional"),
                )
            } else if guard.is_op() {
                let mut config = Map::new();
                config.insert("name".into(), layer.name().into());
                if let Value::Object(rest) = guard.config() {
                    config.extend(rest.into_iter().filter(|(k, _)| k != "name"));
                }
                (
                    Value::from(OPS_MODULE),
                    Value::Object(config),
                    Value::from(class.clone()),
                )
            } else if class == "InputLayer" {
                let mut config = Map::new();
                config.insert("name".into(), layer.name().into());
                if let Value::Object(rest) = guard.config() {
                    config.extend(rest.into_iter().filter(|(k, _)| k != "name"));
                }
                (
                    Value::from("keras.layers"),
                    Value::Object(config),
                    Value::Null,
                )
            } else {
                let inner = guard
                    .as_any()
                    .downcast_ref::<TimeDistributedLayer>()
                    .map(|td| td.inner().clone());
                let config = self.layer_config(layer.name(), guard.config(), inner.as_ref());
                if BUILTIN_LAYERS.contains(&class.as_str()) {
                    (Value::from("keras.layers"), config, Value::Null)
                } else {
                    let registered = self
                        .registry
                        .registered_name_for(&class)
                        .unwrap_or(&class)
                        .to_string();
                    (Value::Null, config, Value::from(registered))
                }
            }
        };
        let mut object = Map::new();
        object.insert("module".into(), module);
        object.insert("class_name".into(), class.into());
        object.insert("config".into(), config);
        object.insert("registered_name".into(), registered);
        object
    }

    /// A layer's config as Keras orders it (`name`, `trainable`, `dtype`, then
    /// the layer's keys), with nested layers written as layer objects.
    fn layer_config(&self, name: &str, config: Value, inner: Option<&LayerRef>) -> Value {
        let Value::Object(mut rest) = config else {
            return config;
        };
        let mut out = Map::new();
        out.insert("name".into(), name.into());
        out.insert(
            "trainable".into(),
            rest.remove("trainable").unwrap_or(Value::Bool(true)),
        );
        out.insert("dtype".into(), float32_policy());
        rest.remove("name");
        rest.remove("dtype");
        for (key, value) in rest {
            let value = match (key.as_str(), inner) {
                ("layer", Some(inner)) => Value::Object(self.layer_object(inner)),
                ("layer" | "backward_layer", None) => self.nested_object(value),
                _ => value,
            };
            out.insert(key, value);
        }
        Value::Object(out)
    }

    /// A nested `{"class_name", "config"}` (Bidirectional's layers) as a Keras
    /// layer object.
    fn nested_object(&self, value: Value) -> Value {
        let (Some(class), Some(config)) = (
            value.get("class_name").and_then(Value::as_str),
            value.get("config"),
        ) else {
            return value;
        };
        let name = config.get("name").and_then(Value::as_str).unwrap_or("");
        let mut object = Map::new();
        object.insert("module".into(), "keras.layers".into());
        object.insert("class_name".into(), class.into());
        object.insert(
            "config".into(),
            self.layer_config(name, config.clone(), None),
        );
        object.insert("registered_name".into(), Value::Null);
        Value::Object(object)
    }
}

/// Keras' float32 `DTypePolicy` object.
fn float32_policy() -> Value {
    json!({
        "module": "keras",
        "class_name": "DTypePolicy",
        "config": { "name": "float32" },
        "registered_name": null,
    })
}

/// `NotEqual`'s compared value as Keras records it: a float for float inputs,
/// an integer for integer inputs when it is one.
fn scalar(value: f64, float_input: bool) -> Value {
    if !float_input && value.fract() == 0.0 && value.abs() < 9.0e15 {
        json!(value as i64)
    } else {
        json!(value)
    }
}
