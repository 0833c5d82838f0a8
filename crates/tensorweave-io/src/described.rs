//! Layers known only from what a file records: a Keras file that uses a
//! user-defined layer (or an op tensorweave does not implement) can still be
//! summarized and drawn, because the configuration records the shape of every
//! tensor a layer consumes (`__keras_tensor__` entries in `inbound_nodes`)
//! and the weights file records every weight's shape.
//!
//! [`DescribedLayer`] stands in for such a layer: its output specs are the
//! recorded shapes of its outputs (read where later layers consume them), its
//! weights take the shapes of the datasets in the layer's `vars` group when
//! the weights file is read, and running it is an error that names it. See
//! [`crate::load::inspect_model_with`].

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;
use tensorweave_core::registry::truncate;
use tensorweave_core::{
    format_shape, CallContext, DType, Error, Inputs, Layer, LayerRef, LayerRegistry, Param, Result,
    Shape, TensorSpec,
};

/// Where a tensor came from: (layer name, node index, output index).
type History = (String, usize, usize);

/// The spec of every tensor some layer of a configuration consumes, keyed by
/// the layer, call and output that made it.
#[derive(Debug, Default, Clone)]
pub struct RecordedShapes {
    outputs: HashMap<History, TensorSpec>,
}

impl RecordedShapes {
    /// Collects every `__keras_tensor__` of `config` (nested models included).
    pub fn scan(config: &Value) -> Self {
        let mut recorded = RecordedShapes::default();
        recorded.walk(config);
        recorded
    }

    fn walk(&mut self, value: &Value) {
        match value {
            Value::Object(map) => {
                if let Some((history, spec)) = keras_tensor(value) {
                    self.outputs.entry(history).or_insert(spec);
                }
                map.values().for_each(|v| self.walk(v));
            }
            Value::Array(items) => items.iter().for_each(|v| self.walk(v)),
            _ => {}
        }
    }

    /// The recorded outputs of call `node` of layer `name`, in output order;
    /// `None` where no later layer consumes that output.
    fn outputs_of(&self, name: &str, node: usize) -> Vec<Option<TensorSpec>> {
        let count = self
            .outputs
            .keys()
            .filter(|(l, n, _)| l == name && *n == node)
            .map(|(_, _, t)| t + 1)
            .max()
            .unwrap_or(0);
        (0..count)
            .map(|t| self.outputs.get(&(name.to_string(), node, t)).cloned())
            .collect()
    }
}

/// A `__keras_tensor__` entry: its history and spec.
fn keras_tensor(value: &Value) -> Option<(History, TensorSpec)> {
    if value.get("class_name")?.as_str()? != "__keras_tensor__" {
        return None;
    }
    let config = value.get("config")?;
    let history = config.get("keras_history")?.as_array()?;
    let [layer, node, tensor] = history.as_slice() else {
        return None;
    };
    let history = (
        layer.as_str()?.to_string(),
        usize::try_from(node.as_u64()?).ok()?,
        usize::try_from(tensor.as_u64()?).ok()?,
    );
    let shape: Shape = config
        .get("shape")?
        .as_array()?
        .iter()
        .map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok()))
        .collect();
    let dtype = config
        .get("dtype")
        .and_then(Value::as_str)
        .and_then(DType::from_keras_name)
        .unwrap_or(DType::F32);
    Some((history, TensorSpec::new(shape, dtype)))
}

/// Every `__keras_tensor__` inside `value`, in order.
fn tensors_in(value: &Value, out: &mut Vec<TensorSpec>) {
    if let Some((_, spec)) = keras_tensor(value) {
        out.push(spec);
        return;
    }
    match value {
        Value::Array(items) => items.iter().for_each(|v| tensors_in(v, out)),
        Value::Object(map) => map.values().for_each(|v| tensors_in(v, out)),
        _ => {}
    }
}

/// One recorded call of a described layer.
#[derive(Debug, Clone)]
struct RecordedCall {
    /// The specs of the positional tensor arguments.
    inputs: Vec<TensorSpec>,
    /// The specs of the outputs, where recorded.
    outputs: Vec<Option<TensorSpec>>,
}

/// A layer rebuilt from its description only: it has the recorded shapes and
/// the file's weights, and cannot run (see the module documentation).
#[derive(Debug)]
pub struct DescribedLayer {
    class_name: String,
    registered_name: Option<String>,
    is_op: bool,
    takes_mask: bool,
    trainable: bool,
    config: Value,
    calls: Vec<RecordedCall>,
    params: Vec<Param>,
}

