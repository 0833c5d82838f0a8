//! The [`Layer`] trait every layer implements, what a layer owns (its weights,
//! [`Param`], and the layers it wraps, [`Sublayer`]), the contexts it is built
//! and run in, and [`LayerRef`], the shared handle through which it is called.
//!
//! A layer's life follows Keras: it is *built* once its input specs are known
//! ([`Layer::build`], where it creates its weights through a
//! [`BuildContext`]); every call infers output specs ([`Layer::output_specs`])
//! and output masks ([`Layer::compute_mask`]); a compiled model runs it on
//! arrays ([`Layer::call`]). Its weights are its own [`Layer::params`] followed
//! by those of its [`Layer::sublayers`], which is also how files lay them out.
//!
//! Training adds two methods: [`Layer::call_train`] runs the layer in training
//! mode and keeps what its backward needs, [`Layer::backward`] turns the
//! gradient reaching its outputs into gradients of its inputs and weights.

mod backward;
mod build;
mod handle;
mod time_role;

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use ndarray::ArrayD;

use crate::budget::MemoryBudget;
use crate::dtype::TensorSpec;
use crate::error::Result;
use crate::pool::BufferPool;
use crate::tensor::Tensor;
use crate::value::Value;

pub use backward::{
    add_into, BackwardCall, LayerGrads, Logits, LogitsOf, OutputGrad, Saved, Trained,
};
pub use build::{BuildContext, WeightInit};
pub use handle::{IntoLayer, LayerGuard, LayerGuardMut, LayerRef, ParamVisitor, ParamVisitorMut};
pub use time_role::TimeRole;

/// The keyword options of one call that are not tensors (Keras'
/// `return_attention_scores=True`, `use_causal_mask=True`), as Keras records
/// them in the call's `kwargs`. Layers that take some read them from
/// [`Inputs::option`] and [`Layer::output_specs_with`].
pub type CallOptions = serde_json::Map<String, serde_json::Value>;

/// How [`CallOptions`] name a keyword argument that is a tensor (Keras'
/// `key=k`, `attention_mask=m`): `{"__tensor_input__": i}`, the index of
/// that tensor among the call's inputs.
pub const TENSOR_INPUT_KEY: &str = "__tensor_input__";

/// The input index a keyword option names, if it names a tensor input.
pub fn tensor_input(option: &serde_json::Value) -> Option<usize> {
    option
        .get(TENSOR_INPUT_KEY)
        .and_then(serde_json::Value::as_u64)
        .map(|i| i as usize)
}

/// One positional argument of a call as Keras records it: a tensor (the
/// next of the node's input tensors) or a constant (a number, a list of
/// indices, a slice), kept by the layer itself (`x * 2.0`, `x[:, 0]`).
#[derive(Debug, Clone, PartialEq)]
pub enum CallArg {
    /// The next input tensor.
    Tensor,
    /// A constant, in Keras' JSON form.
    Constant(serde_json::Value),
}

/// One weight array of a layer (Keras' `Variable`).
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// The name inside its layer, e.g. `kernel`, `recurrent_kernel`, `moving_mean`.
    pub name: String,
    /// The values.
    pub value: ArrayD<f32>,
    /// Whether training would update it (`moving_mean` is not trainable).
    pub trainable: bool,
}

impl Param {
    /// A trainable weight.
    pub fn trainable(name: impl Into<String>, value: ArrayD<f32>) -> Self {
        Param {
            name: name.into(),
            value,
            trainable: true,
        }
    }

    /// A non-trainable weight (moving statistics).
    pub fn non_trainable(name: impl Into<String>, value: ArrayD<f32>) -> Self {
        Param {
            name: name.into(),
            value,
            trainable: false,
        }
    }
}

