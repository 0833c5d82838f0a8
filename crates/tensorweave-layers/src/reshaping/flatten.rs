//! `Flatten` (Keras' `layers.Flatten`).

use ndarray::ArrayD;
use serde::{Deserialize, Serialize};
use tensorweave_core::{CallContext, Error, Layer, Result, TensorSpec, Value};
use tensorweave_derive::LayerConfig;

use super::{inverse, moves_data_backward, per_dtype, permute, reshape_to, single};
use crate::class::Common;
use crate::class_and_config;
use crate::convolutional::DataFormat;
use crate::util::{known_size, single_batched_input};
use tensorweave_core::Inputs;

/// Builder and configuration of a `Flatten` layer (Keras' `layers.Flatten`):
/// `(batch, d1, d2, …)` becomes `(batch, d1 * d2 * …)`; a `(batch,)` input
/// becomes `(batch, 1)`.
///
/// With `channels_first` the channel axis (axis 1) is moved last before
/// flattening, as Keras does.
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let x = Input::new([8, 3]).build();
/// let y = Flatten::new().call(&x).unwrap();
/// assert_eq!(y.shape(), &vec![None, Some(24)]);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize, LayerConfig)]
#[serde(default)]
#[layer(FlattenLayer, class = "Flatten")]
pub struct Flatten {
    /// Channel axis position (default `channels_last`).
    pub data_format: DataFormat,
    /// Keras' `trainable` flag (the layer has no weights).
    #[config(default = true)]
    pub trainable: bool,
    /// Name, seed and initial weights.
    #[serde(skip)]
    pub common: Common,
}

impl Flatten {
    /// A flatten layer.
    pub fn new() -> Self {
        Self::default()
    }
}

/// The `Flatten` layer itself.
#[derive(Debug, Default)]
pub struct FlattenLayer {
    config: Flatten,
}

impl FlattenLayer {
    /// The axis order applied before flattening (`channels_first` moves axis 1 last).
    fn axes(&self, rank: usize) -> Option<Vec<usize>> {
        (self.config.data_format == DataFormat::ChannelsFirst && rank > 2).then(|| {
            let mut axes: Vec<usize> = vec![0];
            axes.extend(2..rank);
            axes.push(1);
            axes
        })
    }
}

fn flatten_array<T: Clone>(a: &ArrayD<T>, axes: &Option<Vec<usize>>) -> Result<ArrayD<T>> {
    let batch = a
        .shape()
        .first()
        .copied()
        .ok_or_else(|| Error::invalid("expects inputs with a batch axis, got a scalar"))?;
    let rest: usize = a.shape()[1..].iter().product();
    match axes {
        Some(axes) => reshape_to(&permute(a, axes)?, &[batch, rest]),
        None => reshape_to(a, &[batch, rest]),
    }
}

impl Layer for FlattenLayer {
    class_and_config!();

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        let x = single_batched_input(inputs)?;
        // Keras: product of the non-batch axes, None if any is unknown, 1 for none.
        let rest = known_size(&x.shape[1..])?;
        Ok(vec![TensorSpec::new(vec![x.shape[0], rest], x.dtype)])
    }

    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        let x = single(inputs)?;
        let axes = self.axes(x.shape().len());
        Ok(vec![per_dtype!(x, flatten_array, &axes)])
    }

    moves_data_backward!(|this, x, gy| {
        match this.axes(x.ndim()) {
            None => reshape_to(gy, x.shape()),
            Some(axes) => {
                let moved: Vec<usize> = axes.iter().map(|&a| x.shape()[a]).collect();
                permute(&reshape_to(gy, &moved)?, &inverse(&axes))
            }
        }
    });
}
