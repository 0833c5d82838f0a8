//! `TimeDistributed`: applies a layer (or a whole `Model`) to every timestep.
//!
//! Keras 3.15.1 (`keras/src/layers/rnn/time_distributed.py`) calls the inner
//! layer's `call` once per step of axis 1. The built-in layers work per example,
//! so tensorweave folds the time axis into the batch (`[B, T, ...]` to
//! `[B*T, ...]`), calls the inner layer once and unfolds the result. The inner
//! layer is built directly with the per-step spec (no node is recorded for it,
//! as in Keras); its weights are this layer's, under the inner layer's name.
//! The mask (`[B, T, ...]`) is folded the same way and passed on when the inner
//! layer takes masks; the output mask is the input mask.

use ndarray::{ArrayD, IxDyn};
use serde_json::json;
use tensorweave_core::format_dims;
use tensorweave_core::{
    format_shape, BackwardCall, BuildContext, CallContext, Error, IntoArray, IntoLayer, Layer,
    LayerGrads, LayerRef, LayerRegistry, MaskCall, OutputGrad, Result, Sublayer, Tensor,
    TensorSpec, Trained, Value,
};

use crate::class::{Common, LayerBuilder, LayerClass};
use crate::config::prepare_config;
use tensorweave_core::Inputs;

/// Builder of a `TimeDistributed` wrapper (Keras' `layers.TimeDistributed`).
///
/// The inner layer is anything [`IntoLayer`]: a builder (`Dense::new(2)`), a
/// [`LayerRef`] (to share its weights elsewhere), or a `&Model`.
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let frames = Input::new([10, 4]).build();
/// let y = TimeDistributed::new(Dense::new(2)).call(&frames).unwrap();
/// assert_eq!(y.shape(), &vec![None, Some(10), Some(2)]);
/// assert_eq!(y.layer().weight_specs()[0].0, "dense/kernel");
/// ```
#[derive(Debug, Clone)]
pub struct TimeDistributed {
    /// The wrapped layer or model.
    pub layer: LayerRef,
    /// Name and initial weights (the inner layer's, in its `get_weights()` order).
    pub common: Common,
}

impl TimeDistributed {
    /// Wraps `layer`, applying it to every timestep (axis 1) of the input.
    pub fn new(layer: impl IntoLayer) -> Self {
        TimeDistributed {
            layer: layer.into_layer(),
            common: Common::default(),
        }
    }

    /// Names the wrapper (default `time_distributed`, `time_distributed_1`, …).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.common.name = Some(name.into());
        self
    }

    /// Initial weights of the inner layer, in its `get_weights()` order, set
    /// when the wrapper is built.
    pub fn weights<A: IntoArray>(mut self, weights: impl IntoIterator<Item = A>) -> Self {
        self.common.preset = Some(weights.into_iter().map(|w| w.into_array()).collect());
        self
    }
}

impl LayerBuilder for TimeDistributed {
    fn common(&self) -> &Common {
        &self.common
    }

    fn common_mut(&mut self) -> &mut Common {
        &mut self.common
    }
}

impl IntoLayer for TimeDistributed {
    fn into_layer(self) -> LayerRef {
        crate::class::into_layer::<TimeDistributedLayer>(self)
    }
}

/// The `TimeDistributed` layer itself.
#[derive(Debug)]
pub struct TimeDistributedLayer {
    inner: LayerRef,
    /// The inner layer's outputs per token when an `Embedding` feeds this
    /// layer.
    fold: crate::core_layers::LookupFold,
}

impl TimeDistributedLayer {
    /// The folded table for the `[batch, time]` ids of `lookup`, when the
    /// inner layer maps each vector alone and the fold pays.
    fn folded(
        &self,
        lookup: &LayerRef,
        ids: &Value,
    ) -> Option<std::sync::Arc<ndarray::Array2<f32>>> {
        if ids.shape().len() != 2 {
            return None;
        }
        let inner = self.inner.read();
        if inner.time_role() != tensorweave_core::TimeRole::PerVector {
            return None;
        }
        let width = |dim: usize| {
            let specs = inner
                .output_specs(&[TensorSpec::f32(vec![None, Some(dim)])])
                .ok()?;
            match specs.as_slice() {
                [spec] => match spec.shape.as_slice() {
                    [_, Some(w)] => Some(*w),
                    _ => None,
                },
                _ => None,
            }
        };
        self.fold
            .table(lookup, ids, self.inner.generation(), &[], width, |rows| {
                crate::core_layers::call_on_rows(&*inner, rows)
            })
    }
}

