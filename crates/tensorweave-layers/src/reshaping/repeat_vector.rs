//! `RepeatVector` (Keras' `layers.RepeatVector`).

use ndarray::{ArrayD, Axis, IxDyn};
use serde::{Deserialize, Serialize};
use tensorweave_core::format_dims;
use tensorweave_core::{BuildContext, CallContext, Error, Layer, Result, TensorSpec, Value};
use tensorweave_derive::LayerConfig;

use super::{moves_data_backward, per_dtype, single};
use crate::class::Common;
use crate::class_and_config;
use crate::util::{expect_inputs, expect_rank};
use tensorweave_core::Inputs;

/// Builder and configuration of a `RepeatVector` layer (Keras'
/// `layers.RepeatVector`): `(batch, features)` becomes `(batch, n, features)`.
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let x = Input::new([3]).build();
/// let y = RepeatVector::new(4).call(&x).unwrap();
/// assert_eq!(y.shape(), &vec![None, Some(4), Some(3)]);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize, LayerConfig)]
#[serde(default)]
#[layer(RepeatVectorLayer, class = "RepeatVector")]
pub struct RepeatVector {
    /// How many times to repeat.
    #[config(default = 1)]
    pub n: usize,
    /// Keras' `trainable` flag (the layer has no weights).
    #[config(default = true)]
    pub trainable: bool,
    /// Name, seed and initial weights.
    #[serde(skip)]
    pub common: Common,
}

impl RepeatVector {
    /// Repeats each example `n` times along a new axis 1.
    pub fn new(n: usize) -> Self {
        RepeatVector {
            n,
            ..Default::default()
        }
    }
}

/// The `RepeatVector` layer itself.
#[derive(Debug, Default)]
pub struct RepeatVectorLayer {
    config: RepeatVector,
}

fn repeat_array<T: Clone>(a: &ArrayD<T>, n: usize) -> Result<ArrayD<T>> {
    if a.ndim() != 2 {
        return Err(Error::invalid(format!(
            "expects inputs of rank 2 (batch, features), got shape {}",
            format_dims(a.shape())
        )));
    }
    let (batch, features) = (a.shape()[0], a.shape()[1]);
    let view = a.view().insert_axis(Axis(1));
    let repeated = view
        .broadcast(IxDyn(&[batch, n, features]))
        .ok_or_else(|| Error::invalid("internal: broadcast failed"))?;
    Ok(repeated.as_standard_layout().into_owned())
}

impl Layer for RepeatVectorLayer {
    class_and_config!();

    fn build(&mut self, _inputs: &[TensorSpec], _ctx: &mut BuildContext) -> Result<()> {
        if self.config.n == 0 {
            return Err(Error::invalid("n must be a positive integer, got 0"));
        }
        Ok(())
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        expect_inputs(inputs, 1)?;
        let x = &inputs[0];
        expect_rank(x, 2, "inputs (batch, features)")?;
        Ok(vec![TensorSpec::new(
            vec![x.shape[0], Some(self.config.n), x.shape[1]],
            x.dtype,
        )])
    }

    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        let x = single(inputs)?;
        Ok(vec![per_dtype!(x, repeat_array, self.config.n)])
    }

    // Each input row was copied to every step: its gradient is the sum over them.
    moves_data_backward!(|_this, _x, gy| Ok::<_, Error>(gy.sum_axis(Axis(1))));
}
