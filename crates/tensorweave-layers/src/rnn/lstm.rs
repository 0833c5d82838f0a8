//! `LSTM`: long short-term memory, gates in Keras' order i, f, c, o.

use serde::{Deserialize, Serialize};
use tensorweave_core::{auto_name, Initializer, IntoLayer, LayerRef};

use super::layer::{Recurrent, RecurrentLayer};
use super::options::{rnn_option_setters, RnnOptions};
use crate::activations::Activation;

/// Builder and configuration of an `LSTM` layer (Keras' `layers.LSTM`).
///
/// Weights: `kernel [input_dim, 4·units]`, `recurrent_kernel [units, 4·units]`,
/// `bias [4·units]`, gate blocks in the order input, forget, candidate, output.
/// One step computes `z = x·kernel + h·recurrent_kernel + bias`,
/// `c = σ(z_f)·c + σ(z_i)·tanh(z_c)`, `h = σ(z_o)·tanh(c)`.
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let x = Input::new([None, Some(8)]).build();
/// let outs = Lstm::new(4).return_sequences(true).return_state(true).call_all(&x).unwrap();
/// assert_eq!(outs[0].shape(), &vec![None, None, Some(4)]);
/// assert_eq!(outs.len(), 3); // output, h, c
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Lstm {
    /// Options shared by every recurrent layer.
    #[serde(flatten)]
    pub options: RnnOptions,
    /// Activation of the input, forget and output gates (default exact sigmoid).
    pub recurrent_activation: Activation,
    /// Initialise the forget-gate bias to ones (default true): the bias starts as
    /// `[init(u), ones(u), init(2u)]`.
    pub unit_forget_bias: bool,
}

impl Default for Lstm {
    fn default() -> Self {
        Lstm {
            options: RnnOptions::default(),
            recurrent_activation: Activation::Sigmoid,
            unit_forget_bias: true,
        }
    }
}

impl Lstm {
    /// An LSTM with `units` units and Keras' defaults.
    pub fn new(units: usize) -> Self {
        Lstm {
            options: RnnOptions::with_units(units),
            ..Default::default()
        }
    }

    /// Sets the gates' activation (default exact sigmoid).
    pub fn recurrent_activation(mut self, activation: Activation) -> Self {
        self.recurrent_activation = activation;
        self
    }

    /// Starts the forget-gate bias at one (default true).
    pub fn unit_forget_bias(mut self, unit_forget_bias: bool) -> Self {
        self.unit_forget_bias = unit_forget_bias;
        self
    }
}

rnn_option_setters!(Lstm, "lstm");

impl IntoLayer for Lstm {
    fn into_layer(self) -> LayerRef {
        let name = self
            .options
            .name
            .clone()
            .unwrap_or_else(|| auto_name("LSTM"));
        LayerRef::new(name, RecurrentLayer::new(Recurrent::Lstm(self)))
    }
}
