//! What a layer exchanges with the training runner: the outputs of a call in
//! training mode with what its backward needs ([`Trained`]), the gradient that
//! reaches each output ([`OutputGrad`]), and what its backward returns
//! ([`LayerGrads`]: the gradient of each input and of its weights, by path).
//!
//! Gradients never live in the layer: a backward reads the layer (`&self`) and
//! returns arrays, so a model that other threads run is never written.

use std::any::Any;

use ndarray::ArrayD;

use crate::error::{Error, Result};
use crate::grad::Gradient;
use crate::layer::{CallContext, Inputs};
use crate::shape::format_dims;
use crate::value::Value;

/// What a layer keeps from its training-mode call for its backward.
pub type Saved = Box<dyn Any + Send + Sync>;

/// Which activation made an output from cached logits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogitsOf {
    /// Softmax over the last axis.
    Softmax,
    /// The logistic sigmoid.
    Sigmoid,
}

/// The pre-activation values of an output made by a softmax or sigmoid (Keras
/// caches them on the tensor as `_keras_logits`; its cross-entropies use them).
#[derive(Debug, Clone)]
pub struct Logits {
    /// The activation's input, of the output's shape.
    pub values: ArrayD<f32>,
    /// The activation.
    pub activation: LogitsOf,
}

/// The result of a call in training mode.
pub struct Trained {
    /// The outputs, as [`crate::Layer::call`] returns them.
    pub outputs: Vec<Value>,
    /// What the backward needs beyond the inputs and outputs (which the runner keeps).
    pub saved: Saved,
    /// For each output, its logits when a softmax or sigmoid made it.
    pub logits: Vec<Option<Logits>>,
    /// New values of the layer's non-trainable weights that training updates
    /// (BatchNormalization's moving statistics), by weight name: the runner
    /// collects them and the training loop writes them after the step, so the
    /// forward pass never writes into the model.
    pub updates: Vec<(String, ArrayD<f32>)>,
}

impl Trained {
    /// Outputs with nothing saved and no logits.
    pub fn new(outputs: Vec<Value>) -> Self {
        Self::with_saved(outputs, ())
    }

    /// Outputs and what the backward needs.
    pub fn with_saved(outputs: Vec<Value>, saved: impl Any + Send + Sync) -> Self {
        let n = outputs.len();
        Trained {
            outputs,
            saved: Box::new(saved),
            logits: (0..n).map(|_| None).collect(),
            updates: Vec::new(),
        }
    }

    /// Records the logits of output `k`.
    pub fn logits(mut self, k: usize, logits: Option<Logits>) -> Self {
        if let Some(slot) = self.logits.get_mut(k) {
            *slot = logits;
        }
        self
    }
}

impl std::fmt::Debug for Trained {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trained")
            .field("outputs", &self.outputs)
            .field("logits", &self.logits)
            .field("updates", &self.updates)
            .finish_non_exhaustive()
    }
}

/// The gradient of the loss that reaches one output of a call: with respect to
/// the output, and (when the loss used them) with respect to its cached
/// logits. Both may be present (an output that feeds the loss and another
/// layer); neither when the output does not reach the loss.
#[derive(Debug, Clone, Default)]
pub struct OutputGrad {
    /// With respect to the output.
    pub value: Option<ArrayD<f32>>,
    /// With respect to the logits the output was made from.
    pub logits: Option<ArrayD<f32>>,
}

impl OutputGrad {
    /// A gradient with respect to the output.
    pub fn of_value(g: ArrayD<f32>) -> Self {
        OutputGrad {
            value: Some(g),
            logits: None,
        }
    }

    /// A gradient with respect to the output's logits.
    pub fn of_logits(g: ArrayD<f32>) -> Self {
        OutputGrad {
            value: None,
            logits: Some(g),
        }
    }

    /// Whether no gradient reaches the output.
    pub fn is_none(&self) -> bool {
        self.value.is_none() && self.logits.is_none()
    }

    /// Adds a gradient with respect to the output.
    pub fn add_value(&mut self, g: ArrayD<f32>) -> Result<()> {
        add_into(&mut self.value, g)
    }

    /// Adds a gradient with respect to the logits.
    pub fn add_logits(&mut self, g: ArrayD<f32>) -> Result<()> {
        add_into(&mut self.logits, g)
    }
}

/// `slot += g`, or `slot = g` when empty.
pub fn add_into(slot: &mut Option<ArrayD<f32>>, g: ArrayD<f32>) -> Result<()> {
    match slot {
        None => *slot = Some(g),
        Some(acc) if acc.shape() == g.shape() => *acc += &g,
        Some(acc) => {
            return Err(Error::Graph(format!(
                "internal: gradients of shapes {} and {} for one value",
                format_dims(acc.shape()),
                format_dims(g.shape())
            )))
        }
    }
    Ok(())
}

/// One backward call: the call's inputs and outputs, what it saved, and the
/// gradient reaching each output.
pub struct BackwardCall<'a> {
    /// The inputs of the call (with their masks).
    pub inputs: &'a Inputs<'a>,
    /// The outputs the call returned.
    pub outputs: &'a [Value],
    /// What the training-mode call saved.
    pub saved: &'a (dyn Any + Send + Sync),
    /// One entry per output.
    pub grads: &'a [OutputGrad],
    /// The run options.
    pub ctx: &'a CallContext,
}

impl BackwardCall<'_> {
    /// What the call saved, as the type it saved.
    pub fn saved<T: Any>(&self) -> Result<&T> {
        self.saved.downcast_ref::<T>().ok_or_else(|| {
            Error::invalid("internal: the backward got state from another kind of call")
        })
    }

    /// The gradient reaching output `k` (empty when it reaches none).
    pub fn grad(&self, k: usize) -> &OutputGrad {
        static NONE: OutputGrad = OutputGrad {
            value: None,
            logits: None,
        };
        self.grads.get(k).unwrap_or(&NONE)
    }

    /// The gradient with respect to output `k` itself: `None` when no gradient
    /// reaches it, an error when it holds a gradient with respect to logits this
    /// layer did not make.
    pub fn value_grad(&self, k: usize) -> Result<Option<&ArrayD<f32>>> {
        let g = self.grad(k);
        if g.logits.is_some() {
            return Err(Error::invalid(
                "got a gradient with respect to logits it did not make",
            ));
        }
        Ok(g.value.as_ref())
    }

    /// Output `k` as float data.
    pub fn output(&self, k: usize) -> Result<&ArrayD<f32>> {
        self.outputs
            .get(k)
            .ok_or_else(|| Error::invalid(format!("internal: no output {k}")))?
            .as_f32()
    }
}

/// What a backward returns.
#[derive(Debug, Clone, Default)]
pub struct LayerGrads {
    /// The gradient of each input (`None` for integer inputs, or when no
    /// gradient flows to it).
    pub inputs: Vec<Option<ArrayD<f32>>>,
    /// The gradients of the layer's weights, by path inside the layer
    /// (`kernel`, `forward_lstm/lstm_cell/kernel`).
    pub params: Vec<(String, Gradient)>,
}

impl LayerGrads {
    /// Gradients of the inputs only.
    pub fn inputs(inputs: Vec<Option<ArrayD<f32>>>) -> Self {
        LayerGrads {
            inputs,
            params: Vec::new(),
        }
    }

    /// Adds the dense gradient of the weight `name`.
    pub fn param(mut self, name: &str, g: ArrayD<f32>) -> Self {
        self.params.push((name.to_string(), Gradient::Dense(g)));
        self
    }
}
