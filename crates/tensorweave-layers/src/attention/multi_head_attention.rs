//! `MultiHeadAttention` (Keras' `layers.MultiHeadAttention`) over sequences
//! `[batch, time, features]`: query, key and value projected to `num_heads`
//! heads, scaled dot-product attention per head under the combined masks,
//! and the heads projected back. Each head's products run on strided views
//! of the projections (no per-head copies).
//!
//! Masks combine as in Keras 3.15.1: the query's mask `[B, T, 1]`, the
//! value's `[B, 1, S]`, the key's (when a distinct key is given), the causal
//! mask and `attention_mask`, all and-ed. Keras takes two paths: without
//! `return_attention_scores` (and without training-mode dropout) its fused
//! attention, where a query row that sees no key attends uniformly to all of
//! them; otherwise its explicit softmax, which gives such a row zero weights.
//! Both are reproduced.

use ndarray::{s, Array2, Array3, Array4, ArrayD, ArrayView2, ArrayView3, IxDyn};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};
use tensorweave_core::registry::brief;
use tensorweave_core::{
    format_shape, tensor_input, BackwardCall, BuildContext, CallContext, CallOptions, Error,
    Initializer, Inputs, Layer, LayerGrads, LayerRef, MaskCall, Result, Sublayer, Tensor,
    TensorSpec, Trained, Value,
};
use tensorweave_derive::LayerConfig;

use super::projection::{Projection, ProjectionSpec};
use crate::class::Common;
use crate::class_and_config;

/// Builder and configuration of a `MultiHeadAttention` layer.
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let x = Input::new([Some(5), Some(8)]).build();
/// let mha = MultiHeadAttention::new(2, 4).into_layer();
/// let y = mha.call_many(&[&x, &x]).unwrap(); // self-attention: mha(x, x)
/// assert_eq!(y.shape(), &vec![None, Some(5), Some(8)]);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize, LayerConfig)]
#[serde(default)]
#[layer(MultiHeadAttentionLayer, class = "MultiHeadAttention")]
pub struct MultiHeadAttention {
    /// Number of attention heads.
    #[config(default = 1)]
    pub num_heads: usize,
    /// Size of each head for query and key.
    #[config(default = 1)]
    pub key_dim: usize,
    /// Size of each head for value (default `key_dim`).
    pub value_dim: Option<usize>,
    /// Dropout rate on the attention weights, in training only (default 0).
    pub dropout: f64,
    /// Whether the projections have biases (default true).
    #[config(default = true)]
    pub use_bias: bool,
    /// The output's last axis (default: the query's features), an integer
    /// or a one-element list as Keras writes it.
    pub output_shape: Option<Json>,
    /// The axes attention runs over (Keras' default: the sequence axis).
    pub attention_axes: Option<Json>,
    /// Kernel initializer (default Glorot uniform).
    #[config(default = Initializer::GlorotUniform)]
    pub kernel_initializer: Initializer,
    /// Bias initializer (default zeros).
    #[config(default = Initializer::Zeros)]
    pub bias_initializer: Initializer,
    /// The kernels' regularizer as Keras serializes it (default none).
    pub kernel_regularizer: Option<Json>,
    /// The biases' regularizer (default none).
    pub bias_regularizer: Option<Json>,
    /// Keras' `use_gate` (only `false` is supported).
    pub use_gate: bool,
    /// Keras' `sliding_window` (only none is supported).
    pub sliding_window: Option<Json>,
    /// Seeds the initializers and the dropout (default none).
    pub seed: Option<u64>,
    /// Whether the weights are trainable (default true).
    #[config(default = true)]
    pub trainable: bool,
    /// Name and initial weights.
    #[serde(skip)]
    pub common: Common,
}

impl MultiHeadAttention {
    /// `num_heads` heads of `key_dim` each, with Keras' defaults.
    pub fn new(num_heads: usize, key_dim: usize) -> Self {
        MultiHeadAttention {
            num_heads,
            key_dim,
            ..Default::default()
        }
    }

    fn value_size(&self) -> usize {
        self.value_dim.unwrap_or(self.key_dim)
    }

