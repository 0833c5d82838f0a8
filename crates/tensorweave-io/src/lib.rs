//! Serialization and import for tensorweave: graphs as Keras-compatible JSON,
//! weights as safetensors, and real Keras models (`.keras`, `to_json` + weights).
#![warn(missing_docs)]

pub mod h5_weights;
pub mod keras_archive;
pub mod keras_json;
mod limits;
pub mod native;
pub mod npy;
pub mod npz;
pub mod registry;

pub use keras_json::{model_from_keras_config, model_to_keras_config};
pub use native::ModelIo;
pub use registry::{default_registry, register_layer, LayerRegistry};
