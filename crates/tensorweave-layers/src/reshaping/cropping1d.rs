//! `Cropping1D` (Keras' `layers.Cropping1D`).

use ndarray::{ArrayD, Axis, Slice};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};
use tensorweave_core::format_dims;
use tensorweave_core::{CallContext, Error, Layer, Result, TensorSpec, Value};
use tensorweave_derive::LayerConfig;

use super::{moves_data_backward, per_dtype, single};
use crate::class::{Common, LayerClass};
use crate::class_and_config;
use crate::util::{expect_inputs, expect_rank};
use tensorweave_core::Inputs;

/// Builder and configuration of a `Cropping1D` layer (Keras' `layers.Cropping1D`):
/// drops `cropping.0` steps at the start and `cropping.1` at the end of axis 1
/// of a `(batch, steps, features)` input.
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let x = Input::new([10, 3]).build();
/// let y = Cropping1D::new((8, 0)).call(&x).unwrap();
/// assert_eq!(y.shape(), &vec![None, Some(2), Some(3)]);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize, LayerConfig)]
#[serde(default)]
#[layer(Cropping1DLayer)]
pub struct Cropping1D {
    /// Steps removed at the start and at the end.
    #[config(default = (1, 1))]
    pub cropping: (usize, usize),
    /// Keras' `trainable` flag (the layer has no weights).
    #[config(default = true)]
    pub trainable: bool,
    /// Name, seed and initial weights.
    #[serde(skip)]
    pub common: Common,
}

impl Cropping1D {
    /// Crops `(start, end)` steps.
    pub fn new(cropping: (usize, usize)) -> Self {
        Cropping1D {
            cropping,
            ..Default::default()
        }
    }

    /// The remaining length, or an error when nothing would remain.
    fn remaining(&self, steps: usize) -> Result<usize> {
        let (start, end) = self.cropping;
        steps
            .checked_sub(start + end)
            .filter(|&n| n > 0)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "cropping ({start}, {end}) must remove fewer steps than the input's {steps}"
                ))
            })
    }
}

/// The `Cropping1D` layer itself.
#[derive(Debug)]
pub struct Cropping1DLayer {
    config: Cropping1D,
}

fn crop_array<T: Clone>(a: &ArrayD<T>, start: usize, len: usize) -> Result<ArrayD<T>> {
    if a.ndim() != 3 {
        return Err(Error::invalid(format!(
            "expects inputs of rank 3 (batch, steps, features), got shape {}",
            format_dims(a.shape())
        )));
    }
    Ok(a.slice_axis(Axis(1), Slice::from(start..start + len))
        .to_owned())
}

impl LayerClass for Cropping1DLayer {
    const CLASS_NAME: &'static str = "Cropping1D";
    type Builder = Cropping1D;

    fn from_builder(config: Cropping1D) -> Self {
        Cropping1DLayer { config }
    }

    /// `Cropping1D(cropping=2)` means `(2, 2)`.
    fn upgrade_config(config: &mut Map<String, Json>) {
        if let Some(c @ Json::Number(_)) = config.get_mut("cropping") {
            *c = Json::Array(vec![c.clone(), c.clone()]);
        }
    }
}

impl Layer for Cropping1DLayer {
    class_and_config!();

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        expect_inputs(inputs, 1)?;
        let x = &inputs[0];
        expect_rank(x, 3, "inputs (batch, steps, features)")?;
        let steps = match x.shape[1] {
            Some(steps) => Some(self.config.remaining(steps)?),
            None => None,
        };
        Ok(vec![TensorSpec::new(
            vec![x.shape[0], steps, x.shape[2]],
            x.dtype,
        )])
    }

    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        let x = single(inputs)?;
        if x.shape().len() != 3 {
            return Err(Error::invalid(format!(
                "expects inputs of rank 3 (batch, steps, features), got shape {}",
                format_dims(x.shape())
            )));
        }
        let len = self.config.remaining(x.shape()[1])?;
        Ok(vec![per_dtype!(x, crop_array, self.config.cropping.0, len)])
    }

    // The cropped steps get no gradient.
    moves_data_backward!(|this, x, gy| {
        let mut gx = ArrayD::<f32>::zeros(x.shape());
        let start = this.config.cropping.0 as isize;
        let len = gy.shape().get(1).copied().unwrap_or(0) as isize;
        gx.slice_axis_mut(Axis(1), Slice::from(start..start + len))
            .assign(gy);
        Ok::<_, Error>(gx)
    });
}
