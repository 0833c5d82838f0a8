//! `AdditiveAttention` (Keras' `layers.AdditiveAttention`, Bahdanau-style):
//! scores `Σ scale · tanh(query + key)` over the features, then as
//! `Attention`. Called on a list `[query, value]` or `[query, value, key]`.

use serde::{Deserialize, Serialize};
use tensorweave_core::{
    BackwardCall, BuildContext, CallContext, CallOptions, Error, Initializer, Inputs, Layer,
    LayerGrads, MaskCall, Param, Result, Tensor, TensorSpec, Trained, Value,
};
use tensorweave_derive::LayerConfig;

use super::attention_layer::{
    attention_call, attention_input_grads, attention_outputs, attention_specs,
};
use super::scores::{self, Score};
use crate::class::Common;
use crate::class_and_config;

/// Builder and configuration of an `AdditiveAttention` layer.
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let q = Input::new([Some(4), Some(6)]).build();
/// let v = Input::new([Some(5), Some(6)]).build();
/// let y = AdditiveAttention::new().call_many(&[&q, &v]).unwrap();
/// assert_eq!(y.shape(), &vec![None, Some(4), Some(6)]);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize, LayerConfig)]
#[serde(default)]
#[layer(AdditiveAttentionLayer, class = "AdditiveAttention")]
pub struct AdditiveAttention {
    /// Whether the per-feature `scale` weight is learned (default true).
    #[config(default = true)]
    pub use_scale: bool,
    /// Dropout on the attention weights, in training only (default 0).
    pub dropout: f64,
    /// Whether the weights are trainable (default true).
    #[config(default = true)]
    pub trainable: bool,
    /// Name, seed and initial weights.
    #[serde(skip)]
    pub common: Common,
}

impl AdditiveAttention {
    /// Additive attention with Keras' defaults.
    pub fn new() -> Self {
        AdditiveAttention::default()
    }
}

/// The `AdditiveAttention` layer: its configuration and, with `use_scale`,
/// its `scale` weight `[features]`.
#[derive(Debug, Default)]
pub struct AdditiveAttentionLayer {
    config: AdditiveAttention,
    scale: Option<Param>,
}

impl AdditiveAttentionLayer {
    fn score(&self) -> Result<Score<'_>> {
        Ok(Score::Additive {
            scale: match &self.scale {
                Some(p) => Some(
                    p.value
                        .view()
                        .into_dimensionality::<ndarray::Ix1>()
                        .map_err(|_| Error::invalid("internal: scale must be 1-D"))?,
                ),
                None => None,
            },
        })
    }
}

impl Layer for AdditiveAttentionLayer {
    class_and_config!();

    fn build(&mut self, inputs: &[TensorSpec], ctx: &mut BuildContext) -> Result<()> {
        let c = &self.config;
        if !(0.0..=1.0).contains(&c.dropout) {
            return Err(Error::invalid(format!(
                "option `dropout` = {} must lie in [0, 1]",
                c.dropout
            )));
        }
        if c.use_scale {
            let dim = inputs
                .get(1)
                .and_then(TensorSpec::last_dim)
                .ok_or_else(|| Error::invalid("the value's last axis must be known"))?;
            let mut rng = tensorweave_core::layer_rng(c.common.seed);
            self.scale = Some(ctx.add_weight(
                "scale",
                &[dim],
                &Initializer::GlorotUniform,
                c.trainable,
                &mut rng,
            )?);
        }
        Ok(())
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        attention_specs(inputs, &CallOptions::new())
    }

    fn output_specs_with(
        &self,
        inputs: &[TensorSpec],
        options: &CallOptions,
    ) -> Result<Vec<TensorSpec>> {
        attention_specs(inputs, options)
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
        let (call, opts) = attention_call(inputs)?;
        let (result, weights) = scores::forward(&self.score()?, &call)?;
        Ok(attention_outputs(result, &weights, opts))
    }

    fn has_backward(&self) -> bool {
        true
    }

    fn call_train(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Trained> {
        if self.config.dropout > 0.0 {
            return Err(Error::invalid(
                "training with `dropout` > 0 on the attention weights is not supported yet; \
                 set dropout=0 (or put a Dropout layer after the attention)",
            ));
        }
        let (call, opts) = attention_call(inputs)?;
        let (result, weights) = scores::forward(&self.score()?, &call)?;
        Ok(Trained::with_saved(
            attention_outputs(result, &weights, opts),
            weights,
        ))
    }

    fn backward(&self, call: &BackwardCall<'_>) -> Result<LayerGrads> {
        let weights = call.saved::<ndarray::Array3<f32>>()?;
        let (c, opts) = attention_call(call.inputs)?;
        let g_result = scores::view3(call.value_grad(0)?)?;
        let g_weights = if opts.return_attention_scores {
            scores::view3(call.value_grad(1)?)?
        } else {
            None
        };
        let g = scores::backward(&self.score()?, &c, weights, g_result, g_weights)?;
        let mut out = LayerGrads::inputs(attention_input_grads(call.inputs.len(), &g));
        if let Some(gs) = g.scale {
            out = out.param("scale", gs.into_dyn());
        }
        Ok(out)
    }

    crate::optional_params!(scale);
}
