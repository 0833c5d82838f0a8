//! Keras' preprocessing layers for text and categories: `TextVectorization`,
//! `StringLookup`, `IntegerLookup`, `Hashing`, `CategoryEncoding`, with the
//! TensorFlow behaviour Keras 3.15.1 runs (standardization, splitting,
//! n-grams, vocabulary indices, FarmHash and SipHash buckets, encodings).
//! Their state (vocabularies, idf weights) is in their configuration: the
//! loaders put what a `.keras` archive stores as assets there.

pub mod category_encoding;
pub mod encoding;
pub mod hash;
pub mod hashing;
pub mod integer_lookup;
pub mod lookup;
mod options;
pub mod string_lookup;
pub mod text;
pub mod text_vectorization;

pub use category_encoding::{CategoryEncoding, CategoryEncodingLayer};
pub use encoding::OutputMode;
pub use hashing::{Hashing, HashingLayer};
pub use integer_lookup::{IntegerLookup, IntegerLookupLayer};
pub use string_lookup::{StringLookup, StringLookupLayer};
pub use text_vectorization::{TextVectorization, TextVectorizationLayer};
