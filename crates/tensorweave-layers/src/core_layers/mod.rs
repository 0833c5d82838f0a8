//! Core layers (Keras' `keras/src/layers/core`): `Dense`, `Embedding`,
//! `Masking`, `Identity`.

mod dense;
mod embedding;
mod identity;
mod masking;

pub use dense::{Dense, DenseLayer};
pub use embedding::{Embedding, EmbeddingLayer};
pub use identity::{Identity, IdentityLayer};
pub use masking::{Masking, MaskingLayer};
