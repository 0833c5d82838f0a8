//! `GlobalMaxPooling2D` (Keras' `layers.GlobalMaxPooling2D`): the maximum of
//! each channel over the height and width of images `[batch, height, width,
//! channels]` (`keepdims` keeps those axes as size 1). Its gradient is shared
//! between the positions holding the maximum, as TensorFlow's `reduce_max`.

use ndarray::{Array4, Axis, Ix4, Zip};
use serde::{Deserialize, Serialize};
use tensorweave_core::{
    format_dims, BackwardCall, BuildContext, CallContext, Error, Inputs, Layer, LayerGrads, Result,
    TensorSpec, Value,
};
use tensorweave_derive::LayerConfig;

use crate::class::Common;
use crate::class_and_config;
use crate::convolutional::{expect_channels_last, DataFormat};
use crate::util::{expect_float, expect_inputs, expect_rank};

/// Builder and configuration of a `GlobalMaxPooling2D` layer.
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let x = Input::new([5, 3, 4]).build();
/// let y = GlobalMaxPooling2D::new().call(&x).unwrap();
/// assert_eq!(y.shape(), &vec![None, Some(4)]);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize, LayerConfig)]
#[serde(default)]
#[layer(GlobalMaxPooling2DLayer, class = "GlobalMaxPooling2D")]
pub struct GlobalMaxPooling2D {
    /// Channel axis position; only `channels_last` runs.
    pub data_format: DataFormat,
    /// Keep the pooled axes as size 1 (default false).
    pub keepdims: bool,
    /// Keras' `trainable` flag (the layer has no weights).
    #[config(default = true)]
    pub trainable: bool,
    /// Name and initial weights.
    #[serde(skip)]
    pub common: Common,
}

impl GlobalMaxPooling2D {
    /// Global max pooling with Keras' defaults.
    pub fn new() -> Self {
        Self::default()
    }
}

/// The `GlobalMaxPooling2D` layer (no weights).
#[derive(Debug, Default)]
pub struct GlobalMaxPooling2DLayer {
    config: GlobalMaxPooling2D,
}

fn images<'a>(inputs: &Inputs<'a>) -> Result<ndarray::ArrayView4<'a, f32>> {
    let x = inputs.f32(0)?;
    x.view().into_dimensionality::<Ix4>().map_err(|_| {
        Error::invalid(format!(
            "expects images (batch, height, width, channels), got shape {}",
            format_dims(x.shape())
        ))
    })
}

/// The maxima `[batch, 1, 1, channels]` (NaN propagates).
fn maxima(x: &ndarray::ArrayView4<'_, f32>) -> Array4<f32> {
    let (b, _, _, c) = x.dim();
    let mut m = Array4::<f32>::from_elem((b, 1, 1, c), f32::NEG_INFINITY);
    for ((bi, _, _, k), &v) in x.indexed_iter() {
        let slot = &mut m[[bi, 0, 0, k]];
        if (v.is_nan() || *slot < v) && !slot.is_nan() {
            *slot = v;
        }
    }
    m
}

impl Layer for GlobalMaxPooling2DLayer {
    class_and_config!();

    fn build(&mut self, inputs: &[TensorSpec], _ctx: &mut BuildContext) -> Result<()> {
        expect_inputs(inputs, 1)?;
        expect_channels_last(self.config.data_format)
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        expect_inputs(inputs, 1)?;
        let x = &inputs[0];
        expect_float(x)?;
        expect_rank(x, 4, "images (batch, height, width, channels)")?;
        let shape = if self.config.keepdims {
            vec![x.shape[0], Some(1), Some(1), x.shape[3]]
        } else {
            vec![x.shape[0], x.shape[3]]
        };
        Ok(vec![TensorSpec::f32(shape)])
    }

    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        let x = images(inputs)?;
        let m = maxima(&x);
        Ok(vec![Value::F32(if self.config.keepdims {
            m.into_dyn()
        } else {
            m.index_axis(Axis(1), 0)
                .index_axis(Axis(1), 0)
                .to_owned()
                .into_dyn()
        })])
    }

    fn has_backward(&self) -> bool {
        true
    }

    fn backward(&self, call: &BackwardCall<'_>) -> Result<LayerGrads> {
        let Some(g) = call.value_grad(0)? else {
            return Ok(LayerGrads::inputs(vec![None]));
        };
        let x = images(call.inputs)?;
        let (b, _, _, c) = x.dim();
        let m = maxima(&x);
        let g = g
            .as_standard_layout()
            .into_owned()
            .into_shape_with_order((b, 1, 1, c))
            .map_err(|e| Error::invalid(format!("internal: gradient shape: {e}")))?;
        let hits = Zip::from(&x)
            .and_broadcast(&m)
            .map_collect(|&v, &m| f32::from(u8::from(v == m)));
        let counts = hits.sum_axis(Axis(1)).sum_axis(Axis(1));
        let mut gx = Array4::<f32>::zeros(x.raw_dim());
        for ((bi, y, xx, k), slot) in gx.indexed_iter_mut() {
            if hits[[bi, y, xx, k]] > 0.0 {
                *slot = g[[bi, 0, 0, k]] / counts[[bi, k]];
            }
        }
        Ok(LayerGrads::inputs(vec![Some(gx.into_dyn())]))
    }
}