/// A layer owned and run by another one: a wrapper's inner layer, a recurrent
/// layer's cell, a nested model's layers.
///
/// Its weights follow the owner's own, under the sublayer's name
/// (`forward_lstm/lstm_cell/kernel`); Keras' weight files store them under
/// `attribute` (`forward_layer/cell/vars/0`), and its configuration nests the
/// sublayer's configuration under `config_key` when there is one.
#[derive(Debug, Clone)]
pub struct Sublayer {
    /// The attribute Keras saves the sublayer under: `layer`,
    /// `forward_layer`, `backward_layer`, `cell`, or `layers` for each element
    /// of a model's layer list (Keras' `model.layers`, which a summary expands).
    pub attribute: &'static str,
    /// The key of the owner's configuration that holds the sublayer's
    /// serialized configuration (`layer` for `TimeDistributed` and for a
    /// `Bidirectional`'s forward layer), or `None` when the owner's own
    /// configuration already describes it (an `LSTM`'s cell).
    pub config_key: Option<&'static str>,
    /// The sublayer.
    pub layer: LayerRef,
}

impl Sublayer {
    /// A sublayer stored and configured under `key` (a wrapper's inner layer).
    pub fn nested(key: &'static str, layer: LayerRef) -> Self {
        Sublayer {
            attribute: key,
            config_key: Some(key),
            layer,
        }
    }

    /// A sublayer stored under `attribute` and described by its owner's own
    /// configuration (a recurrent layer's `cell`).
    pub fn part(attribute: &'static str, layer: LayerRef) -> Self {
        Sublayer {
            attribute,
            config_key: None,
            layer,
        }
    }

    /// One element of a model's layer list (`layers`).
    pub fn listed(layer: LayerRef) -> Self {
        Sublayer {
            attribute: "layers",
            config_key: None,
            layer,
        }
    }

    /// Whether this sublayer is an element of a layer list (Keras' `.layers`).
    pub fn is_listed(&self) -> bool {
        self.attribute == "layers"
    }
}

/// What a recurrent layer says about itself, so that `Bidirectional` can wrap
/// any recurrent layer (built-in or user-defined) as Keras' does: its outputs
/// are `[output, states…]`, and its configuration has the Keras `RNN` keys
/// `go_backwards`, `return_sequences`, `return_state` and
/// `zero_output_for_mask`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recurrence {
    /// Size of the output (and of each state).
    pub units: usize,
    /// Number of state tensors (2 for an LSTM: `h`, `c`).
    pub states: usize,
    /// Whether the output is the whole sequence.
    pub return_sequences: bool,
    /// Whether the final states follow the output.
    pub return_state: bool,
    /// Whether the steps run from last to first.
    pub go_backwards: bool,
}

/// The arrays one call of a layer receives: its inputs, in order, and with
/// each the mask passed along (Keras' `call(inputs, mask=...)`; `None` where
/// the input has no mask, or the layer does not take masks).
#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    values: Vec<&'a Value>,
    masks: Vec<Option<&'a Value>>,
    options: Option<&'a CallOptions>,
}

impl<'a> Inputs<'a> {
    /// Inputs with their masks; `masks` is padded with `None` (or cut) to one
    /// entry per input.
    pub fn new(values: Vec<&'a Value>, mut masks: Vec<Option<&'a Value>>) -> Self {
        masks.resize(values.len(), None);
        Inputs {
            values,
            masks,
            options: None,
        }
    }

    /// The same inputs with the call's keyword options.
    pub fn with_options(mut self, options: &'a CallOptions) -> Self {
        self.options = Some(options);
        self
    }

    /// The call's keyword options (empty for most calls).
    pub fn options(&self) -> Option<&'a CallOptions> {
        self.options
    }

    /// One keyword option of the call, if given.
    pub fn option(&self, key: &str) -> Option<&'a serde_json::Value> {
        self.options.and_then(|o| o.get(key))
    }

    /// Inputs without masks.
    pub fn unmasked(values: &[&'a Value]) -> Self {
        Self::new(values.to_vec(), Vec::new())
    }

    /// The number of inputs.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether there is no input.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// All inputs, in order.
    pub fn values(&self) -> &[&'a Value] {
        &self.values
    }

    /// One entry per input: its mask.
    pub fn masks(&self) -> &[Option<&'a Value>] {
        &self.masks
    }

    /// Input `i`, or an error saying how many inputs the layer was given.
    pub fn value(&self, i: usize) -> Result<&'a Value> {
        self.values.get(i).copied().ok_or_else(|| {
            crate::Error::invalid(format!(
                "expects at least {} input array(s), got {}",
                i + 1,
                self.values.len()
            ))
        })
    }

    /// The only input, or an error when there is not exactly one.
    pub fn one(&self) -> Result<&'a Value> {
        match self.values.as_slice() {
            [one] => Ok(one),
            other => Err(crate::Error::invalid(format!(
                "expects 1 input array, got {}",
                other.len()
            ))),
        }
    }

    /// Input `i` as float data.
    pub fn f32(&self, i: usize) -> Result<&'a ArrayD<f32>> {
        self.value(i)?.as_f32()
    }

    /// The mask passed with input `i`, if any.
    pub fn mask(&self, i: usize) -> Option<&'a Value> {
        self.masks.get(i).copied().flatten()
    }
}

