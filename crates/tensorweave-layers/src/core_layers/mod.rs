//! Core layers (Keras' `keras/src/layers/core`): `Dense`, `Embedding`,
//! `Masking`, `Identity`.

mod dense;
mod embedding;
mod identity;
mod lookup_fold;
mod masking;

pub use dense::{Dense, DenseLayer};
pub use embedding::{Embedding, EmbeddingLayer};
pub use identity::{Identity, IdentityLayer};
pub(crate) use lookup_fold::{call_on_rows, folded_call, LookupFold};
pub use masking::{Masking, MaskingLayer};
