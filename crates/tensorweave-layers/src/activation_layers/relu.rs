//! `ReLU` (Keras' `layers.ReLU`): `max(x, 0)` with an optional cap, threshold
//! and slope below the threshold.

use serde::{Deserialize, Serialize};
use tensorweave_core::{Error, Layer, Result};
use tensorweave_derive::LayerConfig;

use super::elementwise::elementwise_layer;
use crate::class::Common;
use crate::class_and_config;

/// Builder and configuration of a `ReLU` layer (Keras' `layers.ReLU`):
/// `x` above `threshold` (capped at `max_value`), `negative_slope · (x -
/// threshold)` below it. Masks pass through.
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let x = Input::new([4]).build();
/// let y = Relu::new().max_value(6.0).call(&x).unwrap();
/// assert_eq!(y.layer().class_name(), "ReLU");
/// ```
#[derive(Debug, Clone, Serialize, Deserialize, LayerConfig)]
#[serde(default)]
#[layer(ReluLayer, class = "ReLU")]
pub struct Relu {
    /// The largest output (default none).
    pub max_value: Option<f32>,
    /// The slope below the threshold (default 0).
    pub negative_slope: f32,
    /// Inputs up to this value are below the threshold (default 0).
    pub threshold: f32,
    /// Keras' `trainable` flag (the layer has no weights).
    #[config(default = true)]
    pub trainable: bool,
    /// Name, seed and initial weights.
    #[serde(skip)]
    pub common: Common,
}

impl Relu {
    /// Keras' defaults: plain `max(x, 0)`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Keras' `activations.relu`: the thresholded part, capped, minus the
    /// slope times `relu(threshold - x)`.
    fn apply(&self, x: f32) -> f32 {
        if x.is_nan() {
            return x; // TensorFlow's relu and its masking product keep NaN.
        }
        let t = self.threshold;
        let mut y = if x > t { x } else { 0.0 };
        if let Some(m) = self.max_value {
            y = y.clamp(0.0, m);
        }
        if self.negative_slope != 0.0 && x < t {
            y -= self.negative_slope * (t - x);
        }
        y
    }

    /// Its derivative as TensorFlow differentiates that expression.
    fn derivative(&self, x: f32) -> f32 {
        let t = self.threshold;
        let mut d = if x > t { 1.0 } else { 0.0 };
        if let Some(m) = self.max_value {
            if x > m {
                d = 0.0;
            }
        }
        if self.negative_slope != 0.0 && x < t {
            d += self.negative_slope;
        }
        d
    }
}

/// The `ReLU` layer itself.
#[derive(Debug, Default)]
pub struct ReluLayer {
    config: Relu,
}

impl Layer for ReluLayer {
    class_and_config!();

    fn build(
        &mut self,
        _inputs: &[tensorweave_core::TensorSpec],
        _ctx: &mut tensorweave_core::BuildContext,
    ) -> Result<()> {
        let c = &self.config;
        if c.max_value.is_some_and(|m| m < 0.0 || m.is_nan())
            || c.negative_slope < 0.0
            || c.negative_slope.is_nan()
            || !c.threshold.is_finite()
        {
            return Err(Error::invalid(format!(
                "max_value ({:?}) and negative_slope ({}) must be non-negative and threshold ({}) finite, as Keras requires",
                c.max_value, c.negative_slope, c.threshold
            )));
        }
        Ok(())
    }

    elementwise_layer!(|this, x| this.config.apply(x), this.config.derivative(x));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relu_follows_keras_formula() {
        let r = Relu {
            max_value: Some(6.0),
            negative_slope: 0.1,
            threshold: 0.5,
            ..Relu::default()
        };
        assert_eq!(r.apply(7.0), 6.0);
        assert_eq!(r.apply(2.0), 2.0);
        assert!((r.apply(-1.5) - (-0.2)).abs() < 1e-6);
        assert_eq!(r.apply(0.5), 0.0);
        assert_eq!(
            (r.derivative(7.0), r.derivative(2.0), r.derivative(0.0)),
            (0.0, 1.0, 0.1)
        );
        assert!(Relu::new().apply(f32::NAN).is_nan());
    }
}
