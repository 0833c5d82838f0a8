//! [`Model`]: a captured graph with its compiled plan, runnable on arrays and
//! callable as a layer.

use std::any::Any;
use std::sync::Arc;

use ndarray::ArrayD;

use crate::dtype::{dims_compatible, format_shape, shape_matches, TensorSpec};
use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::layer::{CallContext, IntoLayer, Layer, LayerRef, ParamVisitor, ParamVisitorMut};
use crate::naming::auto_name;
use crate::plan::Plan;
use crate::tensor::Tensor;
use crate::value::Value;

/// The captured graph and compiled plan, shared by a [`Model`] and its layer.
#[derive(Debug)]
pub struct ModelCore {
    graph: Graph,
    plan: Plan,
}

/// A functional model: the layers between some inputs and some outputs.
///
/// ```
/// use tensorweave_core::{Input, Model};
/// let x = Input::new([4]).build();
/// let model = Model::new(&[x.clone()], &[x]).unwrap();
/// assert_eq!(model.inputs().len(), 1);
/// ```
#[derive(Debug, Clone)]
pub struct Model {
    core: Arc<ModelCore>,
    layer: LayerRef,
}

impl Model {
    /// Captures the graph from `inputs` to `outputs`, checks it and compiles it.
    ///
    /// Fails when an output depends on an `Input` that is not in `inputs`, when
    /// two layers share a name, or when the graph is otherwise invalid.
    pub fn new(inputs: &[Tensor], outputs: &[Tensor]) -> Result<Model> {
        Self::with_name(auto_name("Functional"), inputs, outputs)
    }

    /// Like [`Model::new`], with an explicit name (Keras' `Model(..., name=...)`).
    pub fn with_name(
        name: impl Into<String>,
        inputs: &[Tensor],
        outputs: &[Tensor],
    ) -> Result<Model> {
        let graph = Graph::capture(inputs, outputs)?;
        let plan = Plan::compile(&graph);
        let core = Arc::new(ModelCore { graph, plan });
        let layer = LayerRef::new(name, FunctionalLayer { core: core.clone() });
        layer.mark_built();
        Ok(Model { core, layer })
    }

    /// The model's name.
    pub fn name(&self) -> &str {
        self.layer.name()
    }

    /// The declared inputs.
    pub fn inputs(&self) -> &[Tensor] {
        &self.core.graph.inputs
    }

    /// The declared outputs.
    pub fn outputs(&self) -> &[Tensor] {
        &self.core.graph.outputs
    }

    /// The captured graph.
    pub fn graph(&self) -> &Graph {
        &self.core.graph
    }

    /// The compiled plan.
    pub fn plan(&self) -> &Plan {
        &self.core.plan
    }

    /// The layers, in Keras' `model.layers` order (input layers included).
    pub fn layers(&self) -> Vec<LayerRef> {
        self.core.graph.ordered_layers().cloned().collect()
    }

    /// The layer called `name`.
    pub fn layer(&self, name: &str) -> Result<LayerRef> {
        self.core
            .graph
            .ordered_layers()
            .find(|l| l.name() == name)
            .cloned()
            .ok_or_else(|| {
                let names: Vec<&str> = self.core.graph.ordered_layers().map(|l| l.name()).collect();
                Error::Graph(format!(
                    "model '{}' has no layer '{name}'; its layers are: {}",
                    self.name(),
                    names.join(", ")
                ))
            })
    }

    /// The model as a layer, to call it on tensors or wrap it (e.g. in `TimeDistributed`).
    pub fn as_layer(&self) -> &LayerRef {
        &self.layer
    }

    /// Calls the model on one tensor (a model with one input and one output).
    pub fn call(&self, input: &Tensor) -> Result<Tensor> {
        self.layer.call(input)
    }

    /// Calls the model on its inputs and returns all its outputs.
    pub fn call_multi(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        if inputs.len() == 1 {
            self.layer.call_all(inputs[0])
        } else {
            self.layer.call_multi(inputs)
        }
    }

    /// All weights, in Keras' `model.get_weights()` order.
    pub fn get_weights(&self) -> Vec<ArrayD<f32>> {
        self.layer.get_weights()
    }

    /// Weight paths (`bidirectional/forward_lstm/kernel`), shapes and trainability, in order.
    pub fn weight_specs(&self) -> Vec<(String, Vec<usize>, bool)> {
        self.layer.weight_specs()
    }

