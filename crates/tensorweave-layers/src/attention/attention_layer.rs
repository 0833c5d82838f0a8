//! `Attention` (Keras' `layers.Attention`): dot-product (Luong) or concat
//! scores between a query and a key, softmax over the value steps, and the
//! weighted sum of the values. Called on a list `[query, value]` or
//! `[query, value, key]`.

use ndarray::{ArrayD, Ix3};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use tensorweave_core::registry::brief;
use tensorweave_core::{
    format_shape, BackwardCall, BuildContext, CallContext, CallOptions, Error, Initializer, Inputs,
    Layer, LayerGrads, LayerRef, MaskCall, Param, Result, Tensor, TensorSpec, Trained, Value,
};
use tensorweave_derive::LayerConfig;

use super::scores::{self, Call, Score};
use crate::class::Common;
use crate::class_and_config;

/// Builder and configuration of an `Attention` layer.
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let q = Input::new([Some(4), Some(6)]).build();
/// let v = Input::new([Some(5), Some(6)]).build();
/// let y = Attention::new().use_scale(true).call_many(&[&q, &v]).unwrap();
/// assert_eq!(y.shape(), &vec![None, Some(4), Some(6)]);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize, LayerConfig)]
#[serde(default)]
#[layer(AttentionLayer, class = "Attention")]
pub struct Attention {
    /// Whether the scores are multiplied by a learned scalar (default false).
    pub use_scale: bool,
    /// `"dot"` (default) or `"concat"`.
    #[config(default = "dot".to_string())]
    pub score_mode: String,
    /// Dropout on the attention weights, in training only (default 0).
    pub dropout: f64,
    /// Seeds the dropout (default none).
    pub seed: Option<u64>,
    /// Whether the weights are trainable (default true).
    #[config(default = true)]
    pub trainable: bool,
    /// Name and initial weights.
    #[serde(skip)]
    pub common: Common,
}

impl Attention {
    /// Dot-product attention with Keras' defaults.
    pub fn new() -> Self {
        Attention::default()
    }
}

/// The keyword options of an `Attention` or `AdditiveAttention` call.
#[derive(Debug, Clone, Copy, Default)]
pub struct AttentionOptions {
    /// Also return the attention weights `[batch, query time, value time]`.
    pub return_attention_scores: bool,
    /// Mask the future (a query step attends to value steps up to its own).
    pub use_causal_mask: bool,
}

impl AttentionOptions {
    /// Calls `layer` on `[query, value]` or `[query, value, key]` with these options.
    pub fn call(&self, layer: &LayerRef, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        let mut options = CallOptions::new();
        if self.return_attention_scores {
            options.insert("return_attention_scores".into(), Json::Bool(true));
        }
        if self.use_causal_mask {
            options.insert("use_causal_mask".into(), Json::Bool(true));
        }
        let masks: Vec<Option<Tensor>> = inputs.iter().map(|t| t.mask().cloned()).collect();
        layer.call_with_options_and_masks(inputs, &masks, &masks, true, options)
    }

    pub(crate) fn read(options: Option<&CallOptions>) -> Result<Self> {
        let mut out = AttentionOptions::default();
        for (key, value) in options.into_iter().flatten() {
            let flag = || {
                value.as_bool().ok_or_else(|| {
                    Error::invalid(format!(
                        "the call argument `{key}` = {} must be true or false",
                        brief(value)
                    ))
                })
            };
            match key.as_str() {
                "return_attention_scores" => out.return_attention_scores = flag()?,
                "use_causal_mask" => out.use_causal_mask = flag()?,
                "training" => {}
                other => {
                    return Err(Error::invalid(format!(
                        "the call argument `{other}` = {} is not supported",
                        brief(value)
                    )))
                }
            }
        }
        Ok(out)
    }
}

