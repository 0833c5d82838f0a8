//! `ELU` (Keras' `layers.ELU`): `x` above 0, `alpha · (exp(x) - 1)` below.

use serde::{Deserialize, Serialize};
use tensorweave_core::Layer;
use tensorweave_derive::LayerConfig;

use super::elementwise::elementwise_layer;
use crate::class::Common;
use crate::class_and_config;

/// Builder and configuration of an `ELU` layer (Keras' `layers.ELU`): `x`
/// where `x > 0`, `alpha · (exp(x) - 1)` elsewhere. Masks pass through.
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let x = Input::new([4]).build();
/// let y = Elu::new(0.7).call(&x).unwrap();
/// assert_eq!(y.layer().class_name(), "ELU");
/// ```
#[derive(Debug, Clone, Serialize, Deserialize, LayerConfig)]
#[serde(default)]
#[layer(EluLayer, class = "ELU")]
pub struct Elu {
    /// The scale of the negative part (Keras' default 1).
    #[config(default = 1.0)]
    pub alpha: f32,
    /// Keras' `trainable` flag (the layer has no weights).
    #[config(default = true)]
    pub trainable: bool,
    /// Name, seed and initial weights.
    #[serde(skip)]
    pub common: Common,
}

impl Elu {
    /// A layer with this `alpha`.
    pub fn new(alpha: f32) -> Self {
        Elu {
            alpha,
            ..Default::default()
        }
    }
}

/// The `ELU` layer itself.
#[derive(Debug, Default)]
pub struct EluLayer {
    config: Elu,
}

impl Layer for EluLayer {
    class_and_config!();

    elementwise_layer!(
        |this, x| if x > 0.0 || x.is_nan() {
            x
        } else {
            this.config.alpha * (x.exp() - 1.0)
        },
        if x > 0.0 {
            1.0
        } else {
            this.config.alpha * x.exp()
        }
    );
}
