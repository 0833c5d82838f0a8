//! [`LayerRef`], the shared handle through which a layer is called, and
//! [`IntoLayer`], what becomes one.

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use ndarray::ArrayD;

use super::{BuildContext, Layer, Param};
use crate::dtype::TensorSpec;
use crate::error::{Error, Result};
use crate::shape::format_dims;
use crate::tensor::{
    record_call, record_call_split_masks, record_call_with_masks, record_call_with_options, Tensor,
};

/// Visitor over a layer's weights: receives the path inside the layer
/// (`kernel`, `forward_lstm/lstm_cell/kernel`) and the weight.
pub type ParamVisitor<'a> = dyn FnMut(&str, &Param) + 'a;
/// Mutable visitor over a layer's weights.
pub type ParamVisitorMut<'a> = dyn FnMut(&str, &mut Param) + 'a;

static NEXT_LAYER_ID: AtomicU64 = AtomicU64::new(1);

struct LayerCell {
    id: u64,
    name: String,
    class_name: String,
    calls: AtomicUsize,
    built: std::sync::atomic::AtomicBool,
    /// Initial weights given to the builder, set once the layer is built.
    preset: std::sync::Mutex<Option<Vec<ArrayD<f32>>>>,
    /// Write accesses so far: weights only change under a write guard, so
    /// (id, generation) names one state of the weights.
    writes: std::sync::atomic::AtomicU64,
    layer: RwLock<Box<dyn Layer>>,
}

/// Read access to a layer behind a [`LayerRef`]; derefs to `dyn Layer` (so
/// `guard.as_any()` reaches the layer, not its box).
pub struct LayerGuard<'a>(RwLockReadGuard<'a, Box<dyn Layer>>);

impl std::ops::Deref for LayerGuard<'_> {
    type Target = dyn Layer;

    fn deref(&self) -> &(dyn Layer + 'static) {
        &**self.0
    }
}

/// Write access to a layer behind a [`LayerRef`]; derefs to `dyn Layer`.
pub struct LayerGuardMut<'a>(RwLockWriteGuard<'a, Box<dyn Layer>>);

impl std::ops::Deref for LayerGuardMut<'_> {
    type Target = dyn Layer;

    fn deref(&self) -> &(dyn Layer + 'static) {
        &**self.0
    }
}

