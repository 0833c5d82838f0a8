//! `Permute` (Keras' `layers.Permute`).

use serde::{Deserialize, Serialize};
use tensorweave_core::{BuildContext, CallContext, Error, Layer, Result, Shape, TensorSpec, Value};
use tensorweave_derive::LayerConfig;

use super::{inverse, moves_data_backward, per_dtype, permute, single};
use crate::class::Common;
use crate::class_and_config;
use crate::util::{expect_inputs, expect_rank};
use tensorweave_core::Inputs;

/// Builder and configuration of a `Permute` layer (Keras' `layers.Permute`).
///
/// `dims` is a permutation of `1..=n` (1-based, the batch axis excluded):
/// output axis `i` is input axis `dims[i - 1]`.
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let x = Input::new([10, 4]).build();
/// let y = Permute::new(vec![2, 1]).call(&x).unwrap();
/// assert_eq!(y.shape(), &vec![None, Some(4), Some(10)]);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize, LayerConfig)]
#[serde(default)]
#[layer(PermuteLayer, class = "Permute")]
pub struct Permute {
    /// The permutation, 1-based, batch axis excluded.
    pub dims: Vec<usize>,
    /// Keras' `trainable` flag (the layer has no weights).
    #[config(default = true)]
    pub trainable: bool,
    /// Name, seed and initial weights.
    #[serde(skip)]
    pub common: Common,
}

impl Permute {
    /// Permutes the non-batch axes by `dims` (1-based).
    pub fn new(dims: impl Into<Vec<usize>>) -> Self {
        Permute {
            dims: dims.into(),
            ..Default::default()
        }
    }

    fn validate(&self) -> Result<()> {
        let mut sorted = self.dims.clone();
        sorted.sort_unstable();
        if sorted != (1..=self.dims.len()).collect::<Vec<_>>() {
            return Err(Error::invalid(format!(
                "dims {:?} must be a permutation of 1..={} (1-based; the batch axis 0 is not \
                 part of it)",
                self.dims,
                self.dims.len()
            )));
        }
        Ok(())
    }

    /// All axes, batch first.
    fn axes(&self) -> Vec<usize> {
        std::iter::once(0)
            .chain(self.dims.iter().copied())
            .collect()
    }
}

/// The `Permute` layer itself.
#[derive(Debug, Default)]
pub struct PermuteLayer {
    config: Permute,
}

impl Layer for PermuteLayer {
    class_and_config!();

    fn build(&mut self, _inputs: &[TensorSpec], _ctx: &mut BuildContext) -> Result<()> {
        self.config.validate()
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        expect_inputs(inputs, 1)?;
        self.config.validate()?;
        let x = &inputs[0];
        expect_rank(x, self.config.dims.len() + 1, "inputs")?;
        let shape: Shape = self.config.axes().iter().map(|&a| x.shape[a]).collect();
        Ok(vec![TensorSpec::new(shape, x.dtype)])
    }

    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        let x = single(inputs)?;
        let axes = self.config.axes();
        Ok(vec![per_dtype!(x, permute, &axes)])
    }

    moves_data_backward!(|this, _x, gy| permute(gy, &inverse(&this.config.axes())));
}