impl LayerClass for TimeDistributedLayer {
    const CLASS_NAME: &'static str = "TimeDistributed";
    type Builder = TimeDistributed;

    fn from_builder(builder: TimeDistributed) -> Self {
        TimeDistributedLayer {
            inner: builder.layer,
            fold: Default::default(),
        }
    }

    /// The nested `layer` (any registered layer, or a nested `Functional`) is
    /// created through the registry.
    fn from_config(config: &serde_json::Value, registry: &LayerRegistry) -> Result<LayerRef> {
        let (name, config) = prepare_config(Self::CLASS_NAME, config)?;
        let shown = name.as_deref().unwrap_or("?");
        let inner = config.get("layer").ok_or_else(|| {
            Error::layer(shown, Self::CLASS_NAME, "the config has no `layer` to wrap")
        })?;
        let mut builder = TimeDistributed::new(&registry.create(inner)?);
        builder.common.name = name;
        Ok(builder.into_layer())
    }
}

impl TimeDistributedLayer {
    /// The wrapped layer.
    pub fn inner(&self) -> &LayerRef {
        &self.inner
    }

    /// The spec of one timestep: `[B*T, ...]` (unknown if B or T is).
    fn step_spec(spec: &TensorSpec) -> Result<TensorSpec> {
        if spec.rank() < 3 {
            return Err(Error::invalid(format!(
                "`TimeDistributed` needs inputs with at least 3 axes (batch, time, ...), \
                 got shape {}",
                format_shape(&spec.shape)
            )));
        }
        let batch = match (spec.shape[0], spec.shape[1]) {
            (Some(b), Some(t)) => Some(b.checked_mul(t).ok_or_else(|| {
                Error::invalid(format!(
                    "batch {b} times {t} steps overflows; input shape {}",
                    format_shape(&spec.shape)
                ))
            })?),
            _ => None,
        };
        let mut shape = vec![batch];
        shape.extend_from_slice(&spec.shape[2..]);
        Ok(TensorSpec::new(shape, spec.dtype))
    }

    fn inner_error(&self, e: Error) -> Error {
        match e {
            Error::Layer {
                layer,
                class,
                message,
            } if layer.is_empty() => Error::invalid(format!(
                "inner layer '{}' ({}): {message}",
                self.inner.name(),
                if class.is_empty() {
                    self.inner.class_name()
                } else {
                    &class
                }
            )),
            Error::Layer {
                layer,
                class,
                message,
            } => Error::invalid(format!("inner layer '{layer}' ({class}): {message}")),
            other => Error::invalid(format!("inner layer '{}': {other}", self.inner.name())),
        }
    }
}

/// `[B, T, ...]` to `[B*T, ...]`.
fn fold<A: Clone>(a: &ArrayD<A>) -> Result<ArrayD<A>> {
    let shape = a.shape();
    if shape.len() < 2 {
        return Err(Error::invalid(format!(
            "expected an array with batch and time axes, got shape {}",
            format_dims(shape)
        )));
    }
    let mut folded = vec![shape[0] * shape[1]];
    folded.extend_from_slice(&shape[2..]);
    a.as_standard_layout()
        .into_owned()
        .into_shape_with_order(IxDyn(&folded))
        .map_err(|e| Error::invalid(format!("cannot fold the time axis: {e}")))
}

/// `[B*T, ...]` to `[B, T, ...]`.
fn unfold<A: Clone>(a: ArrayD<A>, batch: usize, steps: usize) -> Result<ArrayD<A>> {
    let shape = a.shape().to_vec();
    if shape.first() != Some(&(batch * steps)) {
        return Err(Error::invalid(format!(
            "the inner layer returned shape {} for {batch}x{steps} folded steps",
            format_dims(&shape)
        )));
    }
    let mut unfolded = vec![batch, steps];
    unfolded.extend_from_slice(&shape[1..]);
    a.as_standard_layout()
        .into_owned()
        .into_shape_with_order(IxDyn(&unfolded))
        .map_err(|e| Error::invalid(format!("cannot unfold the time axis: {e}")))
}

