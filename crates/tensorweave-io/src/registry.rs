//! Layer registries for the loaders: the process-wide default (every built-in
//! layer and op, plus the user layers registered with [`register_layer`]).
//!
//! The registry type lives in `tensorweave-core` and the list of built-in
//! layers in `tensorweave-layers`; this module gathers what a loader needs.
//! Nested models (`Functional`, `Sequential`) are read by this crate's graph
//! reader, which installs itself in the registry it is given.
//!
//! What the built-in constructors accept (Keras 3 configs, Keras 2 configs):
//! - `dtype` as a string or a `DTypePolicy` object; only `float32` computes
//!   (other policies are an error naming the layer and the policy);
//! - `shared_object_id`, `build_config`, `batch_input_shape`, `input_length`,
//!   `implementation`, `unroll` (no effect on results) and unknown extra keys are
//!   ignored;
//! - regularizers and constraints are ignored whatever their value: they only act
//!   in training;
//! - options that change results and are not supported are errors naming the
//!   layer, the option and its value: `time_major=True`,
//!   `renorm=True`, a non-null `quantization_config`, a LoRA rank;
//!   `data_format="channels_first"` is rejected by the layers that do not
//!   support it when they are built.

pub use tensorweave_core::registry::{
    brief, is_op_module, truncate, ClassIdentity, LayerConstructor, LayerRegistry,
};
pub use tensorweave_layers::config::{check_dtype_policy, prepare_config};
pub use tensorweave_layers::registry::{builtin_registry, default_registry, register_layer};

/// The `name` of a layer config, if it has one.
pub fn layer_name(config: &serde_json::Value) -> Option<&str> {
    config.get("name").and_then(serde_json::Value::as_str)
}
