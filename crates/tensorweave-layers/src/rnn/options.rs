//! The options every recurrent layer shares (Keras' `RNN` base arguments and
//! the common cell arguments), and [`RnnBuilder`], whose provided methods are
//! their setters on every recurrent builder.

use serde::{Deserialize, Serialize};
use tensorweave_core::{Error, Initializer, Result};

use crate::activations::Activation;
use crate::class::LayerBuilder;

/// Options shared by `LSTM`, `GRU` and `SimpleRNN`, with Keras' defaults.
///
/// Builders expose them as setters ([`crate::rnn::Lstm::return_sequences`], …);
/// in a configuration they appear flattened, next to the layer's own keys.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct RnnOptions {
    /// Size of the hidden state (and of the output).
    pub units: usize,
    /// Activation of the candidate state and of the output (default tanh).
    pub activation: Activation,
    /// Whether the cell adds biases (default true).
    pub use_bias: bool,
    /// Initializer of `kernel` (default Glorot uniform).
    pub kernel_initializer: Initializer,
    /// Initializer of `recurrent_kernel` (default orthogonal, gain 1).
    pub recurrent_initializer: Initializer,
    /// Initializer of `bias` (default zeros).
    pub bias_initializer: Initializer,
    /// The regularizers of `kernel`, `recurrent_kernel` and `bias` as Keras
    /// serializes them, added to the training loss (default none).
    pub kernel_regularizer: Option<serde_json::Value>,
    /// See [`RnnOptions::kernel_regularizer`].
    pub recurrent_regularizer: Option<serde_json::Value>,
    /// See [`RnnOptions::kernel_regularizer`].
    pub bias_regularizer: Option<serde_json::Value>,
    /// Keras' `activity_regularizer`: a penalty on the output, divided by
    /// the batch size, added to the training loss (default none).
    pub activity_regularizer: Option<serde_json::Value>,
    /// Fraction of the inputs dropped in training; inference ignores it (default 0).
    pub dropout: f32,
    /// Fraction of the recurrent state dropped in training; inference ignores it (default 0).
    pub recurrent_dropout: f32,
    /// Keras' `seed`: the seed of the training dropout masks, kept in the
    /// configuration (default none: fresh masks at every call). The
    /// builder's `seed` sets it when it is not set itself.
    pub seed: Option<u64>,
    /// Return the output of every step `[batch, time, units]` instead of the
    /// last one `[batch, units]` (default false).
    pub return_sequences: bool,
    /// Also return the final states (default false).
    pub return_state: bool,
    /// Process the steps from last to first; a returned sequence is then in
    /// processing order, i.e. reversed (default false).
    pub go_backwards: bool,
    /// Keep the final states of each call as the initial states of the next
    /// (Keras' `stateful`; the batch size must be fixed; default false).
    pub stateful: bool,
    /// Output zeros at masked steps instead of repeating the previous output
    /// (default false; `Bidirectional` sets it to `return_sequences`).
    pub zero_output_for_mask: bool,
    /// Whether the weights are trainable (default true).
    pub trainable: bool,
}

impl Default for RnnOptions {
    fn default() -> Self {
        RnnOptions {
            units: 1,
            activation: Activation::Tanh,
            use_bias: true,
            kernel_initializer: Initializer::GlorotUniform,
            recurrent_initializer: Initializer::orthogonal(),
            bias_initializer: Initializer::Zeros,
            kernel_regularizer: None,
            recurrent_regularizer: None,
            bias_regularizer: None,
            activity_regularizer: None,
            dropout: 0.0,
            recurrent_dropout: 0.0,
            seed: None,
            return_sequences: false,
            return_state: false,
            go_backwards: false,
            stateful: false,
            zero_output_for_mask: false,
            trainable: true,
        }
    }
}

impl RnnOptions {
    /// Defaults with `units` units.
    pub(crate) fn with_units(units: usize) -> Self {
        RnnOptions {
            units,
            ..Default::default()
        }
    }

    /// Checks the values a setter cannot reject: positive units, dropout rates in `[0, 1]`.
    pub(crate) fn validate(&self) -> Result<()> {
        if self.units == 0 {
            return Err(Error::invalid("`units` must be a positive integer, got 0"));
        }
        for (what, rate) in [
            ("dropout", self.dropout),
            ("recurrent_dropout", self.recurrent_dropout),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(Error::invalid(format!(
                    "`{what}` must lie in [0, 1], got {rate}"
                )));
            }
        }
        Ok(())
    }
}

/// A recurrent layer builder (`Lstm`, `Gru`, `SimpleRnn`, or a user's): its
/// shared options, for code that handles any of them.
pub trait RnnBuilder: LayerBuilder {
    /// The shared options.
    fn options(&self) -> &RnnOptions;