fn map_value(
    v: &Value,
    f32_fn: impl Fn(&ArrayD<f32>) -> Result<ArrayD<f32>>,
    i32_fn: impl Fn(&ArrayD<i32>) -> Result<ArrayD<i32>>,
    bool_fn: impl Fn(&ArrayD<bool>) -> Result<ArrayD<bool>>,
) -> Result<Value> {
    Ok(match v {
        Value::F32(a) => Value::F32(f32_fn(a)?),
        Value::I32(a) => Value::I32(i32_fn(a)?),
        Value::Bool(a) => Value::Bool(bool_fn(a)?),
        Value::Str(a) => Value::Str(fold(a)?),
    })
}

fn fold_value(v: &Value) -> Result<Value> {
    map_value(v, fold, fold, fold)
}

fn unfold_value(v: Value, batch: usize, steps: usize) -> Result<Value> {
    Ok(match v {
        Value::F32(a) => Value::F32(unfold(a, batch, steps)?),
        Value::I32(a) => Value::I32(unfold(a, batch, steps)?),
        Value::Bool(a) => Value::Bool(unfold(a, batch, steps)?),
        Value::Str(a) => Value::Str(unfold(a, batch, steps)?),
    })
}

fn check_mask_shape(mask: &[Option<usize>], input: &[Option<usize>]) -> Result<()> {
    let clash = |i: usize| match (
        mask.get(i).copied().flatten(),
        input.get(i).copied().flatten(),
    ) {
        (Some(m), Some(x)) => m != x,
        _ => false,
    };
    if mask.len() < 2 || clash(0) || clash(1) {
        return Err(Error::invalid(format!(
            "the mask passed to `TimeDistributed` has shape {}, incompatible with the input \
             shape {}: its first two axes (batch, timesteps) must match the input's",
            format_shape(mask),
            format_shape(input)
        )));
    }
    Ok(())
}

/// What a training call of the inner layer on folded inputs keeps.
struct FoldedCall {
    x: Value,
    mask: Option<Value>,
    outputs: Vec<Value>,
    saved: tensorweave_core::Saved,
    batch: usize,
    steps: usize,
}

impl TimeDistributedLayer {
    /// The input folded to `[B*T, ...]`, its mask folded when the inner layer
    /// reads masks, and `(B, T)`.
    fn folded_inputs(&self, inputs: &Inputs<'_>) -> Result<(Value, Option<Value>, usize, usize)> {
        let masks = inputs.masks();
        let [x] = inputs.values() else {
            return Err(Error::invalid(format!(
                "expects 1 input array, got {}",
                inputs.len()
            )));
        };
        let (batch, steps) = match x.shape() {
            [b, t, _, ..] => (*b, *t),
            other => {
                return Err(Error::invalid(format!(
                    "`TimeDistributed` needs arrays with at least 3 axes, got shape {}",
                    format_dims(other)
                )))
            }
        };
        let inner = self.inner.read();
        let mask = match masks.first().copied().flatten() {
            Some(m) => {
                let known = |s: &[usize]| s.iter().map(|&d| Some(d)).collect::<Vec<_>>();
                check_mask_shape(&known(m.shape()), &known(x.shape()))?;
                inner.uses_mask().then(|| fold_value(m)).transpose()?
            }
            None => None,
        };
        Ok((fold_value(x)?, mask, batch, steps))
    }
}

impl Layer for TimeDistributedLayer {
    fn class_name(&self) -> &str {
        Self::CLASS_NAME
    }

    fn config(&self) -> serde_json::Value {
        json!({ "trainable": true })
    }