    /// The output's last axis, if configured.
    fn out_dim(&self) -> Result<Option<usize>> {
        let bad = |v: &Json| {
            Error::invalid(format!(
                "option `output_shape` = {} is not supported: give one integer (the output's \
                 last axis)",
                brief(v)
            ))
        };
        match &self.output_shape {
            None | Some(Json::Null) => Ok(None),
            Some(Json::Number(n)) => n
                .as_u64()
                .map(|d| Some(d as usize))
                .ok_or_else(|| bad(&Json::Number(n.clone()))),
            Some(Json::Array(items)) if items.len() == 1 => items[0]
                .as_u64()
                .map(|d| Some(d as usize))
                .ok_or_else(|| bad(&items[0])),
            Some(other) => Err(bad(other)),
        }
    }

    fn validate(&self) -> Result<()> {
        if self.num_heads == 0 || self.key_dim == 0 || self.value_size() == 0 {
            return Err(Error::invalid(format!(
                "num_heads ({}), key_dim ({}) and value_dim ({}) must be positive",
                self.num_heads,
                self.key_dim,
                self.value_size()
            )));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::invalid(format!(
                "option `dropout` = {} must lie in [0, 1)",
                self.dropout
            )));
        }
        if self.use_gate {
            return Err(Error::invalid(
                "option `use_gate` = true is not supported: gated attention is not implemented",
            ));
        }
        if self.sliding_window.as_ref().is_some_and(|v| !v.is_null()) {
            return Err(Error::invalid(format!(
                "option `sliding_window` = {} is not supported",
                brief(self.sliding_window.as_ref().unwrap_or(&Json::Null))
            )));
        }
        match &self.attention_axes {
            None | Some(Json::Null) => {}
            Some(Json::Array(a)) if a.len() == 1 && matches!(a[0].as_i64(), Some(1 | -2)) => {}
            Some(Json::Number(n)) if matches!(n.as_i64(), Some(1 | -2)) => {}
            Some(other) => {
                return Err(Error::invalid(format!(
                    "option `attention_axes` = {} is not supported: attention runs over the \
                     sequence axis of [batch, time, features] inputs",
                    brief(other)
                )))
            }
        }
        self.out_dim().map(|_| ())
    }
}

/// The `MultiHeadAttention` layer: its configuration and, once built, its
/// four projections (`query`, `key`, `value`, `attention_output`).
#[derive(Debug, Default)]
pub struct MultiHeadAttentionLayer {
    config: MultiHeadAttention,
    projections: Vec<LayerRef>,
}

/// The four projections' attributes in Keras' weights file, and names.
const PROJECTIONS: [(&str, &str); 4] = [
    ("query_dense", "query"),
    ("key_dense", "key"),
    ("value_dense", "value"),
    ("output_dense", "attention_output"),
];

/// Which inputs a call has and what it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CallPlan {
    key: Option<usize>,
    attention_mask: Option<usize>,
    return_scores: bool,
    causal: bool,
}

impl CallPlan {
    fn read(options: Option<&CallOptions>, n_inputs: usize) -> Result<CallPlan> {
        let mut plan = CallPlan {
            key: None,
            attention_mask: None,
            return_scores: false,
            causal: false,
        };
        let mut positional = n_inputs;
        if let Some(options) = options {
            for (key, value) in options {
                let flag = || {
                    value.as_bool().ok_or_else(|| {
                        Error::invalid(format!(
                            "the call argument `{key}` = {} must be true or false",
                            brief(value)
                        ))
                    })
                };
                match key.as_str() {
                    "key" | "attention_mask" => {
                        let i = tensor_input(value).ok_or_else(|| {
                            Error::invalid(format!("the call argument `{key}` must be a tensor"))
                        })?;
                        positional = positional.min(i);
                        if key == "key" {
                            plan.key = Some(i);
                        } else {
                            plan.attention_mask = Some(i);
                        }
                    }
                    "return_attention_scores" => plan.return_scores = flag()?,
                    "use_causal_mask" => plan.causal = flag()?,
                    "training" => {}
                    "query_mask" | "value_mask" | "key_mask" => {
                        return Err(Error::invalid(format!(
                            "the call argument `{key}` is not supported: give the masks with \
                             the tensors (a masking Embedding) or as `attention_mask`"
                        )))
                    }
                    other => {
                        return Err(Error::invalid(format!(
                            "the call argument `{other}` = {} is not supported",
                            brief(value)
                        )))
                    }
                }
            }
        }
        // Positional: query, value, then key and attention_mask if not named.
        match positional {
            2 => {}
            3 if plan.key.is_none() => plan.key = Some(2),
            4 if plan.key.is_none() && plan.attention_mask.is_none() => {
                plan.key = Some(2);
                plan.attention_mask = Some(3);
            }
            n => {
                return Err(Error::invalid(format!(
                    "expects query and value (then optionally key and attention_mask), got {n} \
                     positional input tensor(s)"
                )))
            }
        }
        Ok(plan)
    }
}

