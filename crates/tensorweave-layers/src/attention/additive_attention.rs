//! `AdditiveAttention` (Keras' `layers.AdditiveAttention`, Bahdanau-style):
//! scores `Σ scale · tanh(query + key)` over the features, then as
//! `Attention`. Called on a list `[query, value]` or `[query, value, key]`.

use serde::{Deserialize, Serialize};
use tensorweave_core::{
    BackwardCall, BuildContext, CallContext, CallOptions, Error, Initializer, Inputs, Layer,
    LayerGrads, MaskCall, Param, Result, Tensor, TensorSpec, Trained, Value,
};
use tensorweave_derive::LayerConfig;

use super::attention_layer::scored_attention_methods;
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
    fn dropout_rate(&self) -> f64 {
        self.config.dropout
    }

    fn score_param_grads(&self, g: &scores::Grads, mut out: LayerGrads) -> LayerGrads {
        if let Some(gs) = &g.scale {
            out = out.param("scale", gs.clone().into_dyn());
        }
        out
    }

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

    scored_attention_methods!();

    crate::optional_params!(scale);
}