    fn build(&mut self, inputs: &[TensorSpec], ctx: &mut BuildContext) -> Result<()> {
        let [spec] = inputs else {
            return Err(Error::invalid(format!(
                "expects 1 input tensor, got {}",
                inputs.len()
            )));
        };
        let step = Self::step_spec(spec)?;
        self.inner
            .build_with(std::slice::from_ref(&step), ctx)
            .map_err(|e| self.inner_error(e))
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        let [spec] = inputs else {
            return Err(Error::invalid(format!(
                "expects 1 input tensor, got {}",
                inputs.len()
            )));
        };
        let step = Self::step_spec(spec)?;
        let outs = self
            .inner
            .read()
            .output_specs(std::slice::from_ref(&step))
            .map_err(|e| self.inner_error(e))?;
        let [out] = outs.as_slice() else {
            return Err(Error::invalid(format!(
                "the inner layer '{}' gives {} outputs for one step; `TimeDistributed` \
                 wraps layers with exactly one output",
                self.inner.name(),
                outs.len()
            )));
        };
        let mut shape = vec![spec.shape[0], spec.shape[1]];
        shape.extend_from_slice(out.shape.get(1..).unwrap_or(&[]));
        Ok(vec![TensorSpec::new(shape, out.dtype)])
    }

    fn time_role(&self) -> tensorweave_core::TimeRole {
        // The wrapped layer runs on each step alone.
        tensorweave_core::TimeRole::PerVector
    }

    fn uses_mask(&self) -> bool {
        true
    }

    fn compute_mask(&self, call: &MaskCall<'_>) -> Result<Vec<Option<Tensor>>> {
        let (inputs, masks, n_outputs) = (call.inputs, call.masks, call.n_outputs);
        let mask = masks.first().cloned().flatten();
        if let (Some(m), Some(x)) = (&mask, inputs.first()) {
            check_mask_shape(m.shape(), x.shape())?;
        }
        Ok(vec![mask; n_outputs])
    }

    fn call(&self, inputs: &Inputs<'_>, ctx: &CallContext) -> Result<Vec<Value>> {
        let (folded, mask, batch, steps) = self.folded_inputs(inputs)?;
        let inner = self.inner.read();
        let mut outs = inner
            .call(&Inputs::new(vec![&folded], vec![mask.as_ref()]), ctx)
            .map_err(|e| self.inner_error(e))?;
        if outs.len() != 1 {
            return Err(Error::invalid(format!(
                "the inner layer '{}' returned {} outputs; `TimeDistributed` wraps layers \
                 with exactly one output",
                self.inner.name(),
                outs.len()
            )));
        }
        Ok(vec![unfold_value(outs.remove(0), batch, steps)?])
    }

    /// After an `Embedding` of `[batch, time]` ids, an inner layer that maps
    /// each vector alone (`TimeRole::PerVector`, e.g. `Dense`) gives a table
    /// of its outputs per token, and the call is a row gather
    /// (`core_layers/lookup_fold.rs` gives the rule).
    fn accepts_lookup(&self, lookup: &LayerRef, ids: &Value) -> bool {
        self.folded(lookup, ids).is_some()
    }

    fn call_on_lookup(
        &self,
        lookup: &LayerRef,
        inputs: &Inputs<'_>,
        _ctx: &CallContext,
    ) -> Result<Vec<Value>> {
        crate::core_layers::folded_call(inputs, |ids| self.folded(lookup, ids))
    }

    fn cache_bytes(&self) -> usize {
        self.fold.bytes() + self.inner.read().cache_bytes()
    }

    fn has_backward(&self) -> bool {
        self.inner.read().has_backward()
    }

    /// The inner layer's training call on the folded `[B*T, ...]` input. Its
    /// logits are not passed on: Keras' reshape of the output drops them.
    fn call_train(&self, inputs: &Inputs<'_>, ctx: &CallContext) -> Result<Trained> {
        let (x, mask, batch, steps) = self.folded_inputs(inputs)?;
        let inner = self.inner.read();
        let trained = inner
            .call_train(&Inputs::new(vec![&x], vec![mask.as_ref()]), ctx)
            .map_err(|e| self.inner_error(e))?;
        let out = trained
            .outputs
            .first()
            .cloned()
            .ok_or_else(|| Error::invalid("the inner layer returned no output"))?;
        let y = unfold_value(out, batch, steps)?;
        let saved = FoldedCall {
            x,
            mask,
            outputs: trained.outputs,
            saved: trained.saved,
            batch,
            steps,
        };
        let mut result = Trained::with_saved(vec![y], saved);
        let name = self.inner.name().to_string();
        result.updates = trained
            .updates
            .into_iter()
            .map(|(w, v)| (format!("{name}/{w}"), v))
            .collect();
        Ok(result)
    }