impl MultiHeadAttentionLayer {
    /// The configuration.
    pub fn config(&self) -> &MultiHeadAttention {
        &self.config
    }

    fn projection(&self, i: usize) -> Result<tensorweave_core::layer::LayerGuard<'_>> {
        self.projections
            .get(i)
            .map(LayerRef::read)
            .ok_or_else(|| Error::invalid("called before it was built"))
    }

    fn check_specs(&self, inputs: &[TensorSpec], plan: &CallPlan) -> Result<()> {
        let seq = |s: &TensorSpec, what: &str| -> Result<()> {
            if s.rank() != 3 {
                return Err(Error::invalid(format!(
                    "the {what} must be a sequence [batch, time, features], got shape {}",
                    format_shape(&s.shape)
                )));
            }
            crate::util::expect_float(s)
        };
        seq(&inputs[0], "query")?;
        seq(&inputs[1], "value")?;
        if let Some(k) = plan.key {
            seq(&inputs[k], "key")?;
            if inputs[k].shape[1].is_some()
                && inputs[1].shape[1].is_some()
                && inputs[k].shape[1] != inputs[1].shape[1]
            {
                return Err(Error::invalid(format!(
                    "key {} and value {} must have the same time steps",
                    format_shape(&inputs[k].shape),
                    format_shape(&inputs[1].shape)
                )));
            }
        }
        if let Some(m) = plan.attention_mask {
            if inputs[m].rank() != 3 {
                return Err(Error::invalid(format!(
                    "attention_mask must be [batch, query time, value time], got shape {}",
                    format_shape(&inputs[m].shape)
                )));
            }
        }
        Ok(())
    }

    fn out_features(&self, query_features: usize) -> Result<usize> {
        Ok(self.config.out_dim()?.unwrap_or(query_features))
    }
}

impl Layer for MultiHeadAttentionLayer {
    class_and_config!();

    fn build(&mut self, inputs: &[TensorSpec], ctx: &mut BuildContext) -> Result<()> {
        self.config.validate()?;
        let c = &self.config;
        if inputs.len() < 2 {
            return Err(Error::invalid(format!(
                "expects query and value, got {} input tensor(s)",
                inputs.len()
            )));
        }
        let dim = |s: &TensorSpec, what: &str| {
            s.last_dim().ok_or_else(|| {
                Error::invalid(format!(
                    "the {what}'s last axis must be known, got shape {}",
                    format_shape(&s.shape)
                ))
            })
        };
        let (dq, dv) = (dim(&inputs[0], "query")?, dim(&inputs[1], "value")?);
        // The key is the third input when given (a build from the file's
        // shapes has it there; a keyword key is placed the same way).
        let dk = match inputs.get(2) {
            Some(k) if k.rank() == 3 && k.dtype == tensorweave_core::DType::F32 => dim(k, "key")?,
            _ => dv,
        };
        let (n, h, hv) = (c.num_heads, c.key_dim, c.value_size());
        let out = self.out_features(dq)?;
        let bias = |shape: Vec<usize>| c.use_bias.then_some(shape);
        let specs = [
            (vec![dq, n, h], bias(vec![n, h]), 1),
            (vec![dk, n, h], bias(vec![n, h]), 1),
            (vec![dv, n, hv], bias(vec![n, hv]), 1),
            (vec![n, hv, out], bias(vec![out]), 2),
        ];
        let mut projections = Vec::with_capacity(4);
        for ((kernel_shape, bias_shape, in_axes), (_, name)) in specs.into_iter().zip(PROJECTIONS) {
            let p = LayerRef::new(
                name,
                Projection::new(ProjectionSpec {
                    kernel_shape,
                    bias_shape,
                    in_axes,
                    kernel_initializer: c.kernel_initializer.clone(),
                    bias_initializer: c.bias_initializer.clone(),
                    trainable: c.trainable,
                    seed: c.seed,
                }),
            );
            p.build_with(&[], ctx)?;
            projections.push(p);
        }
        self.projections = projections;
        Ok(())
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        self.output_specs_with(inputs, &CallOptions::new())
    }