/// The specs of `[query, value(, key)]` checked, and the output specs.
pub(crate) fn attention_specs(
    inputs: &[TensorSpec],
    options: &CallOptions,
) -> Result<Vec<TensorSpec>> {
    let opts = AttentionOptions::read(Some(options))?;
    if !(2..=3).contains(&inputs.len()) {
        return Err(Error::invalid(format!(
            "must be called on a list [query, value] or [query, value, key], got {} tensor(s)",
            inputs.len()
        )));
    }
    for s in inputs {
        if s.rank() != 3 {
            return Err(Error::invalid(format!(
                "takes sequences [batch, time, features], got shape {}",
                format_shape(&s.shape)
            )));
        }
        crate::util::expect_float(s)?;
    }
    let (q, v) = (&inputs[0], &inputs[1]);
    let mut out = vec![TensorSpec::f32(vec![q.shape[0], q.shape[1], v.shape[2]])];
    if opts.return_attention_scores {
        out.push(TensorSpec::f32(vec![q.shape[0], q.shape[1], v.shape[1]]));
    }
    Ok(out)
}

/// The arrays of a call, as [`scores`] takes them.
pub(crate) fn attention_call<'a>(inputs: &Inputs<'a>) -> Result<(Call<'a>, AttentionOptions)> {
    let opts = AttentionOptions::read(inputs.options())?;
    let seq = |i: usize| -> Result<ndarray::ArrayView3<'a, f32>> {
        let x = inputs.f32(i)?;
        x.view()
            .into_dimensionality::<Ix3>()
            .map_err(|_| Error::invalid("takes sequences [batch, time, features]"))
    };
    let mask = |i: usize| -> Result<Option<ndarray::ArrayView2<'a, bool>>> {
        match inputs.mask(i) {
            None => Ok(None),
            Some(m) => Ok(Some(
                m.as_bool()?
                    .view()
                    .into_dimensionality::<ndarray::Ix2>()
                    .map_err(|_| Error::invalid("a mask must be [batch, time]"))?,
            )),
        }
    };
    let (q, v) = (seq(0)?, seq(1)?);
    let k = if inputs.len() > 2 { seq(2)? } else { v };
    Ok((
        Call {
            q,
            v,
            k,
            q_mask: mask(0)?,
            v_mask: mask(1)?,
            causal: opts.use_causal_mask,
        },
        opts,
    ))
}

/// The outputs of a call: the result, then the weights if asked for.
pub(crate) fn attention_outputs(
    result: ndarray::Array3<f32>,
    weights: &ndarray::Array3<f32>,
    opts: AttentionOptions,
) -> Vec<Value> {
    let mut out = vec![Value::F32(result.into_dyn())];
    if opts.return_attention_scores {
        out.push(Value::F32(weights.clone().into_dyn()));
    }
    out
}

/// The input gradients of a call (`[query, value(, key)]`; with no key, the
/// key's gradient goes to the value).
pub(crate) fn attention_input_grads(n: usize, g: &scores::Grads) -> Vec<Option<ArrayD<f32>>> {
    let (q, v, k) = (
        g.q.clone().into_dyn(),
        g.v.clone().into_dyn(),
        g.k.clone().into_dyn(),
    );
    if n > 2 {
        vec![Some(q), Some(v), Some(k)]
    } else {
        vec![Some(q), Some(v + k)]
    }
}

/// The `Attention` layer: its configuration and, with `use_scale` or the
/// concat score, its scalar weights (`scale`, `concat_score_weight`).
#[derive(Debug, Default)]
pub struct AttentionLayer {
    config: Attention,
    scale: Option<Param>,
    concat_score_weight: Option<Param>,
}

impl AttentionLayer {
    fn dropout_rate(&self) -> f64 {
        self.config.dropout
    }

    fn score_param_grads(&self, g: &scores::Grads, mut out: LayerGrads) -> LayerGrads {
        if let Some(gs) = &g.scale {
            out = out.param("scale", ndarray::arr0(gs[0]).into_dyn());
        }
        if let Some(gw) = g.weight {
            out = out.param("concat_score_weight", ndarray::arr0(gw).into_dyn());
        }
        out
    }

    fn score(&self) -> Result<Score<'_>> {
        let scalar = |p: &Option<Param>| p.as_ref().and_then(|p| p.value.iter().next().copied());
        Ok(if self.config.score_mode == "concat" {
            Score::Concat {
                scale: scalar(&self.scale),
                weight: scalar(&self.concat_score_weight).unwrap_or(1.0),
            }
        } else {
            Score::Dot {
                scale: scalar(&self.scale),
            }
        })
    }
}