impl DescribedLayer {
    /// The layer of a configuration entry (`class_name`, `registered_name`,
    /// `module`, `config`, `inbound_nodes`), its outputs read from `recorded`.
    pub fn from_entry(entry: &Value, recorded: &RecordedShapes) -> Result<LayerRef> {
        let class_name = entry
            .get("class_name")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string();
        let config = entry.get("config").cloned().unwrap_or(Value::Null);
        let name = config
            .get("name")
            .and_then(Value::as_str)
            .or_else(|| entry.get("name").and_then(Value::as_str))
            .ok_or_else(|| {
                Error::Config(format!(
                    "a '{}' layer entry has no name",
                    truncate(&class_name, 80)
                ))
            })?
            .to_string();
        let nodes = entry
            .get("inbound_nodes")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let calls = nodes
            .iter()
            .enumerate()
            .map(|(k, node)| {
                let mut inputs = Vec::new();
                tensors_in(node.get("args").unwrap_or(node), &mut inputs);
                RecordedCall {
                    inputs,
                    outputs: recorded.outputs_of(&name, k),
                }
            })
            .collect();
        // Keras records the mask it passes to `call` among the kwargs.
        let takes_mask = nodes.iter().any(|node| {
            node.get("kwargs")
                .and_then(|k| k.get("mask"))
                .is_some_and(|m| !m.is_null())
        });
        let layer = DescribedLayer {
            takes_mask,
            is_op: tensorweave_core::registry::is_op_module(
                entry.get("module").and_then(Value::as_str),
            ),
            registered_name: entry
                .get("registered_name")
                .and_then(Value::as_str)
                .filter(|r| *r != class_name)
                .map(str::to_string),
            trainable: config.get("trainable").and_then(Value::as_bool) != Some(false),
            class_name,
            config,
            calls,
            params: Vec::new(),
        };
        Ok(LayerRef::new(name, layer))
    }

    /// The name it was registered under in Keras (`textclf>AttLayer`), when
    /// that differs from the class name.
    pub fn registered_name(&self) -> Option<&str> {
        self.registered_name.as_deref()
    }

    /// Whether the layer still has no weights (none read from a file yet).
    pub fn has_no_weights(&self) -> bool {
        self.params.is_empty()
    }

    /// Gives the layer weights of the shapes a weights file holds for it, in
    /// the file's order (`vars/0`, `vars/1`, …), named by their index; they
    /// are zero until the file's arrays are read into them.
    pub fn adopt_weight_shapes(&mut self, shapes: &[Vec<usize>]) {
        self.adopt(shapes.iter().enumerate().map(|(i, s)| (i.to_string(), s)));
    }

    /// Zeroed weights of the given names and shapes, in order.
    fn adopt<'a>(&mut self, weights: impl Iterator<Item = (String, &'a Vec<usize>)>) {
        self.params = weights
            .map(|(name, shape)| Param {
                name,
                value: ndarray::ArrayD::zeros(shape.as_slice()),
                trainable: self.trainable,
            })
            .collect();
    }

    /// The recorded call whose inputs fit `inputs`.
    fn call_for(&self, inputs: &[TensorSpec]) -> Option<&RecordedCall> {
        let fits = |call: &&RecordedCall| {
            call.inputs.len() == inputs.len()
                && call.inputs.iter().zip(inputs).all(|(a, b)| {
                    a.shape.len() == b.shape.len()
                        && a.shape
                            .iter()
                            .zip(b.shape.iter())
                            .all(|(x, y)| tensorweave_core::dtype::dims_compatible(*x, *y))
                })
        };
        self.calls.iter().find(fits).or_else(|| self.calls.first())
    }

    fn what(&self) -> String {
        match &self.registered_name {
            Some(r) => format!("a user-defined layer (registered as '{}')", truncate(r, 80)),
            None if self.is_op => "a Keras op tensorweave does not implement".to_string(),
            None => "a user-defined layer".to_string(),
        }
    }
}

impl Layer for DescribedLayer {
    fn class_name(&self) -> &str {
        &self.class_name
    }

