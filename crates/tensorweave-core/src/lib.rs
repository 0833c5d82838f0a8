//! The core of tensorweave: symbolic tensors, the [`Layer`] trait, graph capture
//! ([`Graph`]), the compiled [`Plan`] and its per-run [`RunState`], [`Model`],
//! and the [`LayerRegistry`] that rebuilds layers from their configurations.
//!
//! Most users depend on the `tensorweave` facade crate, which re-exports this
//! crate and the built-in layers.
#![warn(missing_docs)]

pub mod backprop;
pub mod budget;
pub mod corpus;
pub mod dtype;
pub mod error;
pub mod grad;
pub mod graph;
pub mod init;
pub mod input;
pub mod layer;
pub mod model;
pub mod naming;
pub mod plan;
pub mod pool;
pub mod registry;
pub mod run;
pub mod shape;
pub mod tensor;
pub mod value;

pub use backprop::{Backprop, OutputSlot, RegularizedOutput, TrainRun};
pub use budget::MemoryBudget;
pub use dtype::{DType, TensorSpec};
pub use error::{Error, Result};
pub use grad::{Gradient, Gradients};
pub use graph::{Graph, GraphNode, LayerId, TensorRef};
pub use init::{layer_rng, set_random_seed, Initializer};
pub use input::{input_tensor, Input, InputLayer, InputShape};
pub use layer::{
    tensor_input, AsAny, BackwardCall, BuildContext, CallArg, CallContext, CallOptions, Inputs,
    IntoLayer, Layer, LayerGrads, LayerRef, Logits, LogitsOf, MaskCall, OutputGrad, Param,
    ParamVisitor, ParamVisitorMut, Recurrence, Saved, Sublayer, TimeRole, Trained, WeightInit,
    TENSOR_INPUT_KEY,
};
pub use model::{FunctionalLayer, Model, OptimizerSize};
pub use naming::{auto_name, reset_names, to_snake_case, unique_name};
pub use plan::Plan;
pub use pool::BufferPool;
pub use registry::{ClassIdentity, LayerConstructor, LayerRegistry};
pub use run::RunState;
pub use shape::{format_dims, format_shape, Shape};
pub use tensor::{Node, Tensor};
pub use value::{IntoArray, Value};
