//! Models to Keras functional configs.

use petgraph::graph::NodeIndex;
use serde_json::{json, Map, Value};
use tensorweave_core::registry::truncate;
use tensorweave_core::{tensor_input, CallArg};
use tensorweave_core::{
    ClassIdentity, DType, Error, FunctionalLayer, Graph, LayerId, LayerRef, LayerRegistry, Model,
    Result, TensorRef,
};
use tensorweave_layers::ops::NotEqual;

use super::{FORMAT_VERSION, FORMAT_VERSION_KEY, MASKS_KEY};
use crate::registry::default_registry;

const FUNCTIONAL_MODULE: &str = "keras.src.models.functional";

/// The model as Keras' `model.to_json()` object, plus
/// `"tensorweave_format_version"`. User layers are written with the
/// `registered_name` they have in the default registry (see
/// [`crate::registry::register_layer`]); a layer whose class no registry
/// entry could read back is an error naming it.
pub fn model_to_keras_config(model: &Model) -> Result<Value> {
    model_to_keras_config_with(model, &default_registry())
}

/// [`model_to_keras_config`], taking the identities of the classes (built-in
/// or user, with their registered names) from `registry`.
pub fn model_to_keras_config_with(model: &Model, registry: &LayerRegistry) -> Result<Value> {
    let writer = Writer { registry };
    let mut top = Map::new();
    top.insert("module".into(), FUNCTIONAL_MODULE.into());
    top.insert("class_name".into(), "Functional".into());
    top.insert(
        "config".into(),
        writer.functional_config(model.graph(), model.name())?,
    );
    top.insert("registered_name".into(), "Functional".into());
    top.insert("build_config".into(), json!({ "input_shape": null }));
    top.insert(FORMAT_VERSION_KEY.into(), FORMAT_VERSION.into());
    Ok(Value::Object(top))
}

struct Writer<'a> {
    registry: &'a LayerRegistry,
}

/// A tensor as Keras' `__keras_tensor__` and its `[layer, node_index,
/// tensor_index]` history, node indices counted in this graph.
fn history(graph: &Graph, t: TensorRef) -> Value {
    let node = graph.node(t.node);
    json!([graph.node_layer(t.node).name(), node.node_index(), t.output])
}

fn keras_tensor(graph: &Graph, t: TensorRef) -> Value {
    let spec = graph.spec(t);
    json!({
        "class_name": "__keras_tensor__",
        "config": {
            "shape": spec.shape,
            "dtype": spec.dtype.keras_name(),
            "keras_history": history(graph, t),
        }
    })
}

fn is_functional(layer: &LayerRef) -> bool {
    layer.read().as_any().is::<FunctionalLayer>()
}