    fn config(&self) -> Value {
        let mut config = self.config.clone();
        if let Value::Object(map) = &mut config {
            map.remove("name");
        }
        config
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        let call = self.call_for(inputs).ok_or_else(|| {
            Error::invalid(format!(
                "is {}; the file records no call of it, so its output shape is unknown",
                self.what()
            ))
        })?;
        if call.outputs.is_empty() {
            return Err(Error::invalid(format!(
                "is {} and a model output: Keras records the shapes of the tensors layers \
                 consume, not of model outputs, so the shape it makes for inputs {} is unknown; \
                 register the layer (see docs/custom-layers.md) to inspect this model",
                self.what(),
                inputs
                    .iter()
                    .map(|s| format_shape(&s.shape))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        call.outputs
            .iter()
            .enumerate()
            .map(|(t, spec)| {
                spec.clone().ok_or_else(|| {
                    Error::invalid(format!(
                        "is {}; nothing consumes its output {t}, so that output's shape is \
                         unknown",
                        self.what()
                    ))
                })
            })
            .collect()
    }

    fn is_op(&self) -> bool {
        self.is_op
    }

    fn uses_mask(&self) -> bool {
        self.takes_mask
    }

    fn call(
        &self,
        _inputs: &Inputs<'_>,
        _ctx: &CallContext,
    ) -> Result<Vec<tensorweave_core::Value>> {
        Err(Error::invalid(format!(
            "is {}, known here only from what the file records (shapes and weights): it can \
             be summarized and drawn, not run; register a constructor for the '{}' class \
             (see docs/custom-layers.md) to run this model",
            self.what(),
            self.registered_name.as_deref().unwrap_or(&self.class_name)
        )))
    }

    fn params(&self) -> Vec<&Param> {
        self.params.iter().collect()
    }

    fn params_mut(&mut self) -> Vec<&mut Param> {
        self.params.iter_mut().collect()
    }
}

/// `registry` with a fallback that describes every layer or op class it has
/// no constructor for, from the shapes recorded in `config`.
pub fn describing_registry(registry: &LayerRegistry, config: &Value) -> LayerRegistry {
    let recorded = Arc::new(RecordedShapes::scan(config));
    let mut registry = registry.clone();
    registry
        .set_unknown_class_fallback(move |entry, _| DescribedLayer::from_entry(entry, &recorded));
    registry
}

/// A layer of a model that is known only by its description.
#[derive(Debug, Clone)]
pub struct Described {
    /// Its layer.
    pub layer: LayerRef,
    /// The prefix of its weight paths (`att_layer/`, `inner/att_layer/`).
    pub prefix: String,
}

/// The described layers of a model, depth first, ops included.
pub fn described_layers(model: &tensorweave_core::Model) -> Vec<Described> {
    fn visit(layer: &LayerRef, prefix: String, out: &mut Vec<Described>) {
        let guard = layer.read();
        if guard.as_any().is::<DescribedLayer>() {
            out.push(Described {
                layer: layer.clone(),
                prefix: prefix.clone(),
            });
        }
        let children: Vec<LayerRef> = match guard
            .as_any()
            .downcast_ref::<tensorweave_core::FunctionalLayer>()
        {
            Some(f) => f.graph().ordered_layers().cloned().collect(),
            None => guard.sublayers().into_iter().map(|s| s.layer).collect(),
        };
        drop(guard);
        for child in children {
            let inner = format!("{prefix}{}/", child.name());
            visit(&child, inner, out);
        }
    }
    let mut out = Vec::new();
    for layer in model.layers() {
        visit(&layer, format!("{}/", layer.name()), &mut out);
    }
    out
}

/// Gives every described layer of `model` that has no weights yet the
/// weights named under its path in `tensors` (name, shape): a tensorweave
/// safetensors file names each weight by its path.
pub fn adopt_named_weights(model: &tensorweave_core::Model, tensors: &[(String, Vec<usize>)]) {
    for d in described_layers(model) {
        let mut guard = d.layer.write();
        let Some(layer) = guard.as_any_mut().downcast_mut::<DescribedLayer>() else {
            continue;
        };
        if !layer.has_no_weights() {
            continue;
        }
        let mut own: Vec<(&str, &Vec<usize>)> = tensors
            .iter()
            .filter_map(|(name, shape)| {
                let rest = name.strip_prefix(&d.prefix)?;
                (!rest.contains('/')).then_some((rest, shape))
            })
            .collect();
        own.sort_by(|a, b| a.0.cmp(b.0));
        layer.adopt(
            own.into_iter()
                .map(|(name, shape)| (name.to_string(), shape)),
        );
    }
}