    /// Replaces all weights, given in Keras' `model.get_weights()` order; checked
    /// completely before anything is written.
    pub fn set_weights(&self, weights: &[ArrayD<f32>]) -> Result<()> {
        self.layer.set_weights(weights)
    }

    /// Parameter counts: (trainable, non-trainable).
    pub fn count_params(&self) -> (usize, usize) {
        self.layer.count_params()
    }

    /// Runs the model on a batch: one array per input, in input order; returns
    /// one array per output. Uses all cores.
    pub fn predict(&self, inputs: &[Value]) -> Result<Vec<Value>> {
        self.predict_with(inputs, &CallContext::default())
    }

    /// [`Model::predict`] with explicit run options.
    pub fn predict_with(&self, inputs: &[Value], ctx: &CallContext) -> Result<Vec<Value>> {
        let refs: Vec<&Value> = inputs.iter().collect();
        self.core.run(&refs, ctx, self.name())
    }
}

impl IntoLayer for &Model {
    fn into_layer(self) -> LayerRef {
        self.layer.clone()
    }
}

impl ModelCore {
    fn check_inputs(&self, inputs: &[&Value], model: &str) -> Result<()> {
        let declared = &self.graph.inputs;
        if inputs.len() != declared.len() {
            return Err(Error::Input(format!(
                "model '{model}' takes {} input(s) ({}), got {}",
                declared.len(),
                declared
                    .iter()
                    .map(|t| t.layer().name())
                    .collect::<Vec<_>>()
                    .join(", "),
                inputs.len()
            )));
        }
        let mut batch: Option<usize> = None;
        for (t, v) in declared.iter().zip(inputs) {
            let name = t.layer().name();
            if v.dtype() != t.dtype() {
                return Err(Error::Input(format!(
                    "input '{name}' of model '{model}' has dtype {}, got {} data; convert the array",
                    t.dtype(),
                    v.dtype()
                )));
            }
            if !shape_matches(t.shape(), v.shape()) {
                return Err(Error::Input(format!(
                    "input '{name}' of model '{model}' has shape {}, got an array of shape {:?}",
                    format_shape(t.shape()),
                    v.shape()
                )));
            }
            let b = v.shape()[0];
            if batch.is_some_and(|prev| prev != b) {
                return Err(Error::Input(format!(
                    "inputs of model '{model}' disagree on the batch size: {} and {b} (input '{name}')",
                    batch.unwrap_or(0)
                )));
            }
            batch = Some(b);
        }
        Ok(())
    }

    /// Runs the plan.
    pub fn run(&self, inputs: &[&Value], ctx: &CallContext, model: &str) -> Result<Vec<Value>> {
        self.check_inputs(inputs, model)?;
        let plan = &self.plan;
        let mut slots: Vec<Option<Held<'_>>> = (0..plan.n_slots).map(|_| None).collect();
        for (&slot, value) in plan.input_slots.iter().zip(inputs) {
            slots[slot] = Some(Held::Borrowed(value));
        }
        for step in &plan.steps {
            let layer = &self.graph.layers[step.layer];
            let outputs = {
                let fetch = |s: usize| {
                    slots[s].as_ref().map(Held::get).ok_or_else(|| {
                        Error::Graph(format!(
                            "internal: value for layer '{}' was freed too early",
                            layer.name()
                        ))
                    })
                };
                let ins = step
                    .inputs
                    .iter()
                    .map(|&s| fetch(s))
                    .collect::<Result<Vec<_>>>()?;
                let masks = step
                    .masks
                    .iter()
                    .map(|m| m.map(fetch).transpose())
                    .collect::<Result<Vec<_>>>()?;
                layer
                    .read()
                    .call(&ins, &masks, ctx)
                    .map_err(|e| e.in_layer(layer.name(), layer.class_name()))?
            };
            let node = &self.graph.dag[step.node].node;
            check_outputs(layer, node.output_specs(), &outputs)?;
            for (&slot, value) in step.outputs.iter().zip(outputs) {
                slots[slot] = Some(Held::Owned(value));
            }
            for &slot in &step.free_after {
                slots[slot] = None;
            }
        }
        let mut results = Vec::with_capacity(plan.output_slots.len());
        for (i, &slot) in plan.output_slots.iter().enumerate() {
            let used_again = plan.output_slots[i + 1..].contains(&slot);
            let held = if used_again {
                slots[slot].as_ref().map(|h| Held::Borrowed(h.get()))
            } else {
                slots[slot].take()
            };
            let value = match held {
                Some(Held::Owned(v)) => v,
                Some(Held::Borrowed(v)) => v.clone(),
                None => {
                    return Err(Error::Graph(format!(
                        "internal: output {i} of model '{model}' was not computed"
                    )))
                }
            };
            results.push(value);
        }
        Ok(results)
    }
}