impl Layer for AttentionLayer {
    class_and_config!();

    fn build(&mut self, _inputs: &[TensorSpec], ctx: &mut BuildContext) -> Result<()> {
        let c = &self.config;
        if c.score_mode != "dot" && c.score_mode != "concat" {
            return Err(Error::invalid(format!(
                "option `score_mode` = '{}' is not supported: expected 'dot' or 'concat'",
                c.score_mode
            )));
        }
        if !(0.0..=1.0).contains(&c.dropout) {
            return Err(Error::invalid(format!(
                "option `dropout` = {} must lie in [0, 1]",
                c.dropout
            )));
        }
        let mut rng = tensorweave_core::layer_rng(c.seed);
        if c.use_scale {
            self.scale =
                Some(ctx.add_weight("scale", &[], &Initializer::Ones, c.trainable, &mut rng)?);
        }
        if c.score_mode == "concat" {
            self.concat_score_weight = Some(ctx.add_weight(
                "concat_score_weight",
                &[],
                &Initializer::Ones,
                c.trainable,
                &mut rng,
            )?);
        }
        Ok(())
    }

    scored_attention_methods!();

    crate::optional_params!(scale, concat_score_weight);
}

/// The `Layer` methods `Attention` and `AdditiveAttention` share, over the
/// layer's `score()` (its [`Score`]), `dropout_rate()` and
/// `score_param_grads(grads, out)` (its weights' gradients).
macro_rules! scored_attention_methods {
    () => {
        fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
            $crate::attention::attention_layer::attention_specs(inputs, &CallOptions::new())
        }

        fn output_specs_with(
            &self,
            inputs: &[TensorSpec],
            options: &CallOptions,
        ) -> Result<Vec<TensorSpec>> {
            $crate::attention::attention_layer::attention_specs(inputs, options)
        }

        fn uses_mask(&self) -> bool {
            true
        }

        /// The output carries the query's mask.
        fn compute_mask(&self, call: &MaskCall<'_>) -> Result<Vec<Option<Tensor>>> {
            let mut out = vec![None; call.n_outputs];
            if let Some(first) = out.first_mut() {
                *first = call.first_mask();
            }
            Ok(out)
        }

        fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
            let (call, opts) = $crate::attention::attention_layer::attention_call(inputs)?;
            let (result, weights) = $crate::attention::scores::forward(&self.score()?, &call)?;
            Ok($crate::attention::attention_layer::attention_outputs(
                result, &weights, opts,
            ))
        }

        fn has_backward(&self) -> bool {
            true
        }

        fn call_train(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Trained> {
            if self.dropout_rate() > 0.0 {
                return Err(Error::invalid(
                    "training with `dropout` > 0 on the attention weights is not supported \
                     yet; set dropout=0 (or put a Dropout layer after the attention)",
                ));
            }
            let (call, opts) = $crate::attention::attention_layer::attention_call(inputs)?;
            let (result, weights) = $crate::attention::scores::forward(&self.score()?, &call)?;
            Ok(Trained::with_saved(
                $crate::attention::attention_layer::attention_outputs(result, &weights, opts),
                weights,
            ))
        }

        fn backward(&self, call: &BackwardCall<'_>) -> Result<LayerGrads> {
            use $crate::attention::scores;
            let weights = call.saved::<ndarray::Array3<f32>>()?;
            let (c, opts) = $crate::attention::attention_layer::attention_call(call.inputs)?;
            let g_result = scores::view3(call.value_grad(0)?)?;
            let g_weights = if opts.return_attention_scores {
                scores::view3(call.value_grad(1)?)?
            } else {
                None
            };
            let g = scores::backward(&self.score()?, &c, weights, g_result, g_weights)?;
            let out = LayerGrads::inputs(
                $crate::attention::attention_layer::attention_input_grads(call.inputs.len(), &g),
            );
            Ok(self.score_param_grads(&g, out))
        }
    };
}

pub(crate) use scored_attention_methods;