    fn backward(&self, call: &BackwardCall<'_>) -> Result<LayerGrads> {
        let Some(gy) = call.value_grad(0)? else {
            return Ok(LayerGrads::inputs(vec![None]));
        };
        let f = call.saved::<FoldedCall>()?;
        let folded_gy = fold_value(&Value::F32(gy.clone()))?.into_f32()?;
        let inputs = Inputs::new(vec![&f.x], vec![f.mask.as_ref()]);
        let grads = [OutputGrad::of_value(folded_gy)];
        let inner_call = BackwardCall {
            inputs: &inputs,
            outputs: &f.outputs,
            saved: f.saved.as_ref(),
            grads: &grads,
            ctx: call.ctx,
        };
        let inner = self.inner.read();
        let result = inner
            .backward(&inner_call)
            .map_err(|e| self.inner_error(e))?;
        let gx = match result.inputs.into_iter().next().flatten() {
            Some(g) => Some(unfold_value(Value::F32(g), f.batch, f.steps)?.into_f32()?),
            None => None,
        };
        let name = self.inner.name();
        Ok(LayerGrads {
            inputs: vec![gx],
            params: result
                .params
                .into_iter()
                .map(|(p, g)| (format!("{name}/{p}"), g))
                .collect(),
        })
    }

    fn sublayers(&self) -> Vec<Sublayer> {
        vec![Sublayer::nested("layer", self.inner.clone())]
    }
}

#[cfg(test)]
mod tests {
    use ndarray::{array, ArrayD, IxDyn};

    use crate::prelude::*;

    /// Dense(2) with kernel `[[1, 0], [0, 1], [1, 1]]`, bias `[0.5, -0.5]` on each
    /// step: `[x0 + x2 + 0.5, x1 + x2 - 0.5]`.
    #[test]
    fn applies_a_dense_layer_to_every_step() {
        reset_names();
        let frames = Input::new([2, 3]).build();
        let td = TimeDistributed::new(Dense::new(2).weights(vec![
            array![[1.0f32, 0.0], [0.0, 1.0], [1.0, 1.0]].into_dyn(),
            array![0.5f32, -0.5].into_dyn(),
        ]));
        let y = td.call(&frames).unwrap();
        assert_eq!(y.shape(), &vec![None, Some(2), Some(2)]);
        assert_eq!(y.layer().name(), "time_distributed");
        assert_eq!(y.layer().class_name(), "TimeDistributed");
        let paths: Vec<String> = y.layer().weight_specs().into_iter().map(|w| w.0).collect();
        assert_eq!(paths, ["dense/kernel", "dense/bias"]);
        assert_eq!(y.layer().config()["layer"]["class_name"], "Dense");
        let model = Model::new(&[frames], &[y]).unwrap();
        let x: Value = array![
            [[1.0f32, 2.0, 3.0], [0.0, -1.0, 1.0]],
            [[0.0, 0.0, 0.0], [2.0, 2.0, 2.0]]
        ]
        .into();
        let got = model.predict(&[x]).unwrap();
        let expected = array![[[4.5f32, 4.5], [1.5, -0.5]], [[0.5, -0.5], [4.5, 3.5]]];
        assert_eq!(got[0], Value::F32(expected.into_dyn()));
    }

