//! Activation layers (Keras' `keras/src/layers/activations`): `Activation`,
//! `ReLU`, `LeakyReLU`, `PReLU`, `ELU`, `Softmax`.

mod activation;
mod elementwise;
mod elu;
mod leaky_relu;
mod prelu;
mod relu;
mod softmax;

pub use activation::{ActivationLayer, ActivationLayerImpl};
pub use elu::{Elu, EluLayer};
pub use leaky_relu::{LeakyRelu, LeakyReluLayer};
pub use prelu::{Prelu, PreluLayer};
pub use relu::{Relu, ReluLayer};
pub use softmax::{Softmax, SoftmaxLayer};