impl std::ops::DerefMut for LayerGuardMut<'_> {
    fn deref_mut(&mut self) -> &mut (dyn Layer + 'static) {
        &mut **self.0
    }
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
            preset: std::sync::Mutex::new(None),
            writes: std::sync::atomic::AtomicU64::new(0),
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
    pub fn read(&self) -> LayerGuard<'_> {
        LayerGuard(
            self.0
                .layer
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }

    /// Write access to the layer.
    pub fn write(&self) -> LayerGuardMut<'_> {
        let guard = self
            .0
            .layer
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        self.0.writes.fetch_add(1, Ordering::AcqRel);
        LayerGuardMut(guard)
    }

    /// How many times the layer was opened for writing ([`LayerRef::write`]):
    /// its weights cannot have changed while this stays the same, so caches
    /// derived from them (a folded input projection) key on it.
    pub fn generation(&self) -> u64 {
        self.0.writes.load(Ordering::Acquire)
    }

    pub(crate) fn next_call_index(&self) -> usize {
        self.0.calls.fetch_add(1, Ordering::Relaxed)
    }

    /// Builds the layer on first use and infers the output specs of a call
    /// with keyword options.
    pub(crate) fn infer_with(
        &self,
        inputs: &[TensorSpec],
        options: &super::CallOptions,
    ) -> Result<Vec<TensorSpec>> {
        self.build_with(inputs, &mut BuildContext::new())?;
        self.read()
            .output_specs_with(inputs, options)
            .map_err(|e| e.in_layer(self.name(), self.class_name()))
    }

    /// Builds the layer for `inputs` through `ctx` unless it is built already.
    /// A layer is otherwise built on its first call, with initial weights drawn
    /// from its initializers; loaders build it first, so that its weights are
    /// checked against their budget and left for the file to fill.
    pub fn build_with(&self, inputs: &[TensorSpec], ctx: &mut BuildContext) -> Result<()> {
        if self.is_built() {
            return Ok(());
        }
        {
            let mut layer = self.write();
            if self.is_built() {
                return Ok(());
            }
            layer
                .build(inputs, ctx)
                .map_err(|e| e.in_layer(self.name(), self.class_name()))?;
            self.0.built.store(true, Ordering::Release);
        }
        let preset = self
            .0
            .preset
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        match preset {
            Some(weights) => self.replace_weights(weights).map_err(|e| {
                Error::layer(
                    self.name(),
                    self.class_name(),
                    format!("the `weights` given to its builder do not fit: {e}"),
                )
            }),
            None => Ok(()),
        }
    }

    /// Takes out the initial weights waiting for the build, if any (a wrapper
    /// that rebuilds its inner layer from its configuration refuses them).
    pub fn take_preset(&self) -> Option<Vec<ArrayD<f32>>> {
        self.0
            .preset
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
    }

    /// Initial weights (Keras' `weights=`) for the layer to take when it is
    /// built, checked then against its weights.
    pub fn set_preset(&self, weights: Option<Vec<ArrayD<f32>>>) {
        *self
            .0
            .preset
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = weights;
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

    /// Calls a recurrent layer (or a `Bidirectional`) on a sequence from
    /// initial states (Keras' `layer(x, initial_state=[h, c])`: `[h]` for a
    /// GRU or SimpleRNN, `[h, c]` for an LSTM, the forward layer's states
    /// then the backward layer's for a `Bidirectional`), and returns all its
    /// outputs.
    ///
    /// As in Keras 3, the sequence's mask is **not** applied by such a call
    /// (Keras fills in `mask` only for a call with one tensor argument): every
    /// step runs, padding included; the outputs still carry the mask for the
    /// layers after. To mask the steps, pass the mask explicitly with
    /// [`LayerRef::call_with_initial_state_masked`] (Keras'
    /// `layer(x, initial_state=s, mask=m)`).
    pub fn call_with_initial_state(
        &self,
        input: &Tensor,
        states: &[&Tensor],
    ) -> Result<Vec<Tensor>> {
        self.state_call(input, states, None)
    }

    /// [`LayerRef::call_with_initial_state`] with an explicit mask
    /// (`[batch, time]` bool, true = valid step), which the layer applies.
    pub fn call_with_initial_state_masked(
        &self,
        input: &Tensor,
        states: &[&Tensor],
        mask: &Tensor,
    ) -> Result<Vec<Tensor>> {
        self.state_call(input, states, Some(mask))
    }

    fn state_call(
        &self,
        input: &Tensor,
        states: &[&Tensor],
        mask: Option<&Tensor>,
    ) -> Result<Vec<Tensor>> {
        if !self.read().takes_initial_state() {
            return Err(Error::layer(
                self.name(),
                self.class_name(),
                "takes no initial state: only recurrent layers (LSTM, GRU, SimpleRNN, RNN) \
                 and Bidirectional do",
            ));
        }
        let mut inputs = vec![input.clone()];
        inputs.extend(states.iter().map(|t| (*t).clone()));
        let with_first = |first: Option<Tensor>| -> Vec<Option<Tensor>> {
            std::iter::once(first)
                .chain(states.iter().map(|_| None))
                .collect()
        };
        let call_masks = with_first(mask.cloned());
        // Keras sets the output masks from the sequence's own mask.
        let output_masks = with_first(input.mask().cloned());
        record_call_split_masks(self, &inputs, &call_masks, &output_masks, false)
    }

    /// Calls the layer with keyword options (Keras'
    /// `mha(q, v, return_attention_scores=True)`), the inputs as separate
    /// arguments with the masks they carry, and returns all its outputs.
    pub fn call_with_options(
        &self,
        inputs: &[&Tensor],
        options: super::CallOptions,
    ) -> Result<Vec<Tensor>> {
        let inputs: Vec<Tensor> = inputs.iter().map(|t| (*t).clone()).collect();
        let masks: Vec<Option<Tensor>> = inputs.iter().map(|t| t.mask().cloned()).collect();
        record_call_with_options(self, &inputs, &masks, &masks, false, options)
    }

    /// [`LayerRef::call_with_options`] with the masks given as a loader
    /// read them: those the call receives and those its output masks are
    /// computed from.
    pub fn call_with_options_and_masks(
        &self,
        inputs: &[&Tensor],
        call_masks: &[Option<Tensor>],
        input_masks: &[Option<Tensor>],
        list_input: bool,
        options: super::CallOptions,
    ) -> Result<Vec<Tensor>> {
        let inputs: Vec<Tensor> = inputs.iter().map(|t| (*t).clone()).collect();
        record_call_with_options(self, &inputs, call_masks, input_masks, list_input, options)
    }

    /// Calls the layer with the masks its call receives (`call_masks`) apart
    /// from those its output masks are computed from (`input_masks`), as
    /// Keras records a call with several tensor arguments. Loaders use this.
    pub fn call_with_split_masks(
        &self,
        inputs: &[&Tensor],
        call_masks: &[Option<Tensor>],
        input_masks: &[Option<Tensor>],
        list_input: bool,
    ) -> Result<Vec<Tensor>> {
        let inputs: Vec<Tensor> = inputs.iter().map(|t| (*t).clone()).collect();
        record_call_split_masks(self, &inputs, call_masks, input_masks, list_input)
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

    /// The layer's configuration, with its `name` and, under their keys, the
    /// configurations of the sublayers it nests (`{"class_name", "config"}`,
    /// as Keras nests a wrapper's layer).
    pub fn config(&self) -> serde_json::Value {
        let guard = self.read();
        let mut config = guard.config();
        if let serde_json::Value::Object(map) = &mut config {
            map.insert(
                "name".into(),
                serde_json::Value::String(self.name().to_string()),
            );
            for sub in guard.sublayers() {
                if let Some(key) = sub.config_key {
                    map.insert(
                        key.into(),
                        serde_json::json!({
                            "class_name": sub.layer.class_name(),
                            "config": sub.layer.config(),
                        }),
                    );
                }
            }
        }
        config
    }

    /// Visits every weight in Keras' `get_weights()` order: the layer's own
    /// ([`Layer::params`]), then each sublayer's under its name
    /// (`forward_lstm/lstm_cell/kernel`).
    pub fn visit_params(&self, visitor: &mut ParamVisitor<'_>) {
        self.visit_under("", visitor);
    }

    fn visit_under(&self, prefix: &str, visitor: &mut ParamVisitor<'_>) {
        let subs = {
            let layer = self.read();
            for p in layer.params() {
                visitor(&format!("{prefix}{}", p.name), p);
            }
            layer.sublayers()
        };
        for sub in subs {
            let inner = format!("{prefix}{}/", sub.layer.name());
            sub.layer.visit_under(&inner, visitor);
        }
    }

    /// Visits every weight mutably, in the order of [`LayerRef::visit_params`];
    /// each layer whose weights were visited is told so
    /// ([`Layer::weights_changed`]).
    pub fn visit_params_mut(&self, visitor: &mut ParamVisitorMut<'_>) {
        self.visit_under_mut("", visitor);
    }

    fn visit_under_mut(&self, prefix: &str, visitor: &mut ParamVisitorMut<'_>) {
        let subs = {
            let mut layer = self.write();
            let mut any = false;
            for p in layer.params_mut() {
                let path = format!("{prefix}{}", p.name);
                visitor(&path, p);
                any = true;
            }
            if any {
                layer.weights_changed();
            }
            layer.sublayers()
        };
        for sub in subs {
            let inner = format!("{prefix}{}/", sub.layer.name());
            sub.layer.visit_under_mut(&inner, visitor);
        }
    }

    /// Copies of the weights in Keras' `get_weights()` order.
    pub fn get_weights(&self) -> Vec<ArrayD<f32>> {
        let mut out = Vec::new();
        self.visit_params(&mut |_, p| out.push(p.value.clone()));
        out
    }

    /// Paths (inside the layer), shapes and trainability of the weights, in order.
    pub fn weight_specs(&self) -> Vec<(String, Vec<usize>, bool)> {
        let mut out = Vec::new();
        self.visit_params(&mut |path, p| {
            out.push((path.to_string(), p.value.shape().to_vec(), p.trainable))
        });
        out
    }

    /// Number of scalars in the weights: (trainable, non-trainable).
    pub fn count_params(&self) -> (usize, usize) {
        let (mut trainable, mut frozen) = (0, 0);
        self.visit_params(&mut |_, p| {
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
        self.check_weights(weights)?;
        let mut i = 0;
        self.visit_params_mut(&mut |_, p| {
            if let Some(w) = weights.get(i) {
                p.value.assign(w);
            }
            i += 1;
        });
        Ok(())
    }

    /// [`LayerRef::set_weights`] taking the arrays by value: each is moved
    /// into place instead of copied (loaders, which read them from a file).
    pub fn replace_weights(&self, weights: Vec<ArrayD<f32>>) -> Result<()> {
        self.check_weights(&weights)?;
        let mut weights = weights.into_iter();
        self.visit_params_mut(&mut |_, p| {
            if let Some(w) = weights.next() {
                p.value = w;
            }
        });
        Ok(())
    }

    /// Checks the count and the shapes of a full `get_weights()` list.
    fn check_weights(&self, weights: &[ArrayD<f32>]) -> Result<()> {
        let expected = self.weight_specs();
        if expected.len() != weights.len() {
            let names: Vec<&str> = expected.iter().map(|(n, _, _)| n.as_str()).collect();
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
        for (i, ((path, shape, _), given)) in expected.iter().zip(weights).enumerate() {
            if shape.as_slice() != given.shape() {
                return Err(Error::Weights {
                    layer: self.name().to_string(),
                    message: format!(
                        "array {i}: {path} must have shape {}, got {}",
                        format_dims(shape),
                        format_dims(given.shape())
                    ),
                });
            }
        }
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

    /// Creates the layer and calls it on a sequence from initial states
    /// (see [`LayerRef::call_with_initial_state`]), returning all outputs.
    fn call_with_initial_state(self, input: &Tensor, states: &[&Tensor]) -> Result<Vec<Tensor>> {
        self.into_layer().call_with_initial_state(input, states)
    }

    /// Creates the layer and calls it on a sequence from initial states with
    /// an explicit mask (see [`LayerRef::call_with_initial_state_masked`]).
    fn call_with_initial_state_masked(
        self,
        input: &Tensor,
        states: &[&Tensor],
        mask: &Tensor,
    ) -> Result<Vec<Tensor>> {
        self.into_layer()
            .call_with_initial_state_masked(input, states, mask)
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

    /// Fills in the layer and class of a [`Error::Layer`] that has none yet; one
    /// that names a sublayer already gets the outer layer in front of it, as a
    /// weight path (`bidirectional/forward_lstm`).
    pub fn in_layer(self, name: &str, class: &str) -> Self {
        match self {
            Error::Layer {
                layer,
                class,
                message,
            } if !layer.is_empty() && layer != name && !layer.starts_with(&format!("{name}/")) => {
                Error::Layer {
                    layer: format!("{name}/{layer}"),
                    class,
                    message,
                }
            }
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
