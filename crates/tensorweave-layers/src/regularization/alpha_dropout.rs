//! `AlphaDropout` (Keras' `layers.AlphaDropout`): in training, sets entries to SELU's negative
//! saturation value with probability `rate` and rescales so that mean and
//! variance are kept; the identity at inference.
//! It passes masks through unchanged.

use serde::{Deserialize, Serialize};
use tensorweave_core::{
    BackwardCall, BuildContext, CallContext, Error, Layer, LayerGrads, Result, TensorSpec, Trained,
    Value,
};
use tensorweave_derive::LayerConfig;

use crate::class::Common;
use crate::class_and_config;
use crate::util::expect_inputs;
use tensorweave_core::Inputs;

/// Builder and configuration of a `AlphaDropout` layer: dropout for self-normalizing networks (SELU):
/// dropped entries take `-scale·alpha`, then `a·x + b` keeps the mean and
/// variance (Keras' formula); the identity at inference.
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let x = Input::new([4]).build();
/// let y = AlphaDropout::new(0.2).call(&x).unwrap();
/// assert_eq!(y.shape(), x.shape());
/// ```
#[derive(Debug, Clone, Serialize, Deserialize, LayerConfig)]
#[serde(default)]
#[layer(AlphaDropoutLayer, class = "AlphaDropout")]
pub struct AlphaDropout {
    /// Drop probability, in `[0, 1)`.
    pub rate: f64,
    /// Keras' `noise_shape` (kept for the configuration; the noise is per entry).
    #[config(skip)]
    pub noise_shape: Option<Vec<Option<usize>>>,
    /// Seed of the training noise (default none: fresh noise every step).
    pub seed: Option<u64>,
    /// Keras' `trainable` flag (the layer has no weights).
    #[config(default = true)]
    pub trainable: bool,
    /// Name and initial weights.
    #[serde(skip)]
    pub common: Common,
}

impl AlphaDropout {
    /// Alpha dropout with drop probability `rate`.
    pub fn new(rate: f64) -> Self {
        AlphaDropout {
            rate,
            ..Default::default()
        }
    }
}

/// The `AlphaDropout` layer (no weights).
#[derive(Debug, Default)]
pub struct AlphaDropoutLayer {
    config: AlphaDropout,
}

impl Layer for AlphaDropoutLayer {
    class_and_config!();

    fn build(&mut self, inputs: &[TensorSpec], _ctx: &mut BuildContext) -> Result<()> {
        expect_inputs(inputs, 1)?;
        let v = self.config.rate;
        if !(0.0..1.0).contains(&v) {
            return Err(Error::invalid(format!(
                "`rate` must be a number in [0, 1), got {v}"
            )));
        }
        Ok(())
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        expect_inputs(inputs, 1)?;
        Ok(vec![inputs[0].clone()])
    }

    fn propagates_mask(&self) -> bool {
        true
    }

    fn time_role(&self) -> tensorweave_core::TimeRole {
        // An identity at inference.
        tensorweave_core::TimeRole::PerElement
    }

    /// The identity, as in Keras' inference.
    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        Ok(vec![(*inputs.value(0)?).clone()])
    }

    fn has_backward(&self) -> bool {
        true
    }

    fn call_train(&self, inputs: &Inputs<'_>, ctx: &CallContext) -> Result<Trained> {
        let rate = self.config.rate;
        if rate <= 0.0 {
            return super::noise_train(inputs, self.config.seed, ctx, |_, x| (x, 1.0));
        }
        const ALPHA: f64 = 1.673_263_242_354_377_3;
        const SCALE: f64 = 1.050_700_987_355_480_5;
        let alpha_p = -ALPHA * SCALE;
        let a = ((1.0 - rate) * (1.0 + rate * alpha_p * alpha_p)).powf(-0.5);
        let b = -a * alpha_p * rate;
        let (a, b, alpha_p) = (a as f32, b as f32, alpha_p as f32);
        super::noise_train(inputs, self.config.seed, ctx, |rng, x| {
            if rand::Rng::random::<f64>(rng) >= rate {
                (a * x + b, a)
            } else {
                (a * alpha_p + b, 0.0)
            }
        })
    }

    fn backward(&self, call: &BackwardCall<'_>) -> Result<LayerGrads> {
        super::noise_backward(call)
    }
}
