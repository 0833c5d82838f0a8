//! # tensorweave
//!
//! A Keras-style functional-API computation-graph engine. Call a layer on a
//! symbolic [`Tensor`]; the call is recorded as a node of a DAG; [`Model::new`]
//! captures the DAG between inputs and outputs, checks it and compiles it into a
//! plan that runs on `ndarray`.
//!
//! ```
//! use tensorweave::prelude::*;
//! use ndarray::array;
//!
//! # fn main() -> tensorweave::Result<()> {
//! let tokens = Input::new([4]).dtype(DType::I32).name("tokens").build();
//! let embedded = Embedding::new(50, 8).mask_zero(true).call(&tokens)?;
//! let encoded = Bidirectional::new(Lstm::new(6).return_sequences(true)).call(&embedded)?;
//! let pooled = GlobalMaxPooling1D::new().call(&encoded)?;
//! let probs = Dense::new(2).activation(Activation::Softmax).call(&pooled)?;
//! let model = Model::new(&[tokens], &[probs])?;
//!
//! let batch = array![[3, 7, 0, 0], [5, 1, 9, 2]];
//! let out = model.predict(&[batch.into()])?;
//! assert_eq!(out[0].shape(), &[2, 2]);
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

pub use tensorweave_core as core;
pub use tensorweave_core::{CallContext, Error, Model, Result, Tensor, Value};
pub use tensorweave_io as io;
pub use tensorweave_layers as layers;
pub use tensorweave_train as train;
pub use tensorweave_viz as viz;

/// Everything needed to build and run models.
pub mod prelude {
    pub use tensorweave_io::{register_layer, LayerRegistry, ModelIo};
    pub use tensorweave_layers::prelude::*;
    pub use tensorweave_viz::{ModelInspect, PlotOptions, SummaryOptions};
}

/// The training guide (`docs/training.md`), included here so that its
/// examples compile with the doc tests.
#[doc = include_str!("../docs/training.md")]
pub mod training_guide {}
