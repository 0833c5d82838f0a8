//! Regularization layers (Keras' `keras/src/layers/regularization`):
//! `Dropout` and `SpatialDropout1D`, the identity at inference.

mod dropout;
mod spatial_dropout1d;

pub use dropout::{Dropout, DropoutLayer};
pub use spatial_dropout1d::{SpatialDropout1D, SpatialDropout1DLayer};
