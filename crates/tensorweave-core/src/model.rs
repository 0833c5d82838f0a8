//! [`Model`]: a captured graph with its compiled plan, runnable on arrays and
//! callable as a layer.

use std::sync::Arc;

use ndarray::ArrayD;

use crate::backprop::TrainRun;
use crate::dtype::{dims_compatible, format_shape, shape_matches, DType, TensorSpec};
use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::layer::{BackwardCall, Inputs, LayerGrads, Trained};
use crate::layer::{CallContext, IntoLayer, Layer, LayerRef, Sublayer};
use crate::naming::auto_name;
use crate::plan::Plan;
use crate::pool::BufferPool;
use crate::run::RunState;
use crate::shape::format_dims;
use crate::tensor::Tensor;
use crate::value::Value;

/// The captured graph and compiled plan, shared by a [`Model`] and its layer.
#[derive(Debug)]
pub struct ModelCore {
    /// How Keras built it and what its summary shows beyond the graph.
    info: std::sync::RwLock<ModelInfo>,
    graph: Graph,
    plan: Plan,
    /// The declared inputs and outputs as the symbolic tensors the model was
    /// made from (what [`Model::inputs`] and [`Model::outputs`] hand out).
    inputs: Vec<Tensor>,
    outputs: Vec<Tensor>,
    /// The freed intermediates of earlier runs, for later ones.
    pool: Arc<BufferPool>,
}

/// The size of an optimizer's variables (Keras' `Optimizer params` line):
/// how many values, and how many bytes (its step counter is an int64).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptimizerSize {
    /// Number of values.
    pub params: usize,
    /// Number of bytes.
    pub bytes: usize,
}

/// What a model knows about itself beyond its graph.
#[derive(Debug, Clone, Default)]
struct ModelInfo {
    sequential: bool,
    optimizer: Option<OptimizerSize>,
}