/// A symbolic call whose output masks a layer computes
/// ([`Layer::compute_mask`]): the input tensors, the mask passed with each,
/// and how many outputs the call has.
#[derive(Debug, Clone, Copy)]
pub struct MaskCall<'a> {
    /// The input tensors.
    pub inputs: &'a [Tensor],
    /// One entry per input: its mask.
    pub masks: &'a [Option<Tensor>],
    /// The number of outputs.
    pub n_outputs: usize,
}

impl MaskCall<'_> {
    /// The first input's mask, if any.
    pub fn first_mask(&self) -> Option<Tensor> {
        self.masks.first().cloned().flatten()
    }

    /// `mask` for every output.
    pub fn for_every_output(&self, mask: Option<Tensor>) -> Vec<Option<Tensor>> {
        vec![mask; self.n_outputs]
    }
}

/// Options of one run of a compiled model, passed to every layer call.
#[derive(Debug, Clone)]
pub struct CallContext {
    /// How many threads a layer may use (the two directions of a
    /// `Bidirectional` run in parallel when this is at least 2).
    pub threads: usize,
    /// What the values of one step may take at most.
    pub budget: MemoryBudget,
    /// Mixed into the seeds of random layers in training mode (dropout): the
    /// training loop changes it every step so that each step draws new masks;
    /// the same value draws the same masks again.
    pub step_seed: u64,
    /// Where layers take large per-call buffers from and the plan returns
    /// the values it frees ([`BufferPool`]). `None` here: a model's run uses
    /// the model's own pool; layers called outside a model allocate.
    pub pool: Option<Arc<BufferPool>>,
}

impl Default for CallContext {
    fn default() -> Self {
        Self::with_threads(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }
}

impl CallContext {
    /// An empty boolean buffer with room for `len` values, from the pool
    /// when there is one.
    pub fn bools_with_capacity(&self, len: usize) -> Vec<bool> {
        match &self.pool {
            Some(pool) => pool.bools_with_capacity(len),
            None => Vec::with_capacity(len),
        }
    }

    /// Runs on at most `threads` threads, with the default memory budget.
    pub fn with_threads(threads: usize) -> Self {
        CallContext {
            threads,
            budget: MemoryBudget::default(),
            step_seed: 0,
            pool: None,
        }
    }
}

/// A layer: configuration, weights, shape inference, mask rules and the kernel.
///
/// Errors returned from these methods may leave the layer and class names empty
/// (see [`crate::Error::invalid`]): the framework fills them in.
pub trait Layer: Send + Sync + fmt::Debug + AsAny {
    /// The Keras class name: `Dense`, `LSTM`, `Bidirectional`, …
    fn class_name(&self) -> &str;

    /// The layer's configuration as Keras' `get_config()` would give it, without
    /// the `name` key (the handle adds it) and without the configurations of
    /// sublayers that have a [`Sublayer::config_key`] (writers add them).
    fn config(&self) -> serde_json::Value;

    /// Creates the weights once the input specs are known, through `ctx`
    /// (which checks their size against the memory budget and, when a model is
    /// loaded, leaves them for the file to fill). Called once, before the first
    /// [`Layer::output_specs`].
    fn build(&mut self, inputs: &[TensorSpec], ctx: &mut BuildContext) -> Result<()> {
        let _ = (inputs, ctx);
        Ok(())
    }

    /// Checks the input specs and returns the output specs (batch axis first).
    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>>;

