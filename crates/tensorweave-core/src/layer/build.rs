//! [`BuildContext`]: how a layer creates its weights (Keras' `add_weight`).

use ndarray::{ArrayD, IxDyn};
use rand::rngs::StdRng;

use super::Param;
use crate::budget::MemoryBudget;
use crate::error::Result;
use crate::init::Initializer;

/// Where the first values of a layer's weights come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WeightInit {
    /// Drawn from the layer's initializers (a model built in code).
    #[default]
    Sample,
    /// Zeros, about to be replaced with weights from a file: loading a model
    /// never draws initial weights it overwrites, and the zeroed memory is not
    /// touched until the file's arrays arrive.
    Placeholder,
}

/// What a layer's [`super::Layer::build`] creates its weights through: every
/// weight's size is checked (overflow-free) against the memory budget before
/// memory is reserved, and initial values are drawn only when they will be
/// used.
#[derive(Debug, Clone, Default)]
pub struct BuildContext {
    init: WeightInit,
    budget: MemoryBudget,
    reserved: u64,
}

impl BuildContext {
    /// Weights drawn from the initializers, within the default budget.
    pub fn new() -> Self {
        Self::default()
    }

    /// A context with the given source of initial values and budget.
    pub fn with(init: WeightInit, budget: MemoryBudget) -> Self {
        BuildContext {
            init,
            budget,
            reserved: 0,
        }
    }

    /// Where initial values come from.
    pub fn init(&self) -> WeightInit {
        self.init
    }

    /// The budget the weights are checked against.
    pub fn budget(&self) -> MemoryBudget {
        self.budget
    }

    /// Bytes of weights created through this context so far.
    pub fn reserved_bytes(&self) -> u64 {
        self.reserved
    }

    /// Checks that a weight `name` of `shape` fits in what is left of the
    /// budget, and counts it.
    pub fn reserve(&mut self, name: &str, shape: &[usize]) -> Result<()> {
        let what = format!("weight `{name}` {shape:?}");
        let bytes = MemoryBudget::bytes_for(&what, shape, std::mem::size_of::<f32>())?;
        let total = self.reserved.saturating_add(bytes);
        self.budget.check(&what, total)?;
        self.reserved = total;
        Ok(())
    }

    /// A weight `name` of `shape` with initial values from `initializer`
    /// (zeros when loading), after the budget check.
    pub fn add_weight(
        &mut self,
        name: &str,
        shape: &[usize],
        initializer: &Initializer,
        trainable: bool,
        rng: &mut StdRng,
    ) -> Result<Param> {
        self.add_weight_with(name, shape, trainable, |shape| {
            initializer.sample(shape, rng)
        })
    }

    /// A weight whose initial values `draw` makes from its shape (an LSTM's
    /// bias with its forget-gate ones), after the budget check; `draw` is not
    /// called when loading.
    pub fn add_weight_with(
        &mut self,
        name: &str,
        shape: &[usize],
        trainable: bool,
        draw: impl FnOnce(&[usize]) -> ArrayD<f32>,
    ) -> Result<Param> {
        self.reserve(name, shape)?;
        let value = match self.init {
            WeightInit::Sample => draw(shape),
            WeightInit::Placeholder => ArrayD::zeros(IxDyn(shape)),
        };
        Ok(Param {
            name: name.to_string(),
            value,
            trainable,
        })
    }
}