/// A functional model: the layers between some inputs and some outputs.
///
/// Cloning a `Model` is cheap and gives a second handle to the *same* model:
/// the clone shares the layers and their weights with the original, so
/// `set_weights` on one is seen by the other (as calling one Keras model
/// object through two names). To get an independent copy, rebuild the model
/// and copy the weights over (`copy.set_weights(&model.get_weights())`), or
/// save and load it.
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
            info: std::sync::RwLock::new(ModelInfo::default()),
            graph,
            plan,
            inputs: inputs.to_vec(),
            outputs: outputs.to_vec(),
            pool: Arc::default(),
        });
        let layer = LayerRef::new(name, FunctionalLayer { core: core.clone() });
        layer.mark_built();
        Ok(Model { core, layer })
    }

    /// The model's name.
    pub fn name(&self) -> &str {
        self.layer.name()
    }

    /// Zeroes the states of every stateful recurrent layer (Keras'
    /// `layer.reset_states()` on each), so the next call starts afresh.
    pub fn reset_states(&self) {
        for layer in self.layers() {
            layer.read().reset_states();
        }
    }

    /// Whether the model is a Keras `Sequential` (its summary has no
    /// `InputLayer` row, as Keras prints it).
    pub fn is_sequential(&self) -> bool {
        self.info().sequential
    }

    /// Marks the model as a Keras `Sequential` (or not); loaders of
    /// `Sequential` configs do.
    pub fn set_sequential(&self, sequential: bool) {
        self.info_mut().sequential = sequential;
    }

    /// The size of the optimizer variables the model was loaded with (a
    /// `.keras` archive saved compiled, after training), which its summary
    /// counts as Keras does; `None` for a model without.
    pub fn optimizer_size(&self) -> Option<OptimizerSize> {
        self.info().optimizer
    }

    /// Sets what [`Model::optimizer_size`] returns.
    pub fn set_optimizer_size(&self, size: Option<OptimizerSize>) {
        self.info_mut().optimizer = size;
    }

    /// The compiled graph, plan and inputs.
    pub(crate) fn core(&self) -> &ModelCore {
        &self.core
    }

    fn info(&self) -> std::sync::RwLockReadGuard<'_, ModelInfo> {
        self.core
            .info
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn info_mut(&self) -> std::sync::RwLockWriteGuard<'_, ModelInfo> {
        self.core
            .info
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
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

    /// Weight paths, shapes and trainability, in Keras' `get_weights()` order.
    ///
    /// A path joins the layer names from the model down to the weight: a
    /// `Dense` gives `dense/kernel`, a `Bidirectional(LSTM)` gives
    /// `bidirectional/forward_lstm/lstm_cell/kernel` (the cell is a layer of
    /// its own, as in Keras), a layer of a nested model `inner/dense/kernel`.
    ///
    /// ```
    /// use tensorweave_core::{Input, Layer, Model};
    /// # use tensorweave_core::{BuildContext, CallContext, Inputs, Param, Result, TensorSpec, Value};
    /// # #[derive(Debug)]
    /// # struct Scale(Param);
    /// # impl Layer for Scale {
    /// #     fn class_name(&self) -> &str { "Scale" }
    /// #     fn config(&self) -> serde_json::Value { serde_json::json!({}) }
    /// #     fn output_specs(&self, i: &[TensorSpec]) -> Result<Vec<TensorSpec>> { Ok(i.to_vec()) }
    /// #     fn call(&self, i: &Inputs<'_>, _: &CallContext) -> Result<Vec<Value>> { Ok(vec![i.values()[0].clone()]) }
    /// #     fn params(&self) -> Vec<&Param> { vec![&self.0] }
    /// # }
    /// let x = Input::new([3]).build();
    /// let scale = tensorweave_core::LayerRef::new(
    ///     "scale",
    ///     Scale(Param::trainable("factor", ndarray::ArrayD::ones(vec![3]))),
    /// );
    /// let model = Model::new(&[x.clone()], &[scale.call(&x).unwrap()]).unwrap();
    /// assert_eq!(model.weight_specs(), [("scale/factor".to_string(), vec![3], true)]);
    /// ```
    pub fn weight_specs(&self) -> Vec<(String, Vec<usize>, bool)> {
        self.layer.weight_specs()
    }

    /// Replaces all weights, given in Keras' `model.get_weights()` order; checked
    /// completely before anything is written.
    pub fn set_weights(&self, weights: &[ArrayD<f32>]) -> Result<()> {
        self.layer.set_weights(weights)
    }

    /// Heap bytes the layers hold in caches derived from their weights
    /// ([`Layer::cache_bytes`]: the folded embedding tables of recurrent
    /// layers), beyond the weights.
    pub fn cache_bytes(&self) -> usize {
        self.layers().iter().map(|l| l.read().cache_bytes()).sum()
    }

    /// Heap bytes the model keeps between calls in its [`BufferPool`]: the
    /// buffers of earlier calls' intermediates, reused by later calls (at
    /// most 64 MiB of each element type).
    pub fn pool_bytes(&self) -> usize {
        self.core.pool.bytes()
    }

    /// Drops the buffers the model keeps between calls ([`Model::pool_bytes`]).
    pub fn release_buffers(&self) {
        self.core.pool.clear()
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

    /// Runs the model `batch_size` rows at a time and joins the outputs along
    /// the first axis (Keras' `model.predict(x, batch_size=...)`); peak memory
    /// is that of one batch plus the joined outputs.
    ///
    /// ```
    /// use tensorweave_core::{Input, Model, Value};
    /// let x = Input::new([3]).build();
    /// let model = Model::new(&[x.clone()], &[x]).unwrap();
    /// let rows = Value::from(ndarray::Array2::<f32>::zeros((10, 3)));
    /// let out = model.predict_in_batches(&[rows], 4).unwrap();
    /// assert_eq!(out[0].shape(), &[10, 3]);
    /// ```
    ///
    /// Fails when `batch_size` is 0, when an input has no batch axis or the
    /// inputs disagree on the number of rows, and with the first failing
    /// batch's error (its rows named); no partial output is returned.
    pub fn predict_in_batches(&self, inputs: &[Value], batch_size: usize) -> Result<Vec<Value>> {
        self.predict_in_batches_with(inputs, batch_size, &CallContext::default(), |_, _| {})
    }

    /// [`Model::predict_in_batches`] with explicit run options; `progress` is
    /// called after each batch with (batches done, batches in all).
    pub fn predict_in_batches_with(
        &self,
        inputs: &[Value],
        batch_size: usize,
        ctx: &CallContext,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<Vec<Value>> {
        let n = self.common_rows(inputs, batch_size)?;
        if n <= batch_size {
            let outs = self.predict_with(inputs, ctx)?;
            progress(1, 1);
            return Ok(outs);
        }
        let batches = n.div_ceil(batch_size);
        let mut parts: Vec<Vec<Value>> = Vec::new();
        for b in 0..batches {
            let (start, end) = (b * batch_size, ((b + 1) * batch_size).min(n));
            let chunk = inputs
                .iter()
                .map(|v| v.slice_rows(start, end))
                .collect::<Result<Vec<_>>>()?;
            let outs = self
                .predict_with(&chunk, ctx)
                .map_err(|e| e.in_rows(start, end, n))?;
            if parts.is_empty() {
                parts = (0..outs.len())
                    .map(|_| Vec::with_capacity(batches))
                    .collect();
            }
            for (part, out) in parts.iter_mut().zip(outs) {
                part.push(out);
            }
            progress(b + 1, batches);
        }
        parts.iter().map(|p| Value::concat_rows(p)).collect()
    }

    /// [`Model::predict`] with explicit run options.
    pub fn predict_with(&self, inputs: &[Value], ctx: &CallContext) -> Result<Vec<Value>> {
        let refs: Vec<&Value> = inputs.iter().collect();
        self.core.run(&refs, ctx, self.name())
    }

    /// Runs the model in training mode (Keras' `model(x, training=True)`) and
    /// keeps what the backward pass needs: call [`TrainRun::backward`] with the
    /// loss gradient of each output to get every trainable weight's gradient.
    ///
    /// Fails, naming the layer, when a layer on a trainable path has no
    /// backward pass.
    ///
    /// ```
    /// use tensorweave_core::{CallContext, Input, Model, OutputGrad, Value};
    /// let x = Input::new([3]).build();
    /// let model = Model::new(&[x.clone()], &[x]).unwrap();
    /// let input = Value::from(ndarray::array![[1.0f32, 2.0, 3.0]].into_dyn());
    /// let mut run = model.forward_train(&[input], &CallContext::default()).unwrap();
    /// let grads = run.backward(vec![OutputGrad::default()]).unwrap();
    /// assert!(grads.weights.is_empty()); // no weights to train
    /// ```
    pub fn forward_train(&self, inputs: &[Value], ctx: &CallContext) -> Result<TrainRun> {
        let refs: Vec<&Value> = inputs.iter().collect();
        TrainRun::forward(self.core.clone(), &refs, &[], ctx, self.name())
    }

    /// The model in inference mode (as [`Model::predict`]) keeping every value
    /// and Keras mask, so that evaluation can read each output's mask
    /// ([`TrainRun::output_mask`]). It has no backward.
    pub fn forward_eval(&self, inputs: &[Value], ctx: &CallContext) -> Result<TrainRun> {
        let refs: Vec<&Value> = inputs.iter().collect();
        TrainRun::inference(self.core.clone(), &refs, ctx, self.name())
    }

    /// [`Model::forward_train`] whose backward also returns the gradient of
    /// every float input ([`crate::Backprop::inputs`]), e.g. to check a
    /// layer's backward against finite differences.
    pub fn forward_train_wrt_inputs(
        &self,
        inputs: &[Value],
        ctx: &CallContext,
    ) -> Result<TrainRun> {
        let refs: Vec<&Value> = inputs.iter().collect();
        let all = vec![true; inputs.len()];
        TrainRun::forward(self.core.clone(), &refs, &all, ctx, self.name())
    }
}

impl IntoLayer for &Model {
    fn into_layer(self) -> LayerRef {
        self.layer.clone()
    }
}

impl ModelCore {
    /// The inputs as the model's declared dtypes take them: integer data for a
    /// float32 input is converted, as Keras converts it (models of the Keras 2
    /// era declare token inputs float32 and cast them in the Embedding).
    /// Integers beyond ±2^24 have no exact float32 and are refused.
    pub(crate) fn conform_inputs<'a>(
        &self,
        inputs: &[&'a Value],
        model: &str,
    ) -> Result<Vec<std::borrow::Cow<'a, Value>>> {
        use std::borrow::Cow;
        const EXACT: i32 = 1 << 24;
        let mut out = Vec::with_capacity(inputs.len());
        for (i, &v) in inputs.iter().enumerate() {
            let declared = self.inputs.get(i).map(Tensor::dtype);
            match (v, declared) {
                (Value::I32(a), Some(DType::F32)) => {
                    if let Some(bad) = a.iter().find(|x| x.unsigned_abs() > EXACT as u32) {
                        return Err(Error::Input(format!(
                            "input '{}' of model '{model}' is float32 and the int32 value {bad} \
                             has no exact float32; pass float32 data",
                            self.inputs[i].layer().name()
                        )));
                    }
                    out.push(Cow::Owned(Value::F32(a.mapv(|x| x as f32))));
                }
                _ => out.push(Cow::Borrowed(v)),
            }
        }
        Ok(out)
    }

    pub(crate) fn check_inputs(&self, inputs: &[&Value], model: &str) -> Result<()> {
        self.check_inputs_cut(inputs, model, &[])
    }

    /// [`ModelCore::check_inputs`], input `i` allowed a shorter time axis
    /// when `cut[i]` (corpus mode cut its padding).
    fn check_inputs_cut(&self, inputs: &[&Value], model: &str, cut: &[bool]) -> Result<()> {
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
        for (i, (t, v)) in declared.iter().zip(inputs).enumerate() {
            let name = t.layer().name();
            if v.dtype() != t.dtype() {
                return Err(Error::Input(format!(
                    "input '{name}' of model '{model}' has dtype {}, got {} data; convert the array",
                    t.dtype(),
                    v.dtype()
                )));
            }
            let shape_ok = if cut.get(i).copied().unwrap_or(false) {
                shape_matches(&crate::run::free_time_axis(t.shape()), v.shape())
            } else {
                shape_matches(t.shape(), v.shape())
            };
            if !shape_ok {
                return Err(Error::Input(format!(
                    "input '{name}' of model '{model}' has shape {}, got an array of shape {}",
                    format_shape(t.shape()),
                    format_dims(v.shape())
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

    /// The declared outputs.
    pub(crate) fn outputs(&self) -> &[Tensor] {
        &self.outputs
    }

    /// The captured graph.
    pub(crate) fn graph(&self) -> &Graph {
        &self.graph
    }

    /// The compiled plan.
    pub(crate) fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Paths (`dense/kernel`) of every trainable weight of the model's layers.
    pub(crate) fn trainable_paths(&self) -> std::collections::HashSet<String> {
        let mut paths = std::collections::HashSet::new();
        for layer in self.graph.ordered_layers() {
            layer.visit_params(&mut |path, p| {
                if p.trainable {
                    paths.insert(format!("{}/{path}", layer.name()));
                }
            });
        }
        paths
    }

    /// Runs the plan.
    pub fn run(&self, inputs: &[&Value], ctx: &CallContext, model: &str) -> Result<Vec<Value>> {
        let inputs = self.conform_inputs(inputs, model)?;
        let inputs: Vec<&Value> = inputs.iter().map(|v| v.as_ref()).collect();
        self.check_inputs(&inputs, model)?;
        let ctx = self.pooled(ctx);
        RunState::new(&self.plan, &inputs).run(&self.graph, &self.plan, &ctx, model)
    }

    /// Runs the plan on inputs whose time axis corpus mode may have cut
    /// (`cut_inputs`, one flag per input), the slots in `cut_slots` allowed
    /// the shorter length.
    pub(crate) fn run_cut(
        &self,
        inputs: &[&Value],
        ctx: &CallContext,
        model: &str,
        cut_inputs: &[bool],
        cut_slots: Vec<bool>,
    ) -> Result<Vec<Value>> {
        let inputs = self.conform_inputs(inputs, model)?;
        let inputs: Vec<&Value> = inputs.iter().map(|v| v.as_ref()).collect();
        self.check_inputs_cut(&inputs, model, cut_inputs)?;
        let ctx = self.pooled(ctx);
        RunState::new(&self.plan, &inputs)
            .with_cut_time(cut_slots)
            .run(&self.graph, &self.plan, &ctx, model)
    }

    /// `ctx` with the model's pool, unless it brings one (an enclosing
    /// model's).
    fn pooled<'c>(&self, ctx: &'c CallContext) -> std::borrow::Cow<'c, CallContext> {
        if ctx.pool.is_some() {
            std::borrow::Cow::Borrowed(ctx)
        } else {
            std::borrow::Cow::Owned(CallContext {
                pool: Some(self.pool.clone()),
                ..ctx.clone()
            })
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

    fn has_backward(&self) -> bool {
        true
    }

    /// The nested model's own training run, kept (behind a lock, as a backward
    /// consumes it) for the backward.
    fn call_train(&self, inputs: &Inputs<'_>, ctx: &CallContext) -> Result<Trained> {
        let wants: Vec<bool> = vec![true; inputs.len()];
        let run = TrainRun::forward(self.core.clone(), inputs.values(), &wants, ctx, "nested")?;
        let outputs: Vec<Value> = run.outputs()?.into_iter().cloned().collect();
        let logits: Vec<_> = (0..outputs.len())
            .map(|k| run.output_logits(k).cloned())
            .collect();
        let updates = run.state_updates().to_vec();
        let mut trained = Trained::with_saved(outputs, std::sync::Mutex::new(run));
        trained.logits = logits;
        trained.updates = updates;
        Ok(trained)
    }

    /// The nested run's backward: its weights' gradients under their paths
    /// inside this model, and its inputs' gradients.
    fn backward(&self, call: &BackwardCall<'_>) -> Result<LayerGrads> {
        let run = call.saved::<std::sync::Mutex<TrainRun>>()?;
        let mut run = run.lock().unwrap_or_else(|p| p.into_inner());
        let result = run.backward(call.grads.to_vec())?;
        Ok(LayerGrads {
            inputs: result.inputs,
            params: result.weights.into_entries(),
        })
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
