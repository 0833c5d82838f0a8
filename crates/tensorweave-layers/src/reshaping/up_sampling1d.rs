//! `UpSampling1D` (Keras' `layers.UpSampling1D`).

use ndarray::{ArrayD, Axis};
use serde::{Deserialize, Serialize};
use tensorweave_core::{format_dims, CallContext, Error, Inputs, Layer, Result, TensorSpec, Value};
use tensorweave_derive::LayerConfig;

use super::{moves_data_backward, per_dtype, single};
use crate::class::{Common, LayerClass};
use crate::class_and_config;
use crate::util::{expect_inputs, expect_rank};

/// Builder and configuration of an `UpSampling1D` layer (Keras'
/// `layers.UpSampling1D`): repeats each step `size` times along axis 1 of a
/// `(batch, steps, features)` input.
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let x = Input::new([4, 3]).build();
/// let y = UpSampling1D::new(3).call(&x).unwrap();
/// assert_eq!(y.shape(), &vec![None, Some(12), Some(3)]);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize, LayerConfig)]
#[serde(default)]
#[layer(UpSampling1DLayer)]
pub struct UpSampling1D {
    /// How many times each step is repeated (Keras' default 2).
    #[config(default = 2)]
    pub size: usize,
    /// Keras' `trainable` flag (the layer has no weights).
    #[config(default = true)]
    pub trainable: bool,
    /// Name, seed and initial weights.
    #[serde(skip)]
    pub common: Common,
}

impl UpSampling1D {
    /// Repeats each step `size` times.
    pub fn new(size: usize) -> Self {
        UpSampling1D {
            size,
            ..Default::default()
        }
    }

    fn steps(&self, steps: usize) -> Result<usize> {
        if self.size == 0 {
            return Err(Error::invalid("size must be at least 1"));
        }
        steps.checked_mul(self.size).ok_or_else(|| {
            Error::invalid(format!("{steps} steps times size {} overflow", self.size))
        })
    }
}

/// The `UpSampling1D` layer itself.
#[derive(Debug)]
pub struct UpSampling1DLayer {
    config: UpSampling1D,
}

/// Each step of `a` (axis 1) repeated `size` times.
fn repeat_steps<T: Clone>(a: &ArrayD<T>, size: usize) -> Result<ArrayD<T>> {
    if a.ndim() != 3 {
        return Err(Error::invalid(format!(
            "expects inputs of rank 3 (batch, steps, features), got shape {}",
            format_dims(a.shape())
        )));
    }
    let index: Vec<usize> = (0..a.shape()[1] * size).map(|i| i / size).collect();
    Ok(a.select(Axis(1), &index))
}

impl LayerClass for UpSampling1DLayer {
    const CLASS_NAME: &'static str = "UpSampling1D";
    type Builder = UpSampling1D;

    fn from_builder(config: UpSampling1D) -> Self {
        UpSampling1DLayer { config }
    }
}

impl Layer for UpSampling1DLayer {
    class_and_config!();

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        expect_inputs(inputs, 1)?;
        let x = &inputs[0];
        expect_rank(x, 3, "inputs (batch, steps, features)")?;
        let steps = x.shape[1].map(|n| self.config.steps(n)).transpose()?;
        if x.shape[1].is_none() {
            self.config.steps(0)?;
        }
        Ok(vec![TensorSpec::new(
            vec![x.shape[0], steps, x.shape[2]],
            x.dtype,
        )])
    }

    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        let x = single(inputs)?;
        self.config.steps(x.shape().get(1).copied().unwrap_or(0))?;
        Ok(vec![per_dtype!(x, repeat_steps, self.config.size)])
    }

    // Each input step's gradient sums its copies'.
    moves_data_backward!(|this, x, gy| {
        let size = this.config.size.max(1);
        let mut gx = ArrayD::<f32>::zeros(x.shape());
        for (i, step) in gy.axis_iter(Axis(1)).enumerate() {
            let mut dst = gx.index_axis_mut(Axis(1), i / size);
            dst += &step;
        }
        Ok::<_, Error>(gx)
    });
}