impl Writer<'_> {
    /// `{"name", "trainable", "layers", "input_layers", "output_layers"}`.
    fn functional_config(&self, graph: &Graph, name: &str) -> Result<Value> {
        let layers = graph
            .layer_order()
            .iter()
            .map(|&id| self.layer_entry(graph, id))
            .collect::<Result<Vec<_>>>()?;
        let endpoint = |t: &TensorRef| {
            let mut h = history(graph, *t);
            // Keras numbers a nested Functional's calls from 1 here.
            if is_functional(graph.node_layer(t.node)) {
                if let Some(n) = h.get_mut(1) {
                    *n = json!(n.as_u64().unwrap_or(0) + 1);
                }
            }
            h
        };
        let structure = |tensors: &[TensorRef]| match tensors {
            [one] => endpoint(one),
            many => Value::Array(many.iter().map(endpoint).collect()),
        };
        let mut config = Map::new();
        config.insert("name".into(), name.into());
        config.insert("trainable".into(), true.into());
        config.insert("layers".into(), Value::Array(layers));
        config.insert("input_layers".into(), structure(graph.inputs()));
        config.insert("output_layers".into(), structure(graph.outputs()));
        Ok(Value::Object(config))
    }

    /// One entry of `layers`: the layer object, `build_config`, `name`, `inbound_nodes`.
    fn layer_entry(&self, graph: &Graph, id: LayerId) -> Result<Value> {
        let layer = graph.layer(id);
        let nodes = graph.nodes_of(id);
        let mut entry = self.layer_object(layer)?;
        let is_op = layer.read().is_op();
        if !is_op && layer.class_name() != "InputLayer" {
            let build = if is_functional(layer) {
                json!({ "input_shape": null })
            } else {
                let shape = nodes.first().map(|&ix| {
                    let inputs = graph.node_inputs(ix);
                    match inputs.as_slice() {
                        [one] if !graph.node(ix).list_input() => json!(graph.spec(*one).shape),
                        many => {
                            Value::Array(many.iter().map(|t| json!(graph.spec(*t).shape)).collect())
                        }
                    }
                });
                json!({ "input_shape": shape })
            };
            entry.insert("build_config".into(), build);
        }
        entry.insert("name".into(), layer.name().into());
        let inbound: Vec<Value> = nodes
            .iter()
            .filter(|&&ix| graph.node(ix).n_inputs() > 0)
            .map(|&ix| self.node_entry(graph, layer, ix))
            .collect();
        entry.insert("inbound_nodes".into(), Value::Array(inbound));
        Ok(Value::Object(entry))
    }

    /// `{"args", "kwargs"}` of one call, plus the list-input masks.
    fn node_entry(&self, graph: &Graph, layer: &LayerRef, ix: NodeIndex) -> Value {
        let all_inputs = graph.node_inputs(ix);
        // Keyword options; those naming a tensor input are written as that
        // tensor, and the tensor is left out of the positional arguments.
        let options = graph.node(ix).options();
        let keyword_inputs: Vec<usize> = options.values().filter_map(tensor_input).collect();
        let mut keyword_args = Map::new();
        for (key, value) in options {
            let value = match tensor_input(value).and_then(|i| all_inputs.get(i)) {
                Some(&t) => keras_tensor(graph, t),
                None => value.clone(),
            };
            keyword_args.insert(key.clone(), value);
        }
        let inputs: Vec<_> = all_inputs
            .iter()
            .enumerate()
            .filter(|(i, _)| !keyword_inputs.contains(i))
            .map(|(_, &t)| t)
            .collect();
        let (uses_mask, is_op, not_equal, takes_states) = {
            let guard = layer.read();
            (
                guard.uses_mask(),
                guard.is_op(),
                guard.as_any().downcast_ref::<NotEqual>().map(|op| op.value),
                guard.takes_initial_state(),
            )
        };
        if takes_states && inputs.len() > 1 && !graph.node(ix).list_input() {
            return self.state_call_entry(graph, ix, uses_mask);
        }
        // Keras' ops take their tensors as separate arguments (`logical_or(x1, x2)`),
        // except `concatenate(xs)`; layers as they were called.
        let list_form = if is_op {
            matches!(layer.class_name(), "Concatenate" | "Stack")
        } else {
            graph.node(ix).list_input()
        };
        let tensors: Vec<Value> = inputs.iter().map(|&t| keras_tensor(graph, t)).collect();
        let mut args = if list_form {
            vec![Value::Array(tensors)]
        } else {
            tensors
        };
        let constants = layer.read().call_args();
        if !constants.is_empty() && !list_form {
            let mut tensors = inputs.iter();
            args = constants
                .into_iter()
                .map(|a| match a {
                    CallArg::Constant(v) => v,
                    CallArg::Tensor => tensors
                        .next()
                        .map_or(Value::Null, |&t| keras_tensor(graph, t)),
                })
                .collect();
        }
        if let Some(value) = not_equal.filter(|_| inputs.len() == 1) {
            let float_input = inputs
                .first()
                .is_some_and(|&t| graph.spec(t).dtype == DType::F32);
            args.push(scalar(value, float_input));
        }
        let masks: Vec<Value> = graph
            .node_masks(ix)
            .into_iter()
            .enumerate()
            .filter(|(i, _)| !keyword_inputs.contains(i))
            .map(|(_, m)| m.map_or(Value::Null, |t| keras_tensor(graph, t)))
            .collect();
        let mut kwargs = keyword_args;
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

    /// `{"args": [x], "kwargs": {"initial_state": [...], "mask": m}}` of a
    /// recurrent layer's call from initial states.
    fn state_call_entry(&self, graph: &Graph, ix: NodeIndex, uses_mask: bool) -> Value {
        let inputs = graph.node_inputs(ix);
        let tensors: Vec<Value> = inputs.iter().map(|&t| keras_tensor(graph, t)).collect();
        let mut kwargs = Map::new();
        kwargs.insert("initial_state".into(), Value::Array(tensors[1..].to_vec()));
        // Keras records a mask here only when it was passed explicitly.
        if let Some(mask) = graph.node_masks(ix).into_iter().next().flatten() {
            if uses_mask {
                kwargs.insert("mask".into(), keras_tensor(graph, mask));
            }
        }
        let mut out = Map::new();
        out.insert("args".into(), Value::Array(tensors[..1].to_vec()));
        out.insert("kwargs".into(), Value::Object(kwargs));
        Value::Object(out)
    }

    /// `{"module", "class_name", "config", "registered_name"}` of a layer,
    /// with the configurations of its sublayers nested under their keys.
    fn layer_object(&self, layer: &LayerRef) -> Result<Map<String, Value>> {
        let class = layer.class_name().to_string();
        let guard = layer.read();
        let (module, config, registered) = if let Some(f) =
            guard.as_any().downcast_ref::<FunctionalLayer>()
        {
            (
                Value::from(FUNCTIONAL_MODULE),
                self.functional_config(f.graph(), layer.name())?,
                Value::from("Functional"),
            )
        } else if guard.is_op() {
            let Some(ClassIdentity::Op { module }) = self.registry.identity(&class, true) else {
                return Err(unregistered(layer));
            };
            let mut config = Map::new();
            config.insert("name".into(), layer.name().into());
            if let Value::Object(rest) = guard.config() {
                config.extend(rest.into_iter().filter(|(k, _)| k != "name"));
            }
            (
                Value::from(module),
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
            let identity = self.registry.identity(&class, false);
            let (module, registered) = match identity.clone() {
                Some(ClassIdentity::Builtin) => (Value::from("keras.layers"), Value::Null),
                Some(ClassIdentity::User { registered_name }) => {
                    (Value::Null, Value::from(registered_name))
                }
                _ => return Err(unregistered(layer)),
            };
            let user = matches!(identity, Some(ClassIdentity::User { .. }));
            let mut config = self.layer_config(layer.name(), guard.config(), user);
            if let Value::Object(map) = &mut config {
                for sub in guard.sublayers() {
                    if let Some(key) = sub.config_key {
                        map.insert(key.into(), Value::Object(self.layer_object(&sub.layer)?));
                    }
                }
            }
            (module, config, registered)
        };
        let mut object = Map::new();
        object.insert("module".into(), module);
        object.insert("class_name".into(), class.into());
        object.insert("config".into(), config);
        object.insert("registered_name".into(), registered);
        Ok(object)
    }

    /// A layer's config as Keras orders it (`name`, `trainable`, `dtype`, then
    /// the layer's keys). `trainable` is written when the layer's
    /// configuration has it (a few Keras classes, such as `SpatialDropout1D`,
    /// refuse it), and always for user layers (Keras' base `get_config`).
    fn layer_config(&self, name: &str, config: Value, user: bool) -> Value {
        let Value::Object(mut rest) = config else {
            return config;
        };
        let mut out = Map::new();
        out.insert("name".into(), name.into());
        match rest.remove("trainable") {
            Some(t) => {
                out.insert("trainable".into(), t);
            }
            None if user => {
                out.insert("trainable".into(), Value::Bool(true));
            }
            None => {}
        }
        // A layer may name the dtype of its outputs (Hashing's int64 bins);
        // everything else computes in float32.
        let dtype = match rest.remove("dtype") {
            Some(Value::String(d)) if d == "int64" || d == "int32" => policy(&d),
            _ => float32_policy(),
        };
        out.insert("dtype".into(), dtype);
        rest.remove("name");
        out.extend(rest);
        Value::Object(out)
    }
}

/// A layer whose class no registry entry reads back cannot be saved: the file
/// could not be loaded again.
fn unregistered(layer: &LayerRef) -> Error {
    Error::Config(format!(
        "layer '{}' ({}) cannot be saved: its class is not registered, so the file could not \
         be loaded again; register it with `register_layer(\"{}\", ...)` first",
        truncate(layer.name(), 80),
        truncate(layer.class_name(), 80),
        truncate(layer.class_name(), 80)
    ))
}

/// Keras' float32 `DTypePolicy` object.
fn float32_policy() -> Value {
    policy("float32")
}

/// Keras' `DTypePolicy` object named `name`.
fn policy(name: &str) -> Value {
    json!({
        "module": "keras",
        "class_name": "DTypePolicy",
        "config": { "name": name },
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