    /// The output specs of a call with keyword options (Keras'
    /// `return_attention_scores=True`). The default accepts only a call
    /// without options and defers to [`Layer::output_specs`]; a layer that
    /// takes options validates them here and reads them again at run time
    /// from [`Inputs::option`].
    fn output_specs_with(
        &self,
        inputs: &[TensorSpec],
        options: &CallOptions,
    ) -> Result<Vec<TensorSpec>> {
        if let Some((key, value)) = options.iter().next() {
            return Err(crate::Error::invalid(format!(
                "the call argument `{key}` = {} is not supported",
                crate::registry::brief(value)
            )));
        }
        self.output_specs(inputs)
    }

    /// Whether this is a Keras *op* (`NotEqual`, `Any`, `LogicalOr`, …) rather
    /// than a layer: ops have no weights, appear in summaries and configs, and are
    /// left out of Keras' `model.layers` and weight files.
    fn is_op(&self) -> bool {
        false
    }

    /// Whether `call` takes the input masks (Keras: `call` has a `mask` argument).
    /// A call records its input masks as inputs of the node only when this is true.
    fn uses_mask(&self) -> bool {
        false
    }

    /// Whether the first input's mask passes through to every output unchanged
    /// (Keras' `supports_masking` with the default `compute_mask`).
    fn propagates_mask(&self) -> bool {
        false
    }

    /// The output masks, computed symbolically at call time (one per output;
    /// missing entries mean no mask). The default passes the first input's
    /// mask through when [`Layer::propagates_mask`] is true, and drops it
    /// otherwise. Layers that make a mask (Embedding with `mask_zero`) record
    /// the ops that compute it by calling them on the call's inputs.
    fn compute_mask(&self, call: &MaskCall<'_>) -> Result<Vec<Option<Tensor>>> {
        let mask = if self.propagates_mask() {
            call.first_mask()
        } else {
            None
        };
        Ok(call.for_every_output(mask))
    }

