//! `Reshape` (Keras' `layers.Reshape`).

use serde::{Deserialize, Serialize};
use tensorweave_core::{
    format_shape, BuildContext, CallContext, Error, Layer, Result, Shape, TensorSpec, Value,
};
use tensorweave_derive::LayerConfig;

use super::{moves_data_backward, per_dtype, reshape_to, single};
use crate::class::Common;
use crate::class_and_config;
use crate::util::single_batched_input;
use tensorweave_core::Inputs;

/// Builder and configuration of a `Reshape` layer (Keras' `layers.Reshape`).
///
/// `target_shape` excludes the batch axis; one entry may be `-1`, inferred from
/// the number of elements.
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let x = Input::new([4, 3]).build();
/// let y = Reshape::new(vec![2, -1]).call(&x).unwrap();
/// assert_eq!(y.shape(), &vec![None, Some(2), Some(6)]);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize, LayerConfig)]
#[serde(default)]
#[layer(ReshapeLayer, class = "Reshape")]
pub struct Reshape {
    /// The new shape without the batch axis; at most one `-1`.
    pub target_shape: Vec<i64>,
    /// Keras' `trainable` flag (the layer has no weights).
    #[config(default = true)]
    pub trainable: bool,
    /// Name, seed and initial weights.
    #[serde(skip)]
    pub common: Common,
}

impl Reshape {
    /// Reshapes each example to `target_shape` (one entry may be `-1`).
    pub fn new(target_shape: impl Into<Vec<i64>>) -> Self {
        Reshape {
            target_shape: target_shape.into(),
            ..Default::default()
        }
    }

    /// Keras' `validate_reshape_shape`: entries ≥ -1, at most one -1.
    fn validate(&self) -> Result<()> {
        let t = &self.target_shape;
        if t.iter().any(|&d| d < -1) || t.iter().filter(|&&d| d == -1).count() > 1 {
            return Err(Error::invalid(format!(
                "target_shape {t:?} must hold non-negative sizes and at most one -1 \
                 (the batch axis is not part of it)"
            )));
        }
        Ok(())
    }

    /// Keras' `compute_reshape_output_shape` on the non-batch axes: resolves the
    /// `-1` when every input axis is known; `None` where it cannot.
    fn resolve(&self, input: &[Option<usize>]) -> Result<Shape> {
        self.validate()?;
        let target = &self.target_shape;
        let as_dims = |unknown: Option<usize>| -> Shape {
            target
                .iter()
                .map(|&d| if d == -1 { unknown } else { Some(d as usize) })
                .collect()
        };
        let Some(input_size) = crate::util::known_size(input)? else {
            return Ok(as_dims(None));
        };
        let known = target
            .iter()
            .filter(|&&d| d != -1)
            .try_fold(1usize, |acc, &d| acc.checked_mul(d as usize))
            .ok_or_else(|| Error::invalid(format!("target_shape {target:?} is too large")))?;
        let mismatch = || {
            Error::invalid(format!(
                "cannot reshape examples of shape {} ({input_size} elements) to target_shape \
                 {target:?}; the total size must stay the same",
                format_shape(input)
            ))
        };
        if !target.contains(&-1) {
            return if known == input_size {
                Ok(as_dims(None))
            } else {
                Err(mismatch())
            };
        }
        if known == 0 || input_size % known != 0 {
            return Err(mismatch());
        }
        Ok(as_dims(Some(input_size / known)))
    }
}

/// The `Reshape` layer itself.
#[derive(Debug, Default)]
pub struct ReshapeLayer {
    config: Reshape,
}

impl Layer for ReshapeLayer {
    class_and_config!();

    fn build(&mut self, _inputs: &[TensorSpec], _ctx: &mut BuildContext) -> Result<()> {
        self.config.validate()
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        let x = single_batched_input(inputs)?;
        let mut shape = vec![x.shape[0]];
        shape.extend(self.config.resolve(&x.shape[1..])?);
        Ok(vec![TensorSpec::new(shape, x.dtype)])
    }

    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        let x = single(inputs)?;
        let dims: Vec<Option<usize>> = x.shape().iter().map(|&d| Some(d)).collect();
        let (batch, rest) = dims
            .split_first()
            .ok_or_else(|| Error::invalid("expects inputs with a batch axis, got a scalar"))?;
        let mut shape = vec![batch.unwrap_or(0)];
        for d in self.config.resolve(rest)? {
            shape.push(d.ok_or_else(|| Error::invalid("internal: unresolved target size"))?);
        }
        Ok(vec![per_dtype!(x, reshape_to, &shape)])
    }

    moves_data_backward!(|_this, x, gy| reshape_to(gy, x.shape()));
}
