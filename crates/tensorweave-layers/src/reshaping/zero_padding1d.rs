//! `ZeroPadding1D` (Keras' `layers.ZeroPadding1D`).

use ndarray::{ArrayD, Axis, Slice};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};
use tensorweave_core::{format_dims, CallContext, Error, Inputs, Layer, Result, TensorSpec, Value};
use tensorweave_derive::LayerConfig;

use super::{moves_data_backward, per_dtype, single};
use crate::class::{Common, LayerClass};
use crate::class_and_config;
use crate::util::{expect_inputs, expect_rank};

/// Builder and configuration of a `ZeroPadding1D` layer (Keras'
/// `layers.ZeroPadding1D`): adds `padding.0` zero steps before and
/// `padding.1` after axis 1 of a `(batch, steps, features)` input.
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let x = Input::new([10, 3]).build();
/// let y = ZeroPadding1D::new((1, 2)).call(&x).unwrap();
/// assert_eq!(y.shape(), &vec![None, Some(13), Some(3)]);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize, LayerConfig)]
#[serde(default)]
#[layer(ZeroPadding1DLayer)]
pub struct ZeroPadding1D {
    /// Zero steps added at the start and at the end.
    #[config(default = (1, 1))]
    pub padding: (usize, usize),
    /// `channels_last` (steps on axis 1, Keras' default) or `channels_first`
    /// (steps on axis 2).
    #[config(default = "channels_last".to_string())]
    pub data_format: String,
    /// Keras' `trainable` flag (the layer has no weights).
    #[config(default = true)]
    pub trainable: bool,
    /// Name, seed and initial weights.
    #[serde(skip)]
    pub common: Common,
}

impl ZeroPadding1D {
    /// Pads `(start, end)` steps.
    pub fn new(padding: (usize, usize)) -> Self {
        ZeroPadding1D {
            padding,
            ..Default::default()
        }
    }
}

/// The `ZeroPadding1D` layer itself.
#[derive(Debug)]
pub struct ZeroPadding1DLayer {
    config: ZeroPadding1D,
}

/// `a` with `before` and `after` default (zero) entries around `axis`.
fn pad_array<T: Clone + Default>(
    a: &ArrayD<T>,
    before: usize,
    after: usize,
    axis: usize,
) -> Result<ArrayD<T>> {
    if a.ndim() != 3 {
        return Err(Error::invalid(format!(
            "expects inputs of rank 3 (batch, steps, features), got shape {}",
            format_dims(a.shape())
        )));
    }
    let mut shape = a.shape().to_vec();
    shape[axis] = shape[axis]
        .checked_add(before)
        .and_then(|n| n.checked_add(after))
        .ok_or_else(|| Error::invalid("padding overflows the number of steps"))?;
    let mut out = ArrayD::<T>::default(shape);
    out.slice_axis_mut(Axis(axis), Slice::from(before..before + a.shape()[axis]))
        .assign(a);
    Ok(out)
}

impl ZeroPadding1DLayer {
    /// The steps axis, from `data_format`.
    fn axis(&self) -> Result<usize> {
        match self.config.data_format.as_str() {
            "channels_last" => Ok(1),
            "channels_first" => Ok(2),
            other => Err(Error::invalid(format!(
                "data_format must be 'channels_last' or 'channels_first', got '{other}'"
            ))),
        }
    }
}

impl LayerClass for ZeroPadding1DLayer {
    const CLASS_NAME: &'static str = "ZeroPadding1D";
    type Builder = ZeroPadding1D;

    fn from_builder(config: ZeroPadding1D) -> Self {
        ZeroPadding1DLayer { config }
    }

    /// `ZeroPadding1D(padding=2)` means `(2, 2)`.
    fn upgrade_config(config: &mut Map<String, Json>) {
        if let Some(p @ Json::Number(_)) = config.get_mut("padding") {
            *p = Json::Array(vec![p.clone(), p.clone()]);
        }
    }
}

impl Layer for ZeroPadding1DLayer {
    class_and_config!();

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        expect_inputs(inputs, 1)?;
        let x = &inputs[0];
        expect_rank(x, 3, "inputs (batch, steps, features)")?;
        let (before, after) = self.config.padding;
        let axis = self.axis()?;
        let steps = x.shape[axis].and_then(|n| n.checked_add(before)?.checked_add(after));
        if x.shape[axis].is_some() && steps.is_none() {
            return Err(Error::invalid("padding overflows the number of steps"));
        }
        let mut shape = x.shape.clone();
        shape[axis] = steps;
        Ok(vec![TensorSpec::new(shape, x.dtype)])
    }

    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        let x = single(inputs)?;
        let (before, after) = self.config.padding;
        let axis = self.axis()?;
        Ok(vec![per_dtype!(x, pad_array, before, after, axis)])
    }

    // The padding steps have no input: the gradient of the others.
    moves_data_backward!(|this, x, gy| {
        let start = this.config.padding.0;
        let axis = this.axis()?;
        let steps = x.shape().get(axis).copied().unwrap_or(0);
        Ok::<_, Error>(
            gy.slice_axis(Axis(axis), Slice::from(start..start + steps))
                .to_owned(),
        )
    });
}
