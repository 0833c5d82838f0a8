//! Serialization and import for tensorweave: graphs as Keras-compatible JSON,
//! weights as safetensors, and real Keras models (`.keras`, `to_json` + weights).
#![warn(missing_docs)]
