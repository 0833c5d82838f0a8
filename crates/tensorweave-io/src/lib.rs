//! Serialization and import for tensorweave: graphs as Keras-compatible JSON,
//! weights as safetensors, and real Keras models (`.keras`, `to_json` + weights).
#![warn(missing_docs)]

pub mod described;
pub mod h5_weights;
pub mod keras_archive;
mod keras_assets;
pub mod keras_json;
pub mod keras_save;
mod limits;
pub mod load;
pub mod native;
pub mod npy;
pub mod npz;
pub mod registry;
pub mod texts;

#[cfg(test)]
mod registry_tests;

pub use keras_json::{
    model_from_keras_config, model_from_keras_config_with, model_to_keras_config,
};
pub use load::load_model;
pub use native::ModelIo;
pub use registry::{builtin_registry, default_registry, register_layer, LayerRegistry};
