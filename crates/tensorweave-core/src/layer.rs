//! The [`Layer`] trait every layer implements, the weights it owns ([`Param`]),
//! and [`LayerRef`], the shared handle through which a layer is called.

use std::any::Any;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use ndarray::ArrayD;

use crate::dtype::TensorSpec;
use crate::error::{Error, Result};
use crate::tensor::{record_call, record_call_with_masks, Tensor};
use crate::value::Value;

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

/// Options of one run of a compiled model, passed to every layer call.
#[derive(Debug, Clone)]
pub struct CallContext {
    /// How many threads a layer may use (the two directions of a
    /// `Bidirectional` run in parallel when this is at least 2).
    pub threads: usize,
}

impl Default for CallContext {
    fn default() -> Self {
        CallContext {
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// Visitor over a layer's weights: receives the path inside the layer
/// (`kernel`, `forward_lstm/kernel`) and the weight.
pub type ParamVisitor<'a> = dyn FnMut(&str, &Param) + 'a;
/// Mutable visitor over a layer's weights.
pub type ParamVisitorMut<'a> = dyn FnMut(&str, &mut Param) + 'a;

/// A layer: configuration, weights, shape inference, mask rules and the kernel.
///
/// The life of a layer follows Keras: it is *built* on its first call, when the
/// input shapes are known ([`Layer::build`]); every call infers output shapes
/// ([`Layer::output_specs`]) and output masks ([`Layer::compute_mask`]); a
/// compiled model runs it on arrays ([`Layer::call`]).
///
/// Errors returned from these methods may leave the layer and class names empty
/// (see [`Error::invalid`]): the framework fills them in.
pub trait Layer: Send + Sync + fmt::Debug + Any {
    /// The Keras class name: `Dense`, `LSTM`, `Bidirectional`, …
    fn class_name(&self) -> &str;

    /// The layer's configuration as Keras' `get_config()` would give it, without
    /// the `name` key (the handle adds it).
    fn config(&self) -> serde_json::Value;

    /// Creates the weights once the input specs are known. Called once, before
    /// the first [`Layer::output_specs`].
    fn build(&mut self, _inputs: &[TensorSpec]) -> Result<()> {
        Ok(())
    }

    /// Checks the input specs and returns the output specs (batch axis first).
    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>>;

    /// Whether this is a Keras *op* (`NotEqual`, `Any`, `LogicalOr`, …) rather
    /// than a layer: ops have no weights, appear in summaries and configs, and are
    /// left out of Keras' `model.layers` and weight files.
    fn is_op(&self) -> bool {
        false
    }

    /// The layers this one wraps and runs itself, without recording nodes for
    /// them (`TimeDistributed`'s inner layer or model). Used to draw them.
    fn wrapped(&self) -> Vec<LayerRef> {
        Vec::new()
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

    /// The output masks, computed symbolically at call time. The default passes
    /// the first input's mask through when [`Layer::propagates_mask`] is true, and
    /// drops it otherwise. Layers that make a mask (Embedding with `mask_zero`)
    /// record the ops that compute it by calling them on `inputs`.
    fn compute_mask(
        &self,
        inputs: &[Tensor],
        masks: &[Option<Tensor>],
        n_outputs: usize,
    ) -> Result<Vec<Option<Tensor>>> {
        let _ = inputs;
        let mask = if self.propagates_mask() {
            masks.first().cloned().flatten()
        } else {
            None
        };
        Ok(vec![mask; n_outputs])
    }

    /// Runs the layer on arrays. `masks` has one entry per input (`None` where the
    /// input has no mask, and all `None` unless [`Layer::uses_mask`]).
    fn call(
        &self,
        inputs: &[&Value],
        masks: &[Option<&Value>],
        ctx: &CallContext,
    ) -> Result<Vec<Value>>;

    /// Visits the weights in Keras' order (`get_weights()`): own trainable, own
    /// non-trainable, then those of sublayers.
    fn visit_params(&self, _visitor: &mut ParamVisitor<'_>) {}

    /// Visits the weights mutably, in the same order as [`Layer::visit_params`].
    fn visit_params_mut(&mut self, _visitor: &mut ParamVisitorMut<'_>) {}

    /// Called after the weights were replaced, so that derived data (fused or
    /// packed kernels) can be rebuilt.
    fn weights_changed(&mut self) {}

    /// The layer as `Any`, to downcast to a concrete type.
    fn as_any(&self) -> &dyn Any;
}

static NEXT_LAYER_ID: AtomicU64 = AtomicU64::new(1);

struct LayerCell {
    id: u64,
    name: String,
    class_name: String,
    calls: AtomicUsize,
    built: std::sync::atomic::AtomicBool,
    layer: RwLock<Box<dyn Layer>>,
}

/// A shared handle to a layer. Cloning it does not copy the layer: every call
/// through any clone records a new node of the *same* layer, sharing its weights
/// (Keras' shared layers).
#[derive(Clone)]
pub struct LayerRef(Arc<LayerCell>);

impl fmt::Debug for LayerRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LayerRef({} ({}))", self.0.name, self.0.class_name)
    }
}

impl PartialEq for LayerRef {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}
impl Eq for LayerRef {}

impl LayerRef {
    /// Wraps a layer under a name.
    pub fn new(name: impl Into<String>, layer: impl Layer) -> Self {
        Self::from_boxed(name, Box::new(layer))
    }

    /// Wraps a boxed layer under a name.
    pub fn from_boxed(name: impl Into<String>, layer: Box<dyn Layer>) -> Self {
        let class_name = layer.class_name().to_string();
        LayerRef(Arc::new(LayerCell {
            id: NEXT_LAYER_ID.fetch_add(1, Ordering::Relaxed),
            name: name.into(),
            class_name,
            calls: AtomicUsize::new(0),
            built: std::sync::atomic::AtomicBool::new(false),
            layer: RwLock::new(layer),
        }))
    }

    /// Marks a layer whose weights already exist (a layer made from loaded
    /// weights), so that its first call does not build it again.
    pub fn mark_built(&self) {
        self.0.built.store(true, Ordering::Release);
    }

    /// A process-unique id of this layer.
    pub fn id(&self) -> u64 {
        self.0.id
    }

    /// The layer's name.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The Keras class name.
    pub fn class_name(&self) -> &str {
        &self.0.class_name
    }

    /// Whether the layer has been built (called at least once, or loaded).
    pub fn is_built(&self) -> bool {
        self.0.built.load(Ordering::Acquire)
    }

    /// Read access to the layer.
    pub fn read(&self) -> RwLockReadGuard<'_, Box<dyn Layer>> {
        self.0
            .layer
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Write access to the layer.
    pub fn write(&self) -> RwLockWriteGuard<'_, Box<dyn Layer>> {
        self.0
            .layer
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn next_call_index(&self) -> usize {
        self.0.calls.fetch_add(1, Ordering::Relaxed)
    }

    /// Builds the layer on first use and infers output specs.
    pub(crate) fn infer(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        if !self.is_built() {
            let mut layer = self.write();
            if !self.is_built() {
                layer
                    .build(inputs)
                    .map_err(|e| e.in_layer(self.name(), self.class_name()))?;
                self.0.built.store(true, Ordering::Release);
            }
        }
        self.read()
            .output_specs(inputs)
            .map_err(|e| e.in_layer(self.name(), self.class_name()))
    }

    /// Calls the layer on one tensor and returns its one output.
    pub fn call(&self, input: &Tensor) -> Result<Tensor> {
        let outputs = record_call(self, std::slice::from_ref(input), false)?;
        self.single(outputs)
    }

    /// Calls the layer on one tensor and returns all its outputs (an RNN with
    /// `return_state`, a `Bidirectional` with `merge_mode` None).
    pub fn call_all(&self, input: &Tensor) -> Result<Vec<Tensor>> {
        record_call(self, std::slice::from_ref(input), false)
    }

    /// Calls the layer on a list of tensors (merge layers, models with several
    /// inputs) and returns its one output.
    pub fn call_many(&self, inputs: &[&Tensor]) -> Result<Tensor> {
        let inputs: Vec<Tensor> = inputs.iter().map(|t| (*t).clone()).collect();
        let outputs = record_call(self, &inputs, true)?;
        self.single(outputs)
    }

    /// Calls the layer on a list of tensors and returns all its outputs.
    pub fn call_multi(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        let inputs: Vec<Tensor> = inputs.iter().map(|t| (*t).clone()).collect();
        record_call(self, &inputs, true)
    }

    /// Calls the layer with explicit input masks (one per input, replacing the
    /// masks the tensors carry) and returns all outputs. `list_input` says whether
    /// the inputs form one list argument (merge layers) or separate arguments.
    /// Loaders use this to rebuild a graph whose mask tensors were recorded.
    pub fn call_with_masks(
        &self,
        inputs: &[&Tensor],
        masks: &[Option<Tensor>],
        list_input: bool,
    ) -> Result<Vec<Tensor>> {
        let inputs: Vec<Tensor> = inputs.iter().map(|t| (*t).clone()).collect();
        record_call_with_masks(self, &inputs, masks, list_input)
    }

    fn single(&self, mut outputs: Vec<Tensor>) -> Result<Tensor> {
        if outputs.len() == 1 {
            Ok(outputs.remove(0))
        } else {
            Err(Error::layer(
                self.name(),
                self.class_name(),
                format!("this call gives {} outputs; use `call_all` or `call_multi` to receive all of them", outputs.len()),
            ))
        }
    }

    /// The layer's configuration, with its `name`.
    pub fn config(&self) -> serde_json::Value {
        let mut config = self.read().config();
        if let serde_json::Value::Object(map) = &mut config {
            map.insert(
                "name".into(),
                serde_json::Value::String(self.name().to_string()),
            );
        }
        config
    }

    /// Copies of the weights in Keras' `get_weights()` order.
    pub fn get_weights(&self) -> Vec<ArrayD<f32>> {
        let mut out = Vec::new();
        self.read()
            .visit_params(&mut |_, p| out.push(p.value.clone()));
        out
    }

    /// Names (paths inside the layer) and shapes of the weights, in order.
    pub fn weight_specs(&self) -> Vec<(String, Vec<usize>, bool)> {
        let mut out = Vec::new();
        self.read().visit_params(&mut |path, p| {
            out.push((path.to_string(), p.value.shape().to_vec(), p.trainable))
        });
        out
    }

    /// Number of scalars in the weights: (trainable, non-trainable).
    pub fn count_params(&self) -> (usize, usize) {
        let (mut trainable, mut frozen) = (0, 0);
        self.read().visit_params(&mut |_, p| {
            if p.trainable {
                trainable += p.value.len();
            } else {
                frozen += p.value.len();
            }
        });
        (trainable, frozen)
    }

    /// Replaces the weights, given in Keras' `get_weights()` order. Counts and
    /// shapes are checked before anything is written: on error the layer keeps
    /// its old weights.
    pub fn set_weights(&self, weights: &[ArrayD<f32>]) -> Result<()> {
        let mut layer = self.write();
        let mut expected = Vec::new();
        layer.visit_params(&mut |path, p| {
            expected.push((path.to_string(), p.value.shape().to_vec()))
        });
        if expected.len() != weights.len() {
            let names: Vec<&str> = expected.iter().map(|(n, _)| n.as_str()).collect();
            return Err(Error::Weights {
                layer: self.name().to_string(),
                message: format!(
                    "expected {} arrays ({}), got {}",
                    expected.len(),
                    names.join(", "),
                    weights.len()
                ),
            });
        }
        for (i, ((path, shape), given)) in expected.iter().zip(weights).enumerate() {
            if shape.as_slice() != given.shape() {
                return Err(Error::Weights {
                    layer: self.name().to_string(),
                    message: format!(
                        "array {i} ({path}) must have shape {shape:?}, got {:?}",
                        given.shape()
                    ),
                });
            }
        }
        let mut i = 0;
        layer.visit_params_mut(&mut |_, p| {
            p.value.assign(&weights[i]);
            i += 1;
        });
        layer.weights_changed();
        Ok(())
    }
}

/// Something that becomes a layer: every layer builder (`Dense::new(3)`), a
/// [`LayerRef`], a `Model`.
///
/// Calling a builder consumes it, so each builder is one layer. To call one layer
/// several times (shared weights), turn it into a [`LayerRef`] first with
/// [`IntoLayer::into_layer`] and call that. `&LayerRef` and `&Model` are
/// `IntoLayer` too, so wrappers such as `TimeDistributed::new(&model)` take them.
pub trait IntoLayer: Sized {
    /// Creates the layer, naming it automatically unless a name was set.
    fn into_layer(self) -> LayerRef;

    /// Creates the layer and calls it on one tensor.
    fn call(self, input: &Tensor) -> Result<Tensor> {
        self.into_layer().call(input)
    }

    /// Creates the layer and calls it on one tensor, returning all outputs.
    fn call_all(self, input: &Tensor) -> Result<Vec<Tensor>> {
        self.into_layer().call_all(input)
    }

    /// Creates the layer and calls it on a list of tensors.
    fn call_many(self, inputs: &[&Tensor]) -> Result<Tensor> {
        self.into_layer().call_many(inputs)
    }

    /// Creates the layer and calls it on a list of tensors, returning all outputs.
    fn call_multi(self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        self.into_layer().call_multi(inputs)
    }
}

impl IntoLayer for &LayerRef {
    fn into_layer(self) -> LayerRef {
        self.clone()
    }
}

impl Error {
    /// A layer error whose layer is filled in by the framework: for use inside
    /// [`Layer`] methods, which do not know their own name.
    pub fn invalid(message: impl Into<String>) -> Self {
        Error::Layer {
            layer: String::new(),
            class: String::new(),
            message: message.into(),
        }
    }

    /// Fills in the layer and class of a [`Error::Layer`] that has none yet.
    pub fn in_layer(self, name: &str, class: &str) -> Self {
        match self {
            Error::Layer {
                layer,
                class: c,
                message,
            } if layer.is_empty() => Error::Layer {
                layer: name.to_string(),
                class: if c.is_empty() { class.to_string() } else { c },
                message,
            },
            Error::Input(message) => Error::Layer {
                layer: name.to_string(),
                class: class.to_string(),
                message,
            },
            other => other,
        }
    }
}
