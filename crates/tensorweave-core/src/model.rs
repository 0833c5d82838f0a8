//! [`Model`]: a captured graph with its compiled plan, runnable on arrays and
//! callable as a layer.

use std::sync::Arc;

use ndarray::ArrayD;

use crate::dtype::{dims_compatible, format_shape, shape_matches, TensorSpec};
use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::layer::Inputs;
use crate::layer::{CallContext, IntoLayer, Layer, LayerRef, Sublayer};
use crate::naming::auto_name;
use crate::plan::Plan;
use crate::run::RunState;
use crate::tensor::Tensor;
use crate::value::Value;

/// The captured graph and compiled plan, shared by a [`Model`] and its layer.
#[derive(Debug)]
pub struct ModelCore {
    graph: Graph,
    plan: Plan,
    /// The declared inputs and outputs as the symbolic tensors the model was
    /// made from (what [`Model::inputs`] and [`Model::outputs`] hand out).
    inputs: Vec<Tensor>,
    outputs: Vec<Tensor>,
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
        let core = Arc::new(ModelCore {
            graph,
            plan,
            inputs: inputs.to_vec(),
            outputs: outputs.to_vec(),
        });
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
        &self.core.inputs
    }

    /// The declared outputs.
    pub fn outputs(&self) -> &[Tensor] {
        &self.core.outputs
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
        let declared = &self.inputs;
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
        RunState::new(&self.plan, inputs).run(&self.graph, &self.plan, ctx, model)
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
        let declared = &self.core.inputs;
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
            .outputs
            .iter()
            .map(|t| {
                let mut spec = t.spec().clone();
                spec.shape[0] = batch;
                spec
            })
            .collect())
    }

    fn call(&self, inputs: &Inputs<'_>, ctx: &CallContext) -> Result<Vec<Value>> {
        let inputs = inputs.values();
        self.core.run(inputs, ctx, "nested")
    }

    fn sublayers(&self) -> Vec<Sublayer> {
        self.core
            .graph
            .ordered_layers()
            .filter(|l| !l.read().is_op())
            .map(|l| Sublayer::listed(l.clone()))
            .collect()
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
