//! `LeakyReLU` (Keras' `layers.LeakyReLU`): `x` above 0, `negative_slope · x` below.

use serde::{Deserialize, Serialize};
use tensorweave_core::{Error, Layer, Result};
use tensorweave_derive::LayerConfig;

use super::elementwise::elementwise_layer;
use crate::class::Common;
use crate::class_and_config;

/// Builder and configuration of a `LeakyReLU` layer (Keras' `layers.LeakyReLU`,
/// TensorFlow's `leaky_relu`): `x` where `x > 0`, `negative_slope · x`
/// elsewhere. Masks pass through.
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let x = Input::new([4]).build();
/// let y = LeakyRelu::new(0.2).call(&x).unwrap();
/// assert_eq!(y.layer().class_name(), "LeakyReLU");
/// ```
#[derive(Debug, Clone, Serialize, Deserialize, LayerConfig)]
#[serde(default)]
#[layer(LeakyReluLayer, class = "LeakyReLU")]
pub struct LeakyRelu {
    /// The slope below 0 (Keras' default 0.3).
    #[config(default = 0.3)]
    pub negative_slope: f32,
    /// Keras' `trainable` flag (the layer has no weights).
    #[config(default = true)]
    pub trainable: bool,
    /// Name, seed and initial weights.
    #[serde(skip)]
    pub common: Common,
}

impl LeakyRelu {
    /// A layer with this slope below 0.
    pub fn new(negative_slope: f32) -> Self {
        LeakyRelu {
            negative_slope,
            ..Default::default()
        }
    }
}

/// The `LeakyReLU` layer itself.
#[derive(Debug, Default)]
pub struct LeakyReluLayer {
    config: LeakyRelu,
}

impl Layer for LeakyReluLayer {
    class_and_config!();

    fn build(
        &mut self,
        _inputs: &[tensorweave_core::TensorSpec],
        _ctx: &mut tensorweave_core::BuildContext,
    ) -> Result<()> {
        if self.config.negative_slope < 0.0 || self.config.negative_slope.is_nan() {
            return Err(Error::invalid(format!(
                "negative_slope must be non-negative, as Keras requires, got {}",
                self.config.negative_slope
            )));
        }
        Ok(())
    }

    elementwise_layer!(
        |this, x| if x > 0.0 || x.is_nan() {
            x
        } else {
            this.config.negative_slope * x
        },
        if x > 0.0 {
            1.0
        } else {
            this.config.negative_slope
        }
    );
}
