//! Keras 3.15.1's optimizers with the TensorFlow backend's exact update rules.
//!
//! One step ([`Optimizer::apply`]) does what `BaseOptimizer.apply` does: build the slots on the
//! first call (in the order the variables are given), skip variables without a gradient, clip
//! the gradients (`clipnorm` per tensor, `global_clipnorm`, or `clipvalue`), apply weight decay
//! `w -= w * weight_decay * lr` to every variable that has a gradient, run the update rule, then
//! count the step. The learning rate is float32 (a Keras variable) or a [`Schedule`] evaluated
//! at the number of steps already applied.
//!
//! [`Gradient::Rows`] (an embedding's `IndexedSlices`) follows TensorFlow's sparse arithmetic:
//! element-wise operations act on each occurrence before duplicates are summed, so the second
//! moments of Adam, AdamW, RMSprop, Adagrad and Nadam receive `sum(g_occ**2)` per row,
//! `clipvalue` clips each occurrence, `clipnorm` takes the norm over the unsummed occurrences,
//! and the scatter updates of Adagrad, plain SGD and momentum-free RMSprop subtract each
//! occurrence in turn. Rows without occurrences still decay wherever Keras' math is dense
//! (moments, momentum, weight decay).

mod adagrad;
mod adam;
mod base;
mod clip;
mod macros;
mod nadam;
mod rmsprop;
pub mod schedules;
mod sgd;

use ndarray::ArrayD;
use serde_json::Value;
use tensorweave_core::Result;

pub use self::adagrad::Adagrad;
pub use self::adam::{Adam, AdamW};
pub use self::nadam::Nadam;
pub use self::rmsprop::RmsProp;
pub use self::schedules::Schedule;
pub use self::sgd::Sgd;

use self::base::Builtin;
use crate::config::{identifier, ConfigReader, Identifier};
use crate::gradient::Gradient;
use crate::util::{config_err, quote};

/// A trainable variable handed to [`Optimizer::apply`].
#[derive(Debug)]
pub struct Var<'a> {
    /// The variable's Keras path, e.g. `dense/kernel` (names its slots: `dense_kernel_momentum`).
    pub path: &'a str,
    /// The value, updated in place.
    pub value: &'a mut ArrayD<f32>,
    /// The gradient; `None` is Keras' `None` gradient: the variable is skipped (no decay, no
    /// update, its slots untouched).
    pub gradient: Option<&'a Gradient>,
}

/// A variable's path and shape, for building an optimizer before its first step (to load saved
/// state into it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VarSpec {
    /// The variable's Keras path.
    pub path: String,
    /// Its shape.
    pub shape: Vec<usize>,
}

/// The value of one of the optimizer's own variables.
#[derive(Debug, Clone, PartialEq)]
pub enum VariableValue {
    /// The step counter (`iteration`, int64 in Keras).
    Int64(i64),
    /// A float32 variable (the learning rate, a slot, Nadam's momentum cache).
    Float32(ArrayD<f32>),
}

/// One of Keras' `optimizer.variables`, in the order Keras saves them.
#[derive(Debug, Clone, PartialEq)]
pub struct OptimizerVariable {
    /// The Keras path, e.g. `adam/iteration`, `adam/dense_kernel_momentum`.
    pub path: String,
    /// The value.
    pub value: VariableValue,
}

impl OptimizerVariable {
    /// The shape (`[]` for scalars).
    pub fn shape(&self) -> Vec<usize> {
        match &self.value {
            VariableValue::Int64(_) => Vec::new(),
            VariableValue::Float32(a) => a.shape().to_vec(),
        }
    }

    /// Keras' dtype name: `int64` or `float32`.
    pub fn dtype(&self) -> &'static str {
        match self.value {
            VariableValue::Int64(_) => "int64",
            VariableValue::Float32(_) => "float32",
        }
    }
}

/// A Keras optimizer.
pub trait Optimizer: Send + std::fmt::Debug {
    /// The optimizer's name (`adam`, `rm_sprop`, …), the prefix of its variables' paths.
    fn name(&self) -> &str;

    /// One step: updates every variable that has a gradient. Slots are created on the first
    /// call, in the order of `vars`; later calls may pass any subset, matched by path.
    fn apply(&mut self, vars: &mut [Var<'_>]) -> Result<()>;

    /// Creates the slots for these variables without a step (Keras' `optimizer.build`), e.g. to
    /// [`load_variables`](Optimizer::load_variables) saved state. Does nothing if already built
    /// with the same variables.
    fn build(&mut self, vars: &[VarSpec]) -> Result<()>;

    /// The number of steps applied (`optimizer.iterations`).
    fn iterations(&self) -> i64;

    /// The learning rate the next step will use (a schedule evaluated at `iterations`).
    fn current_learning_rate(&self) -> f32;

    /// Sets a constant learning rate (`optimizer.learning_rate = lr`, used by
    /// ReduceLROnPlateau). An error if the optimizer has a schedule, as in Keras.
    fn set_learning_rate(&mut self, lr: f32) -> Result<()>;

    /// Keras' `optimizer.variables` in order: `iteration` (int64), `learning_rate` (absent with a
    /// schedule), then the slots, then any extra variable (Nadam's `variable`).
    fn variables(&self) -> Vec<OptimizerVariable>;

    /// Restores saved state: the same count, dtypes and shapes as [`variables`](Optimizer::variables)
    /// (paths are not compared: loading a model can rename its variables).
    fn load_variables(&mut self, vars: &[OptimizerVariable]) -> Result<()>;

    /// Keras' serialized optimizer (`keras.optimizers.serialize`).
    fn config(&self) -> Value;
}

/// Builds an optimizer from a Keras identifier: a name (`"adam"`, `"RMSprop"`, case-insensitive,
/// with Keras' defaults) or a serialized optimizer (`{"class_name": "Adam", "config": {…}}`).
///
/// Without a `name`, the optimizer is named after its class in Keras' snake case (`adam`,
/// `rm_sprop`, `adam_w`); Keras numbers repeated auto-names within one process (`adam_1`), which
/// only matters for the paths of [`Optimizer::variables`].
pub fn optimizer_from_config(v: &Value) -> Result<Box<dyn Optimizer>> {
    let (class_name, mut config) = match identifier(v, "optimizer")? {
        Identifier::Name(name) => (
            name,
            ConfigReader::new(format!("optimizer {}", quote(name)), None),
        ),
        Identifier::Object { class_name, config } => (class_name, config),
    };
    type Reader = fn(&mut ConfigReader<'_>) -> Result<Box<dyn Optimizer>>;
    fn entry<T: Builtin>() -> (&'static str, Reader) {
        (T::CLASS.name, |c| Ok(Box::new(T::from_reader(c)?)))
    }
    let builtins = [
        entry::<Sgd>(),
        entry::<Adam>(),
        entry::<AdamW>(),
        entry::<RmsProp>(),
        entry::<Adagrad>(),
        entry::<Nadam>(),
    ];
    let (_, read) = builtins
        .iter()
        .find(|(class, _)| class.eq_ignore_ascii_case(class_name))
        .ok_or_else(|| {
            config_err(format!(
                "optimizer {}: not supported; use SGD, Adam, AdamW, RMSprop, Adagrad or Nadam",
                quote(class_name)
            ))
        })?;
    let opt = read(&mut config)?;
    config.finish()?;
    Ok(opt)
}
