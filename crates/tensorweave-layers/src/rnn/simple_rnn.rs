//! `SimpleRNN`: `h = activation(x·kernel + bias + h_prev·recurrent_kernel)`.

use serde::{Deserialize, Serialize};
use tensorweave_core::{auto_name, Initializer, IntoLayer, LayerRef};

use super::layer::{Recurrent, RecurrentLayer};
use super::options::{rnn_option_setters, RnnOptions};
use crate::activations::Activation;

/// Builder and configuration of a `SimpleRNN` layer (Keras' `layers.SimpleRNN`).
///
/// Weights: `kernel [input_dim, units]`, `recurrent_kernel [units, units]`,
/// `bias [units]`.
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let x = Input::new([10, 3]).build();
/// let y = SimpleRnn::new(4)
///     .activation(Activation::Relu)
///     .go_backwards(true)
///     .return_sequences(true)
///     .call(&x)
///     .unwrap();
/// assert_eq!(y.shape(), &vec![None, Some(10), Some(4)]);
/// ```
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SimpleRnn {
    /// Options shared by every recurrent layer.
    #[serde(flatten)]
    pub options: RnnOptions,
}

impl SimpleRnn {
    /// A simple RNN with `units` units and Keras' defaults.
    pub fn new(units: usize) -> Self {
        SimpleRnn {
            options: RnnOptions::with_units(units),
        }
    }
}

rnn_option_setters!(SimpleRnn, "simple_rnn");

impl IntoLayer for SimpleRnn {
    fn into_layer(self) -> LayerRef {
        let name = self
            .options
            .name
            .clone()
            .unwrap_or_else(|| auto_name("SimpleRNN"));
        LayerRef::new(name, RecurrentLayer::new(Recurrent::SimpleRnn(self)))
    }
}
