//! `GRU`: gated recurrent unit, gates in Keras' order z, r, h.

use serde::{Deserialize, Serialize};
use tensorweave_core::{auto_name, Initializer, IntoLayer, LayerRef};

use super::layer::{Recurrent, RecurrentLayer};
use super::options::{rnn_option_setters, RnnOptions};
use crate::activations::Activation;

/// Builder and configuration of a `GRU` layer (Keras' `layers.GRU`).
///
/// Weights: `kernel [input_dim, 3·units]`, `recurrent_kernel [units, 3·units]`
/// (gate blocks update z, reset r, candidate h) and `bias`, of shape
/// `[2, 3·units]` (input bias, recurrent bias) with `reset_after` (the default)
/// or `[3·units]` without. The new state is `h = z·h_prev + (1 − z)·hh` with
/// `hh = tanh(x_h + r·(h_prev·U_h + b_h))` when the reset gate applies after the
/// matrix product, `hh = tanh(x_h + (r·h_prev)·U_h)` before it.
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let x = Input::new([10, 8]).build();
/// let y = Gru::new(5).reset_after(false).call(&x).unwrap();
/// assert_eq!(y.shape(), &vec![None, Some(5)]);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Gru {
    /// Options shared by every recurrent layer.
    #[serde(flatten)]
    pub options: RnnOptions,
    /// Activation of the update and reset gates (default exact sigmoid).
    pub recurrent_activation: Activation,
    /// Apply the reset gate after the recurrent matrix product (default true,
    /// the cuDNN convention, with separate input and recurrent biases).
    pub reset_after: bool,
}

impl Default for Gru {
    fn default() -> Self {
        Gru {
            options: RnnOptions::default(),
            recurrent_activation: Activation::Sigmoid,
            reset_after: true,
        }
    }
}

impl Gru {
    /// A GRU with `units` units and Keras' defaults.
    pub fn new(units: usize) -> Self {
        Gru {
            options: RnnOptions::with_units(units),
            ..Default::default()
        }
    }

    /// Sets the gates' activation (default exact sigmoid).
    pub fn recurrent_activation(mut self, activation: Activation) -> Self {
        self.recurrent_activation = activation;
        self
    }

    /// Applies the reset gate after (true, default) or before the recurrent
    /// matrix product.
    pub fn reset_after(mut self, reset_after: bool) -> Self {
        self.reset_after = reset_after;
        self
    }
}

rnn_option_setters!(Gru, "gru");

impl IntoLayer for Gru {
    fn into_layer(self) -> LayerRef {
        let name = self
            .options
            .name
            .clone()
            .unwrap_or_else(|| auto_name("GRU"));
        LayerRef::new(name, RecurrentLayer::new(Recurrent::Gru(self)))
    }
}
