//! The built-in layers of tensorweave, with Keras 3.15.1 semantics, and their CPU
//! kernels. Each layer is a builder (required arguments in `new`, options as
//! setters, configuration as serde JSON) that becomes a [`LayerRef`] when called.
//!
//! [`LayerRef`]: tensorweave_core::LayerRef
#![warn(missing_docs)]

pub mod activations;
pub mod conv;
pub mod core_layers;
pub mod dense;
pub mod embedding;
pub mod masking;
pub mod merge;
pub mod normalization;
pub mod ops;
pub mod pooling;
pub mod reshaping;
pub mod rnn;
pub mod time_distributed;
pub mod util;
pub mod weights;

/// Everything needed to build models: core types and every built-in layer.
pub mod prelude {
    pub use crate::activations::Activation;
    pub use crate::conv::*;
    pub use crate::core_layers::*;
    pub use crate::dense::*;
    pub use crate::embedding::*;
    pub use crate::masking::*;
    pub use crate::merge::*;
    pub use crate::normalization::*;
    pub use crate::ops::*;
    pub use crate::pooling::*;
    pub use crate::reshaping::*;
    pub use crate::rnn::*;
    pub use crate::time_distributed::*;
    pub use tensorweave_core::{
        reset_names, set_random_seed, CallContext, DType, Error, Initializer, Input, IntoLayer,
        Layer, LayerRef, Model, Param, Result, Tensor, TensorSpec, Value,
    };
}