    fn output_specs_with(
        &self,
        inputs: &[TensorSpec],
        options: &CallOptions,
    ) -> Result<Vec<TensorSpec>> {
        let plan = CallPlan::read(Some(options), inputs.len())?;
        self.check_specs(inputs, &plan)?;
        let q = &inputs[0];
        let out = match q.last_dim() {
            Some(d) => Some(self.out_features(d)?),
            None => self.config.out_dim()?,
        };
        let mut specs = vec![TensorSpec::f32(vec![q.shape[0], q.shape[1], out])];
        if plan.return_scores {
            specs.push(TensorSpec::f32(vec![
                q.shape[0],
                Some(self.config.num_heads),
                q.shape[1],
                inputs[1].shape[1],
            ]));
        }
        Ok(specs)
    }

    fn uses_mask(&self) -> bool {
        true
    }

    /// The output carries the query's mask (Keras sets it on the output).
    fn compute_mask(&self, call: &MaskCall<'_>) -> Result<Vec<Option<Tensor>>> {
        let mut out = vec![None; call.n_outputs];
        if let Some(first) = out.first_mut() {
            *first = call.first_mask();
        }
        Ok(out)
    }

    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        let run = self.forward(inputs, None)?;
        Ok(run.outputs())
    }

    fn has_backward(&self) -> bool {
        true
    }

    fn call_train(&self, inputs: &Inputs<'_>, ctx: &CallContext) -> Result<Trained> {
        let run = self.forward(inputs, Some(ctx))?;
        Ok(Trained::with_saved(run.outputs(), run))
    }

    fn backward(&self, call: &BackwardCall<'_>) -> Result<LayerGrads> {
        let run = call.saved::<Forward>()?;
        self.backward_from(call, run)
    }

    fn sublayers(&self) -> Vec<Sublayer> {
        self.projections
            .iter()
            .zip(PROJECTIONS)
            .map(|(p, (attribute, _))| Sublayer::part(attribute, p.clone()))
            .collect()
    }

    fn weight_regularizers(&self) -> Vec<(String, Json)> {
        let c = &self.config;
        let mut out = Vec::new();
        for (_, name) in PROJECTIONS {
            out.extend(crate::util::regularizers(&[
                (&format!("{name}/kernel"), &c.kernel_regularizer),
                (&format!("{name}/bias"), &c.bias_regularizer),
            ]));
        }
        out
    }
}

/// A forward pass and what its backward needs.
#[derive(Debug)]
struct Forward {
    plan: CallPlan,
    /// Projected query (scaled), key and value, `[B, T|S, N, H]`.
    q: Array4<f32>,
    k: Array4<f32>,
    v: Array4<f32>,
    /// The attention weights `[B, N, T, S]` (after the mask, before dropout).
    probs: Array4<f32>,
    /// The weights applied to the value (after dropout), when different.
    dropped: Option<Array4<f32>>,
    /// The combined mask `[B, T, S]`, if any.
    mask: Option<Array3<bool>>,
    /// The heads before the output projection, `[B, T, N, Hv]`.
    heads: Array4<f32>,
    output: ArrayD<f32>,
}

