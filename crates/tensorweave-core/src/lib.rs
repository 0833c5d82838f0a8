//! The core of tensorweave: symbolic tensors, the [`Layer`] trait, graph capture
//! ([`Graph`]), the compiled [`Plan`] and [`Model`].
//!
//! Most users depend on the `tensorweave` facade crate, which re-exports this
//! crate and the built-in layers.
#![warn(missing_docs)]

pub mod budget;
pub mod dtype;
pub mod error;
pub mod graph;
pub mod init;
pub mod input;
pub mod layer;
pub mod model;
pub mod naming;
pub mod plan;
pub mod plot;
pub mod summary;
pub mod tensor;
pub mod value;

pub use budget::MemoryBudget;
pub use dtype::{format_shape, DType, Shape, TensorSpec};
pub use error::{Error, Result};
pub use graph::{Graph, LayerId};
pub use init::{layer_rng, set_random_seed, Initializer};
pub use input::{input_tensor, Input, InputLayer, InputShape};
pub use layer::{CallContext, IntoLayer, Layer, LayerRef, Param, ParamVisitor, ParamVisitorMut};
pub use model::{FunctionalLayer, Model};
pub use naming::{auto_name, reset_names, unique_name};
pub use plan::Plan;
pub use plot::PlotOptions;
pub use summary::SummaryOptions;
pub use tensor::{Node, Tensor};
pub use value::Value;
