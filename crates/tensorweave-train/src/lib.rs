//! Training building blocks that match Keras 3.15.1 numerically.
#![warn(missing_docs)]

mod array;
mod config;
pub mod gradient;
pub mod losses;
pub mod metrics;
pub mod optimizers;
pub mod regularizers;
mod util;

pub use gradient::Gradient;
pub use losses::{loss_for_shapes, loss_from_config, reduce, Loss, LossValue, PerEntry, Prediction, Reduction, Wrt};
pub use metrics::{metric_from_config, Mean, Metric};
pub use regularizers::Regularizer;
pub use optimizers::{optimizer_from_config, Optimizer, OptimizerVariable, Var, VarSpec, VariableValue};
