//! Serialization and import for tensorweave: graphs as Keras-compatible JSON,
//! weights as safetensors, and real Keras models (`.keras`, `to_json` + weights).
#![warn(missing_docs)]

pub mod h5_weights;
pub mod keras_archive;
pub mod keras_json;
pub mod native;
pub mod npz;
pub mod registry;
