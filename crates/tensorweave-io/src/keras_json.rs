//! Models to and from Keras' functional configuration (`model.to_json()`).
//!
//! tensorweave's native graph format *is* this layout: the top-level object
//! `{"module", "class_name": "Functional", "config": {"name", "trainable",
//! "layers", "input_layers", "output_layers"}, "registered_name", "build_config"}`
//! plus one key, `"tensorweave_format_version"`. One reader takes Keras' files
//! and tensorweave's; a format version newer than this crate knows is an error.
//!
//! Reading follows Keras' `functional_from_config`: every layer is created
//! first (through a [`LayerRegistry`](crate::registry::LayerRegistry)), then the recorded calls
//! (`inbound_nodes`) are replayed in sweeps over the layers, a call running
//! once all the tensors it names exist. Masks that the file records for a call
//! (`kwargs.mask`) are passed explicitly, so the graph uses the file's mask ops;
//! calls that record none take the masks their input tensors carry.
//!
//! Writing produces the same layout (per layer `module`, `class_name`, `config`,
//! `registered_name`, `build_config`, `name`, `inbound_nodes`), deterministic
//! (keys in a fixed order). Masks of calls on a list of tensors, which Keras
//! does not record, are written under the extra node key `"tensorweave_masks"`,
//! which Keras ignores.

mod read;
mod write;

pub use read::{model_from_keras_config, model_from_keras_config_with};
pub use write::{model_to_keras_config, model_to_keras_config_with};

/// The version of tensorweave's graph format written by this crate.
pub const FORMAT_VERSION: u64 = 1;

/// The top-level key holding [`FORMAT_VERSION`].
pub const FORMAT_VERSION_KEY: &str = "tensorweave_format_version";

/// The node key holding the input masks of a call on a list of tensors.
pub const MASKS_KEY: &str = "tensorweave_masks";

#[cfg(test)]
mod tests;
