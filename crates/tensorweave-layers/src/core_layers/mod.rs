//! Core layers (Keras' `keras/src/layers/core`): `Dense`, `Embedding`, `Masking`.

mod dense;
mod embedding;
mod masking;

pub use dense::{Dense, DenseLayer};
pub use embedding::{Embedding, EmbeddingLayer};
pub use masking::{Masking, MaskingLayer};