fn check_outputs(layer: &LayerRef, specs: &[TensorSpec], outputs: &[Value]) -> Result<()> {
    if specs.len() != outputs.len() {
        return Err(Error::layer(
            layer.name(),
            layer.class_name(),
            format!(
                "returned {} outputs, its call recorded {}",
                outputs.len(),
                specs.len()
            ),
        ));
    }
    for (i, (spec, v)) in specs.iter().zip(outputs).enumerate() {
        if spec.dtype != v.dtype() || !shape_matches(&spec.shape, v.shape()) {
            return Err(Error::layer(
                layer.name(),
                layer.class_name(),
                format!(
                    "output {i} is {:?} {}, but the graph expects {} {}; the input arrays do not fit this model",
                    v.shape(),
                    v.dtype(),
                    format_shape(&spec.shape),
                    spec.dtype
                ),
            ));
        }
    }
    Ok(())
}

enum Held<'a> {
    Borrowed(&'a Value),
    Owned(Value),
}

impl Held<'_> {
    fn get(&self) -> &Value {
        match self {
            Held::Borrowed(v) => v,
            Held::Owned(v) => v,
        }
    }
}

/// A [`Model`] seen as a layer (Keras' `Functional`).
#[derive(Debug)]
pub struct FunctionalLayer {
    core: Arc<ModelCore>,
}

impl FunctionalLayer {
    /// The captured graph.
    pub fn graph(&self) -> &Graph {
        &self.core.graph
    }
}

impl Layer for FunctionalLayer {
    fn class_name(&self) -> &str {
        "Functional"
    }

    fn config(&self) -> serde_json::Value {
        serde_json::json!({ "trainable": true })
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        let declared = &self.core.graph.inputs;
        if inputs.len() != declared.len() {
            return Err(Error::invalid(format!(
                "takes {} input(s), got {}",
                declared.len(),
                inputs.len()
            )));
        }
        for (t, spec) in declared.iter().zip(inputs) {
            let fits = t.rank() == spec.rank()
                && t.dtype() == spec.dtype
                && t.shape()
                    .iter()
                    .zip(&spec.shape)
                    .skip(1)
                    .all(|(a, b)| dims_compatible(*a, *b));
            if !fits {
                return Err(Error::invalid(format!(
                    "input '{}' expects {} {}, got {} {}",
                    t.layer().name(),
                    format_shape(t.shape()),
                    t.dtype(),
                    format_shape(&spec.shape),
                    spec.dtype
                )));
            }
        }
        let batch = inputs[0].shape[0];
        Ok(self
            .core
            .graph
            .outputs
            .iter()
            .map(|t| {
                let mut spec = t.spec().clone();
                spec.shape[0] = batch;
                spec
            })
            .collect())
    }

    fn call(
        &self,
        inputs: &[&Value],
        _masks: &[Option<&Value>],
        ctx: &CallContext,
    ) -> Result<Vec<Value>> {
        self.core.run(inputs, ctx, "nested")
    }

    fn visit_params(&self, visitor: &mut ParamVisitor<'_>) {
        for layer in self.core.graph.ordered_layers() {
            let prefix = layer.name().to_string();
            layer
                .read()
                .visit_params(&mut |path, p| visitor(&format!("{prefix}/{path}"), p));
        }
    }

    fn visit_params_mut(&mut self, visitor: &mut ParamVisitorMut<'_>) {
        for layer in self.core.graph.ordered_layers() {
            let prefix = layer.name().to_string();
            let mut guard = layer.write();
            guard.visit_params_mut(&mut |path, p| visitor(&format!("{prefix}/{path}"), p));
            guard.weights_changed();
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

trait Rank {
    fn rank(&self) -> usize;
}

impl Rank for Tensor {
    fn rank(&self) -> usize {
        self.shape().len()
    }
}
