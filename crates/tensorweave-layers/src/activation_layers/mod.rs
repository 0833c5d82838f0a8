//! Activation layers (Keras' `keras/src/layers/activations`): `Activation`.

mod activation;

pub use activation::{ActivationLayer, ActivationLayerImpl};