impl Forward {
    fn outputs(&self) -> Vec<Value> {
        let mut out = vec![Value::F32(self.output.clone())];
        if self.plan.return_scores {
            out.push(Value::F32(self.probs.clone().into_dyn()));
        }
        out
    }
}

/// The rows `[B·T, D]` of a sequence `[B, T, D]`.
fn rows(x: &ArrayD<f32>) -> Result<Array2<f32>> {
    let (b, t, d) = (x.shape()[0], x.shape()[1], x.shape()[2]);
    x.as_standard_layout()
        .into_owned()
        .into_shape_with_order((b * t, d))
        .map_err(|e| Error::invalid(format!("internal: sequence rows: {e}")))
}

fn mask_2d<'a>(
    v: Option<&'a Value>,
    b: usize,
    t: usize,
    what: &str,
) -> Result<Option<ArrayView2<'a, bool>>> {
    match v {
        None => Ok(None),
        Some(m) => {
            let m = m.as_bool()?;
            let m = m
                .view()
                .into_dimensionality::<ndarray::Ix2>()
                .map_err(|_| Error::invalid(format!("the {what} mask must be [batch, time]")))?;
            if m.dim() != (b, t) {
                return Err(Error::invalid(format!(
                    "the {what} mask has shape {:?}, expected [{b}, {t}]",
                    m.shape()
                )));
            }
            Ok(Some(m))
        }
    }
}

