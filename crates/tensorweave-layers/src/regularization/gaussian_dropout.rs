//! `GaussianDropout` (Keras' `layers.GaussianDropout`): multiplies by Gaussian noise of mean 1 in
//! training, the identity at inference.
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

/// Builder and configuration of a `GaussianDropout` layer: multiplies every entry by `N(1, rate / (1 - rate))`
/// noise in training; the identity at inference.
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let x = Input::new([4]).build();
/// let y = GaussianDropout::new(0.3).call(&x).unwrap();
/// assert_eq!(y.shape(), x.shape());
/// ```
#[derive(Debug, Clone, Serialize, Deserialize, LayerConfig)]
#[serde(default)]
#[layer(GaussianDropoutLayer, class = "GaussianDropout")]
pub struct GaussianDropout {
    /// Drop probability, in `[0, 1)`: the noise's variance is `rate / (1 - rate)`.
    pub rate: f64,
    /// Seed of the training noise (default none: fresh noise every step).
    pub seed: Option<u64>,
    /// Keras' `trainable` flag (the layer has no weights).
    #[config(default = true)]
    pub trainable: bool,
    /// Name and initial weights.
    #[serde(skip)]
    pub common: Common,
}

impl GaussianDropout {
    /// Multiplicative noise for the drop probability `rate`.
    pub fn new(rate: f64) -> Self {
        GaussianDropout {
            rate,
            ..Default::default()
        }
    }
}

/// The `GaussianDropout` layer (no weights).
#[derive(Debug, Default)]
pub struct GaussianDropoutLayer {
    config: GaussianDropout,
}

impl Layer for GaussianDropoutLayer {
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
        let sd = (rate / (1.0 - rate)).sqrt() as f32;
        super::noise_train(inputs, self.config.seed, ctx, |rng, x| {
            let n = 1.0 + sd * super::standard_normal(rng);
            (x * n, n)
        })
    }

    fn backward(&self, call: &BackwardCall<'_>) -> Result<LayerGrads> {
        super::noise_backward(call)
    }
}
