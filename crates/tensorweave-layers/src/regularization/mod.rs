//! Regularization layers (Keras' `keras/src/layers/regularization`):
//! `Dropout`, the identity at inference.

mod dropout;

pub use dropout::{Dropout, DropoutLayer};