impl MultiHeadAttentionLayer {
    /// The combined mask `[B, T, S]` (none when nothing masks).
    fn combined_mask(
        &self,
        inputs: &Inputs<'_>,
        plan: &CallPlan,
        (b, t, s): (usize, usize, usize),
    ) -> Result<Option<Array3<bool>>> {
        let qm = mask_2d(inputs.mask(0), b, t, "query")?;
        let vm = mask_2d(inputs.mask(1), b, s, "value")?;
        let km = match plan.key {
            Some(k) => mask_2d(inputs.mask(k), b, s, "key")?,
            None => None,
        };
        let am: Option<ArrayView3<'_, bool>> = match plan.attention_mask {
            Some(i) => {
                let a = inputs.value(i)?;
                let a = super::to_bool_3d(a, (b, t, s))?;
                Some(a)
            }
            None => None,
        };
        if qm.is_none() && vm.is_none() && km.is_none() && am.is_none() && !plan.causal {
            return Ok(None);
        }
        let mut m = Array3::from_elem((b, t, s), true);
        for ((bi, ti, si), v) in m.indexed_iter_mut() {
            let mut keep = true;
            if let Some(q) = &qm {
                keep &= q[[bi, ti]];
            }
            if let Some(x) = &vm {
                keep &= x[[bi, si]];
            }
            if let Some(x) = &km {
                keep &= x[[bi, si]];
            }
            if plan.causal {
                keep &= si <= ti;
            }
            *v = keep;
        }
        if let Some(a) = am {
            m.zip_mut_with(&a, |v, &a| *v &= a);
        }
        Ok(Some(m))
    }

    fn forward(&self, inputs: &Inputs<'_>, training: Option<&CallContext>) -> Result<Forward> {
        let plan = CallPlan::read(inputs.options(), inputs.len())?;
        let c = &self.config;
        let query = inputs.f32(0)?;
        let value = inputs.f32(1)?;
        let key = match plan.key {
            Some(k) => inputs.f32(k)?,
            None => value,
        };
        for (x, what) in [(query, "query"), (value, "value"), (key, "key")] {
            if x.ndim() != 3 {
                return Err(Error::invalid(format!(
                    "the {what} must be [batch, time, features], got an array of shape {:?}",
                    x.shape()
                )));
            }
        }
        let (b, t, s) = (query.shape()[0], query.shape()[1], value.shape()[1]);
        if key.shape()[..2] != value.shape()[..2] || value.shape()[0] != b {
            return Err(Error::invalid(format!(
                "query {:?}, value {:?} and key {:?} must share the batch, value and key the time \
                 steps",
                query.shape(),
                value.shape(),
                key.shape()
            )));
        }
        let (n, h, hv) = (c.num_heads, c.key_dim, c.value_size());
        let project =
            |i: usize, x: &ArrayD<f32>, size: usize, steps: usize| -> Result<Array4<f32>> {
                let p = self.projection(i)?;
                let p = p
                    .as_any()
                    .downcast_ref::<Projection>()
                    .ok_or_else(|| Error::invalid("internal: not a projection"))?;
                p.apply(rows(x)?.view())?
                    .into_shape_with_order((b, steps, n, size))
                    .map_err(|e| Error::invalid(format!("internal: heads: {e}")))
            };
        let scale = 1.0 / (h as f32).sqrt();
        let mut q = project(0, query, h, t)?;
        let k = project(1, key, h, s)?;
        let v = project(2, value, hv, s)?;
        let mask = self.combined_mask(inputs, &plan, (b, t, s))?;
        let dropout = training.filter(|_| c.dropout > 0.0);
        // Keras' fused path: no returned scores, no training-mode dropout.
        let fused = !plan.return_scores && dropout.is_none();
        if !fused {
            q.mapv_inplace(|x| x * scale);
        }
        let logit_scale = if fused { scale } else { 1.0 };
        let mut probs = Array4::<f32>::zeros((b, n, t, s));
        for bi in 0..b {
            for ni in 0..n {
                let qv = q.slice(s![bi, .., ni, ..]);
                let kv = k.slice(s![bi, .., ni, ..]);
                let mut logits = qv.dot(&kv.t());
                if logit_scale != 1.0 {
                    logits.mapv_inplace(|x| x * logit_scale);
                }
                for (ti, mut row) in logits.outer_iter_mut().enumerate() {
                    let keep = mask.as_ref().map(|m| m.slice(s![bi, ti, ..]));
                    let mut lane = row.to_vec();
                    if let Some(keep) = &keep {
                        for (x, &k) in lane.iter_mut().zip(keep.iter()) {
                            if !k {
                                *x = if fused { -0.7 * f32::MAX } else { *x - 1e9 };
                            }
                        }
                    }
                    crate::activations::softmax_slice(&mut lane, false);
                    if let (false, Some(keep)) = (fused, &keep) {
                        for (x, &k) in lane.iter_mut().zip(keep.iter()) {
                            if !k {
                                *x = 0.0;
                            }
                        }
                    }
                    row.iter_mut().zip(lane).for_each(|(o, p)| *o = p);
                }
                probs.slice_mut(s![bi, ni, .., ..]).assign(&logits);
            }
        }
        let dropped = match dropout {
            Some(ctx) => {
                let keep = 1.0 - c.dropout;
                let scale_kept = (1.0 / keep) as f32;
                use rand::{Rng, SeedableRng};
                let base = c.seed.unwrap_or(0x5EED);
                let mut rng = rand::rngs::StdRng::seed_from_u64(
                    base ^ ctx.step_seed.wrapping_mul(0x9E37_79B9_7F4A_7C15),
                );
                Some(probs.mapv(|p| {
                    if rng.random::<f64>() < keep {
                        p * scale_kept
                    } else {
                        0.0
                    }
                }))
            }
            None => None,
        };
        let weights = dropped.as_ref().unwrap_or(&probs);
        let mut heads = Array4::<f32>::zeros((b, t, n, hv));
        for bi in 0..b {
            for ni in 0..n {
                let p = weights.slice(s![bi, ni, .., ..]);
                let vv = v.slice(s![bi, .., ni, ..]);
                heads.slice_mut(s![bi, .., ni, ..]).assign(&p.dot(&vv));
            }
        }
        let out_p = self.projection(3)?;
        let out_p = out_p
            .as_any()
            .downcast_ref::<Projection>()
            .ok_or_else(|| Error::invalid("internal: not a projection"))?;
        let flat = heads
            .view()
            .into_shape_with_order((b * t, n * hv))
            .map_err(|e| Error::invalid(format!("internal: heads: {e}")))?;
        let y = out_p.apply(flat)?;
        let o = y.ncols();
        let output = y
            .into_shape_with_order(IxDyn(&[b, t, o]))
            .map_err(|e| Error::invalid(format!("internal: output: {e}")))?;
        Ok(Forward {
            plan,
            q,
            k,
            v,
            probs,
            dropped,
            mask,
            heads,
            output,
        })
    }

    fn backward_from(&self, call: &BackwardCall<'_>, run: &Forward) -> Result<LayerGrads> {
        let n_inputs = call.inputs.len();
        let gy = call.value_grad(0)?;
        let g_scores = if run.plan.return_scores {
            call.value_grad(1)?
        } else {
            None
        };
        if gy.is_none() && g_scores.is_none() {
            return Ok(LayerGrads::inputs(vec![None; n_inputs]));
        }
        let c = &self.config;
        let (b, t, n, hv) = run.heads.dim();
        let (s, h) = (run.k.dim().1, run.k.dim().3);
        let scale = 1.0 / (h as f32).sqrt();
        let fused = !run.plan.return_scores && run.dropped.is_none();
        let proj =
            |i: usize| -> Result<tensorweave_core::layer::LayerGuard<'_>> { self.projection(i) };
        let mut grads = LayerGrads::inputs(vec![None; n_inputs]);
        // Output projection.
        let mut d_heads = Array4::<f32>::zeros((b, t, n, hv));
        if let Some(gy) = gy {
            let guard = proj(3)?;
            let p = guard
                .as_any()
                .downcast_ref::<Projection>()
                .ok_or_else(|| Error::invalid("internal: not a projection"))?;
            let flat = run
                .heads
                .view()
                .into_shape_with_order((b * t, n * hv))
                .map_err(|e| Error::invalid(format!("internal: heads: {e}")))?;
            let g = rows(gy)?;
            let (gx, gk, gb) = p.backward(flat, g.view())?;
            grads = grads.param("attention_output/kernel", gk);
            if let Some(gb) = gb.filter(|_| p.has_bias()) {
                grads = grads.param("attention_output/bias", gb);
            }
            d_heads = gx
                .into_shape_with_order((b, t, n, hv))
                .map_err(|e| Error::invalid(format!("internal: heads gradient: {e}")))?;
        }
        // Attention per head.
        let weights = run.dropped.as_ref().unwrap_or(&run.probs);
        let mut dq = Array4::<f32>::zeros(run.q.raw_dim());
        let mut dk = Array4::<f32>::zeros(run.k.raw_dim());
        let mut dv = Array4::<f32>::zeros(run.v.raw_dim());
        let keep = 1.0 - c.dropout;
        for bi in 0..b {
            for ni in 0..n {
                let dh = d_heads.slice(s![bi, .., ni, ..]);
                let vv = run.v.slice(s![bi, .., ni, ..]);
                let w = weights.slice(s![bi, ni, .., ..]);
                dv.slice_mut(s![bi, .., ni, ..]).assign(&w.t().dot(&dh));
                // Gradient of the weights applied, then of the attention weights.
                let mut dp = dh.dot(&vv.t());
                if let Some(d) = &run.dropped {
                    let d = d.slice(s![bi, ni, .., ..]);
                    let p = run.probs.slice(s![bi, ni, .., ..]);
                    ndarray::Zip::from(&mut dp)
                        .and(&d)
                        .and(&p)
                        .for_each(|g, &d, &p| {
                            // Kept entries were scaled by 1 / keep.
                            *g = if d == 0.0 && p != 0.0 {
                                0.0
                            } else {
                                *g / keep as f32
                            };
                        });
                }
                if let Some(gs) = g_scores {
                    dp += &gs.slice(s![bi, ni, .., ..]);
                }
                let p = run.probs.slice(s![bi, ni, .., ..]);
                let mut dl = Array2::<f32>::zeros((t, s));
                for ti in 0..t {
                    let dot: f32 = (0..s).map(|si| dp[[ti, si]] * p[[ti, si]]).sum();
                    for si in 0..s {
                        let masked = run.mask.as_ref().is_some_and(|m| !m[[bi, ti, si]]);
                        dl[[ti, si]] = if masked {
                            0.0
                        } else {
                            p[[ti, si]] * (dp[[ti, si]] - dot)
                        };
                    }
                }
                if fused {
                    dl.mapv_inplace(|x| x * scale);
                }
                let qv = run.q.slice(s![bi, .., ni, ..]);
                let kv = run.k.slice(s![bi, .., ni, ..]);
                dq.slice_mut(s![bi, .., ni, ..]).assign(&dl.dot(&kv));
                dk.slice_mut(s![bi, .., ni, ..]).assign(&dl.t().dot(&qv));
            }
        }
        if !fused {
            // The query was scaled before the product.
            dq.mapv_inplace(|x| x * scale);
        }
        let query = call.inputs.f32(0)?;
        let value = call.inputs.f32(1)?;
        let key = match run.plan.key {
            Some(k) => call.inputs.f32(k)?,
            None => value,
        };
        let mut input_grads: Vec<Option<ArrayD<f32>>> = vec![None; n_inputs];
        for (i, (x, d, steps, size)) in [(query, dq, t, h), (key, dk, s, h), (value, dv, s, hv)]
            .into_iter()
            .enumerate()
        {
            let guard = proj(i)?;
            let p = guard
                .as_any()
                .downcast_ref::<Projection>()
                .ok_or_else(|| Error::invalid("internal: not a projection"))?;
            let g = d
                .into_shape_with_order((b * steps, n * size))
                .map_err(|e| Error::invalid(format!("internal: head gradient: {e}")))?;
            let (gx, gk, gb) = p.backward(rows(x)?.view(), g.view())?;
            let name = PROJECTIONS[i].1;
            grads = grads.param(&format!("{name}/kernel"), gk);
            if let Some(gb) = gb {
                grads = grads.param(&format!("{name}/bias"), gb);
            }
            let gx = gx
                .into_shape_with_order(IxDyn(x.shape()))
                .map_err(|e| Error::invalid(format!("internal: input gradient: {e}")))?;
            let target = match i {
                0 => 0,
                1 => run.plan.key.unwrap_or(1),
                _ => 1,
            };
            tensorweave_core::layer::add_into(&mut input_grads[target], gx)?;
        }
        grads.inputs = input_grads;
        Ok(grads)
    }
}