    /// The shared options, mutably.
    fn options_mut(&mut self) -> &mut RnnOptions;
}

/// Implements [`RnnBuilder`] and the setters of the shared options on a
/// builder with an `options: RnnOptions` field.
macro_rules! rnn_builder {
    ($builder:ident {
        layer: $layer:ident,
        kind: $kind:ident,
        cell: $cell:ident,
        class: $class:literal,
        cell_class: $cell_class:literal $(,)?
    }) => {
        impl $builder {
            #[doc = concat!("A `", $class, "` with `units` units and Keras' defaults.")]
            pub fn new(units: usize) -> Self {
                $builder {
                    options: RnnOptions::with_units(units),
                    ..Default::default()
                }
            }
        }

        #[doc = concat!("The `", $class, "` layer.")]
        pub type $layer = $crate::rnn::Rnn<$cell>;

        #[doc = concat!("The kind of Keras' `", $cell_class, "`.")]
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $kind;

        #[doc = concat!("Keras' `", $cell_class, "`: the weights of a `", $class, "` and one step.")]
        pub type $cell = $crate::rnn::cell::RnnCell<$kind>;

        rnn_builder!($builder);
    };
    ($builder:ident) => {
        impl $crate::rnn::RnnBuilder for $builder {
            fn options(&self) -> &RnnOptions {
                &self.options
            }

            fn options_mut(&mut self) -> &mut RnnOptions {
                &mut self.options
            }
        }

        impl $builder {
            /// Returns the output of every step `[batch, time, units]` instead of the
            /// last one.
            pub fn return_sequences(mut self, return_sequences: bool) -> Self {
                self.options.return_sequences = return_sequences;
                self
            }

            /// Also returns the final states, after the output.
            pub fn return_state(mut self, return_state: bool) -> Self {
                self.options.return_state = return_state;
                self
            }

            /// Processes the steps from last to first (the returned sequence is in
            /// processing order, i.e. reversed).
            pub fn go_backwards(mut self, go_backwards: bool) -> Self {
                self.options.go_backwards = go_backwards;
                self
            }

            /// Carries the final states of each call over to the next (Keras'
            /// `stateful=True`, for streaming); the input's batch size must be
            /// fixed (`Input::batch_size`). `Model::reset_states` zeroes them.
            pub fn stateful(mut self, stateful: bool) -> Self {
                self.options.stateful = stateful;
                self
            }

            /// Sets the activation of the candidate state and output (default tanh).
            pub fn activation(mut self, activation: $crate::activations::Activation) -> Self {
                self.options.activation = activation;
                self
            }

            /// Adds biases or not.
            pub fn use_bias(mut self, use_bias: bool) -> Self {
                self.options.use_bias = use_bias;
                self
            }

            /// Sets the initializer of `kernel` (default Glorot uniform).
            pub fn kernel_initializer(mut self, init: tensorweave_core::Initializer) -> Self {
                self.options.kernel_initializer = init;
                self
            }

            /// Sets the initializer of `recurrent_kernel` (default orthogonal).
            pub fn recurrent_initializer(mut self, init: tensorweave_core::Initializer) -> Self {
                self.options.recurrent_initializer = init;
                self
            }

            /// Sets the initializer of `bias` (default zeros).
            pub fn bias_initializer(mut self, init: tensorweave_core::Initializer) -> Self {
                self.options.bias_initializer = init;
                self
            }

            /// Input dropout rate, used only in training (checked to lie in `[0, 1]`
            /// when the layer is built).
            pub fn dropout(mut self, rate: f32) -> Self {
                self.options.dropout = rate;
                self
            }

            /// Keras' `activity_regularizer` (as Keras serializes it, e.g.
            /// `{"class_name": "L2", "config": {"l2": 0.01}}`): a penalty on the
            /// output, divided by the batch size, added to the training loss.
            pub fn activity_regularizer(mut self, regularizer: serde_json::Value) -> Self {
                self.options.activity_regularizer = Some(regularizer);
                self
            }

            /// Recurrent dropout rate, used only in training (checked to lie in
            /// `[0, 1]` when the layer is built).
            pub fn recurrent_dropout(mut self, rate: f32) -> Self {
                self.options.recurrent_dropout = rate;
                self
            }

            /// Outputs zeros at masked steps instead of the previous output.
            pub fn zero_output_for_mask(mut self, zero: bool) -> Self {
                self.options.zero_output_for_mask = zero;
                self
            }

            /// Freezes or unfreezes the weights.
            pub fn trainable(mut self, trainable: bool) -> Self {
                self.options.trainable = trainable;
                self
            }
        }
    };
}

pub(crate) use rnn_builder;