    /// Runs the layer on arrays (their masks are all `None` unless
    /// [`Layer::uses_mask`]).
    fn call(&self, inputs: &Inputs<'_>, ctx: &CallContext) -> Result<Vec<Value>>;

    /// The layer's own weights in Keras' order: trainable ones, then the others.
    fn params(&self) -> Vec<&Param> {
        Vec::new()
    }

    /// The layer's own weights, mutably, in the order of [`Layer::params`].
    fn params_mut(&mut self) -> Vec<&mut Param> {
        Vec::new()
    }

    /// The layers this one owns and runs itself (no node is recorded for them).
    fn sublayers(&self) -> Vec<Sublayer> {
        Vec::new()
    }

    /// Called after the layer's own weights were replaced, so that derived data
    /// (fused or packed kernels) can be rebuilt.
    fn weights_changed(&mut self) {}

    /// `Some` for a recurrent layer (see [`Recurrence`]).
    fn recurrence(&self) -> Option<Recurrence> {
        None
    }

    /// The positional arguments of the layer's call when some are constants
    /// (Keras ops such as `x * 2.0` or `x[:, 0]`), in order; empty (the
    /// default) when every argument is an input tensor.
    fn call_args(&self) -> Vec<CallArg> {
        Vec::new()
    }

    /// Takes the positional arguments of a call read from a file (before the
    /// layer is built): ops with constant arguments keep them; the default
    /// accepts only tensors.
    fn set_call_args(&mut self, args: &[CallArg]) -> Result<()> {
        match args.iter().find_map(|a| match a {
            CallArg::Constant(v) => Some(v),
            CallArg::Tensor => None,
        }) {
            None => Ok(()),
            Some(v) => Err(crate::Error::invalid(format!(
                "the constant argument {} is not supported: this layer takes only tensors",
                crate::registry::brief(v)
            ))),
        }
    }

    /// Whether the layer is a table lookup (Keras' `Embedding`): each element
    /// of its one input picks a row of a table. A compiled plan then offers
    /// the ids to the one layer consuming the lookup's output
    /// ([`Layer::accepts_lookup`]), which may fold the table into its own
    /// first product.
    fn is_lookup(&self) -> bool {
        false
    }

    /// Whether [`Layer::call_on_lookup`] takes `ids` for the output of the
    /// lookup layer `lookup` ([`Layer::is_lookup`]); it may prepare for it
    /// (build a folded table). The default takes none.
    fn accepts_lookup(&self, lookup: &LayerRef, ids: &Value) -> bool {
        let _ = (lookup, ids);
        false
    }

    /// [`Layer::call`] with input 0 given as the ids (`inputs.values()[0]`)
    /// that `lookup` would turn into the actual input, called only after
    /// [`Layer::accepts_lookup`] said yes; the masks are the call's own. The
    /// outputs must equal those of running the lookup and then
    /// [`Layer::call`].
    fn call_on_lookup(
        &self,
        lookup: &LayerRef,
        inputs: &Inputs<'_>,
        ctx: &CallContext,
    ) -> Result<Vec<Value>> {
        let _ = (inputs, ctx);
        Err(crate::Error::invalid(format!(
            "internal: does not take the ids of '{}' in place of its output",
            lookup.name()
        )))
    }

    /// Heap bytes the layer holds in caches derived from its weights (a
    /// folded input projection), beyond the weights themselves. Layers
    /// holding others add theirs.
    fn cache_bytes(&self) -> usize {
        self.sublayers()
            .iter()
            .map(|sub| sub.layer.read().cache_bytes())
            .sum()
    }

    /// What the layer does along the time axis (see [`TimeRole`]); the
    /// default promises nothing, which keeps corpus mode from trimming
    /// padding through the layer.
    fn time_role(&self) -> TimeRole {
        TimeRole::Unknown
    }

    /// Whether the layer carries state from one call to the next (a stateful
    /// RNN), so that rows must reach it in the caller's order. Layers holding
    /// others ask them.
    fn carries_state(&self) -> bool {
        self.sublayers()
            .iter()
            .any(|sub| sub.layer.read().carries_state())
    }

    /// Forgets the states a stateful layer carries between calls (Keras'
    /// `reset_states`); the default has none. Layers holding others pass it on.
    fn reset_states(&self) {
        for sub in self.sublayers() {
            sub.layer.read().reset_states();
        }
    }

    /// Whether the inputs after the first are initial states (Keras'
    /// `initial_state` argument of recurrent layers and `Bidirectional`):
    /// they carry no mask and are saved as the `initial_state` keyword.
    fn takes_initial_state(&self) -> bool {
        false
    }

    /// The regularizers of the layer's weights, as Keras serializes them
    /// (`{"class_name": "L2", "config": {"l2": 0.001}}`), by weight path inside
    /// the layer (`kernel`, or `lstm_cell/kernel` for a sublayer's): a training
    /// loss adds their penalties.
    fn weight_regularizers(&self) -> Vec<(String, serde_json::Value)> {
        Vec::new()
    }

    /// Keras' `activity_regularizer` as Keras serializes it: a penalty on each
    /// of the layer's outputs, divided by the batch size, that a training
    /// loss (and evaluation) adds. `None` (the default) for none.
    fn activity_regularizer(&self) -> Option<serde_json::Value> {
        None
    }

    /// Whether the layer implements [`Layer::backward`]. Training refuses a
    /// model with a layer on a trainable path that has none, naming it.
    fn has_backward(&self) -> bool {
        false
    }

    /// Runs the layer in training mode (Keras' `training=True`: dropout drops,
    /// BatchNormalization uses the batch statistics) and keeps what
    /// [`Layer::backward`] needs. The default is [`Layer::call`] with nothing
    /// saved, right for layers that behave the same in both modes and whose
    /// backward needs only the inputs and outputs.
    fn call_train(&self, inputs: &Inputs<'_>, ctx: &CallContext) -> Result<Trained> {
        Ok(Trained::new(self.call(inputs, ctx)?))
    }

    /// The gradients of the inputs and of the layer's weights, given the
    /// gradient of the loss reaching each output of one training-mode call.
    /// Masks carry no gradient.
    fn backward(&self, call: &BackwardCall<'_>) -> Result<LayerGrads> {
        let _ = call;
        Err(crate::Error::invalid(
            "has no backward pass, so a model cannot be trained through it; \
             implement Layer::backward (and has_backward) or freeze what lies before it",
        ))
    }
}

/// A value as `Any`, to downcast a `dyn Layer` to its concrete type;
/// implemented for every type, so layers need not write it.
pub trait AsAny: Any {
    /// The value as `Any`.
    fn as_any(&self) -> &dyn Any;

    /// The value as mutable `Any`.
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Any> AsAny for T {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}