/// Calls on a layer's builder or handle with Keras' keyword arguments.
impl MultiHeadAttention {
    /// Creates the layer and calls it: `mha(query, value, key=…,
    /// attention_mask=…, return_attention_scores=…, use_causal_mask=…)`.
    pub fn call_with(
        self,
        query: &Tensor,
        value: &Tensor,
        args: AttentionArgs<'_>,
    ) -> Result<Vec<Tensor>> {
        use tensorweave_core::IntoLayer;
        args.call(&self.into_layer(), query, value)
    }
}

/// The keyword arguments of a `MultiHeadAttention` call.
#[derive(Debug, Clone, Copy, Default)]
pub struct AttentionArgs<'a> {
    /// A key distinct from the value.
    pub key: Option<&'a Tensor>,
    /// A bool mask `[batch, query time, value time]`.
    pub attention_mask: Option<&'a Tensor>,
    /// Also return the attention weights `[batch, heads, query time, value time]`.
    pub return_attention_scores: bool,
    /// Mask the future (a query step attends to value steps up to its own).
    pub use_causal_mask: bool,
}

impl AttentionArgs<'_> {
    /// Calls `layer` (a `MultiHeadAttention`) with these arguments.
    pub fn call(&self, layer: &LayerRef, query: &Tensor, value: &Tensor) -> Result<Vec<Tensor>> {
        let mut inputs = vec![query, value];
        let mut options = CallOptions::new();
        // The key first, then the attention mask (the order a loader uses).
        for (key, t) in [("key", self.key), ("attention_mask", self.attention_mask)] {
            if let Some(t) = t {
                options.insert(
                    key.into(),
                    json!({ tensorweave_core::TENSOR_INPUT_KEY: inputs.len() }),
                );
                inputs.push(t);
            }
        }
        if self.return_attention_scores {
            options.insert("return_attention_scores".into(), Json::Bool(true));
        }
        if self.use_causal_mask {
            options.insert("use_causal_mask".into(), Json::Bool(true));
        }
        layer.call_with_options(&inputs, options)
    }
}
