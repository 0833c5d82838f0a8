//! `GaussianNoise` (Keras' `layers.GaussianNoise`): adds zero-mean Gaussian noise in training,
//! the identity at inference.
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

/// Builder and configuration of a `GaussianNoise` layer: adds `N(0, stddev²)` noise to every entry in
/// training; the identity at inference.
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let x = Input::new([4]).build();
/// let y = GaussianNoise::new(0.5).call(&x).unwrap();
/// assert_eq!(y.shape(), x.shape());
/// ```
#[derive(Debug, Clone, Serialize, Deserialize, LayerConfig)]
#[serde(default)]
#[layer(GaussianNoiseLayer, class = "GaussianNoise")]
pub struct GaussianNoise {
    /// Standard deviation of the noise.
    pub stddev: f64,
    /// Seed of the training noise (default none: fresh noise every step).
    pub seed: Option<u64>,
    /// Keras' `trainable` flag (the layer has no weights).
    #[config(default = true)]
    pub trainable: bool,
    /// Name and initial weights.
    #[serde(skip)]
    pub common: Common,
}

impl GaussianNoise {
    /// Adds noise of standard deviation `stddev` in training.
    pub fn new(stddev: f64) -> Self {
        GaussianNoise {
            stddev,
            ..Default::default()
        }
    }
}

/// The `GaussianNoise` layer (no weights).
#[derive(Debug, Default)]
pub struct GaussianNoiseLayer {
    config: GaussianNoise,
}

impl Layer for GaussianNoiseLayer {
    class_and_config!();

    fn build(&mut self, inputs: &[TensorSpec], _ctx: &mut BuildContext) -> Result<()> {
        expect_inputs(inputs, 1)?;
        let v = self.config.stddev;
        if v < 0.0 || !v.is_finite() {
            return Err(Error::invalid(format!(
                "`stddev` must be a non-negative number, got {v}"
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
        let sd = self.config.stddev as f32;
        super::noise_train(inputs, self.config.seed, ctx, |rng, x| {
            (x + sd * super::standard_normal(rng), 1.0)
        })
    }

    fn backward(&self, call: &BackwardCall<'_>) -> Result<LayerGrads> {
        super::noise_backward(call)
    }
}