    /// A sentence encoder `Model` (Embedding(5, 2, mask_zero) -> Dense(1)) over
    /// each sentence of a document. Table row `i` is `[i, 10 i]`, kernel
    /// `[[1], [0.5]]`, so a word `i` gives `6 i`; the first sentence `[1, 2]`
    /// gives `[[6], [12]]`.
    #[test]
    fn applies_a_model_to_every_step() {
        reset_names();
        let words = Input::new([2]).dtype(DType::I32).name("words").build();
        let table = ArrayD::from_shape_fn(IxDyn(&[5, 2]), |i| (i[0] * (1 + 9 * i[1])) as f32);
        let e = Embedding::new(5, 2)
            .mask_zero(true)
            .weights(table)
            .call(&words)
            .unwrap();
        let h = Dense::new(1)
            .weights(vec![
                array![[1.0f32], [0.5]].into_dyn(),
                array![0.0f32].into_dyn(),
            ])
            .call(&e)
            .unwrap();
        let encoder = Model::with_name("encoder", &[words], &[h]).unwrap();

        let doc = Input::new([3, 2]).dtype(DType::I32).build();
        let y = TimeDistributed::new(&encoder).call(&doc).unwrap();
        assert_eq!(y.shape(), &vec![None, Some(3), Some(2), Some(1)]);
        assert!(y.mask().is_none());
        assert_eq!(y.layer().config()["layer"]["class_name"], "Functional");
        let paths: Vec<String> = y.layer().weight_specs().into_iter().map(|w| w.0).collect();
        assert_eq!(
            paths,
            [
                "encoder/embedding/embeddings",
                "encoder/dense/kernel",
                "encoder/dense/bias"
            ]
        );
        let model = Model::new(&[doc], &[y]).unwrap();
        let got = model
            .predict(&[array![[[1, 2], [0, 3], [4, 0]]].into()])
            .unwrap();
        let expected = array![[[[6.0f32], [12.0]], [[0.0], [18.0]], [[24.0], [0.0]]]];
        assert_eq!(got[0], Value::F32(expected.into_dyn()));
    }

    /// With a masked input the output mask is the input mask (Keras 3.15.1's
    /// TimeDistributed keeps the default `compute_mask`), and a wrapped layer
    /// that takes masks gets the per-step mask: BatchNormalization checks that
    /// it has one axis less than its (folded) input.
    #[test]
    fn masks_pass_through_and_reach_inner_layers_that_take_them() {
        let tokens = Input::new([3]).dtype(DType::I32).build();
        let e = Embedding::new(4, 2).mask_zero(true).call(&tokens).unwrap();
        let y = TimeDistributed::new(Dense::new(3)).call(&e).unwrap();
        assert_eq!(y.mask(), e.mask());
        assert_eq!(y.node().masks()[0].as_ref(), e.mask());
        let z = TimeDistributed::new(BatchNormalization::new())
            .call(&y)
            .unwrap();
        assert_eq!(z.mask(), e.mask());
        let model = Model::new(&[tokens], &[z]).unwrap();
        let out = model
            .predict(&[array![[1, 0, 3], [0, 0, 2]].into()])
            .unwrap();
        assert_eq!(out[0].shape(), &[2, 3, 3]);
    }

    #[test]
    fn shares_weights_with_a_layer_ref_and_builds_it_once() {
        let dense = Dense::new(2).into_layer();
        let x = Input::new([4, 3]).build();
        let y = TimeDistributed::new(&dense).call(&x).unwrap();
        assert!(dense.is_built());
        assert_eq!(dense.weight_specs()[0].1, vec![3, 2]);
        // No node of the inner layer was recorded.
        assert_eq!(y.node().inputs()[0], x);
        let flat = Input::new([3]).build();
        assert!(dense.call(&flat).is_ok());
        assert_eq!(y.layer().count_params(), (8, 0));
    }

    #[test]
    fn weights_preset_and_errors() {
        let x = Input::new([4, 3]).build();
        let y = TimeDistributed::new(Dense::new(1))
            .weights(vec![
                ArrayD::ones(IxDyn(&[3, 1])),
                ArrayD::zeros(IxDyn(&[1])),
            ])
            .call(&x)
            .unwrap();
        assert_eq!(
            y.layer().get_weights()[0],
            ArrayD::<f32>::ones(IxDyn(&[3, 1]))
        );

        let flat = Input::new([3]).build();
        let err = TimeDistributed::new(Dense::new(1))
            .call(&flat)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("at least 3 axes") && err.contains("(None, 3)"),
            "{err}"
        );

        let a = Input::new([3]).build();
        let two = Model::new(std::slice::from_ref(&a), &[a.clone(), a.clone()]).unwrap();
        let err = TimeDistributed::new(&two).call(&x).unwrap_err().to_string();
        assert!(err.contains("exactly one output"), "{err}");

        let ids = Input::new([4, 2]).dtype(DType::I32).build();
        let err = TimeDistributed::new(Dense::new(1))
            .call(&ids)
            .unwrap_err()
            .to_string();
        assert!(err.contains("inner layer 'dense"), "{err}");
    }
}
