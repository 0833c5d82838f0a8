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

/// Keras' `keras.ops` on symbolic tensors (`ops::add(&x, &inputs)` is
/// `x + inputs`; `ops::get_item(&x, &[Index::ALL, Index::At(-1)])` is
/// `x[:, -1]`): each records the op node Keras records. See
/// [`tensorweave_layers::ops::functions`].
pub mod ops {
    pub use tensorweave_layers::ops::functions::*;
    pub use tensorweave_layers::ops::{Index, Operand};
}

/// Everything needed to build and run models.
pub mod prelude {
    pub use crate::saving::TrainerIo;
    pub use tensorweave_io::{register_layer, LayerRegistry, ModelIo};
    pub use tensorweave_layers::prelude::*;
    pub use tensorweave_viz::{ModelInspect, PlotOptions, SummaryOptions};
}

/// The training guide (`docs/training.md`), included here so that its
/// examples compile with the doc tests.
#[doc = include_str!("../docs/training.md")]
pub mod training_guide {}

/// Saving a trained model as a Keras archive.
pub mod saving {
    use std::path::Path;

    use tensorweave_io::keras_save::{save_keras, SavedVariable, TrainingState};
    use tensorweave_train::{Trainer, VariableValue};

    /// Saves what [`Trainer`] trained as a Keras 3 `.keras` archive that
    /// Keras' `load_model` opens compiled: the model, its weights, the
    /// `compile_config` and the optimizer's variables (so training can go on
    /// where it stopped, in Keras or here).
    pub trait TrainerIo {
        /// Writes the archive to `path` (a failed write leaves an existing
        /// file intact).
        fn save_keras(&self, path: impl AsRef<Path>) -> crate::Result<()>;
    }

    impl TrainerIo for Trainer {
        fn save_keras(&self, path: impl AsRef<Path>) -> crate::Result<()> {
            let optimizer = self.optimizer();
            let vars = optimizer
                .variables()
                .into_iter()
                .map(|v| match v.value {
                    VariableValue::Int64(n) => SavedVariable::Int64(n),
                    VariableValue::Float32(a) => SavedVariable::Float32(a),
                })
                .collect();
            let state = TrainingState {
                compile_config: Some(self.compile_config()),
                optimizer: Some((optimizer.name().to_string(), vars)),
            };
            save_keras(self.model(), path.as_ref(), &state)
        }
    }
}
