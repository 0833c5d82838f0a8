//! `MaxPooling2D` (Keras' `layers.MaxPooling2D`): the maximum of each window
//! of images `[batch, height, width, channels]`; with `same` padding the
//! padded positions are ignored (TensorFlow's `SAME`). NaN is skipped, as
//! TensorFlow's `MaxPool` does. Takes no mask.

use ndarray::{Array4, Ix4};
use serde::{Deserialize, Serialize};
use tensorweave_core::{
    format_dims, BackwardCall, BuildContext, CallContext, Error, Inputs, Layer, LayerGrads, Result,
    TensorSpec, Value,
};
use tensorweave_derive::LayerConfig;

use crate::class::Common;
use crate::class_and_config;
use crate::convolutional::{axis_geometry, expect_channels_last, tuple2, DataFormat, Padding};
use crate::util::{expect_float, expect_inputs, expect_rank};

/// Builder and configuration of a `MaxPooling2D` layer.
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let x = Input::new([10, 1, 4]).build();
/// let y = MaxPooling2D::new([10, 1]).call(&x).unwrap();
/// assert_eq!(y.shape(), &vec![None, Some(1), Some(1), Some(4)]);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize, LayerConfig)]
#[serde(default)]
#[layer(MaxPooling2DLayer, class = "MaxPooling2D")]
pub struct MaxPooling2D {
    /// Window height and width (default `[2, 2]`).
    #[serde(with = "tuple2")]
    #[config(default = [2, 2])]
    pub pool_size: [usize; 2],
    /// Steps between windows (default: the pool size).
    #[serde(with = "tuple2::option")]
    pub strides: Option<[usize; 2]>,
    /// `valid` (default) or `same`.
    pub padding: Padding,
    /// Channel axis position; only `channels_last` runs.
    pub data_format: DataFormat,
    /// Keras' `trainable` flag (the layer has no weights).
    #[config(default = true)]
    pub trainable: bool,
    /// Name and initial weights.
    #[serde(skip)]
    pub common: Common,
}

impl MaxPooling2D {
    /// Windows of `pool_size` (height, width), moved by the same.
    pub fn new(pool_size: [usize; 2]) -> Self {
        MaxPooling2D {
            pool_size,
            ..Default::default()
        }
    }

    fn stride(&self) -> [usize; 2] {
        self.strides.unwrap_or(self.pool_size)
    }

    fn geometry(&self, axis: usize, size: usize) -> Result<(usize, usize)> {
        axis_geometry(
            size,
            self.pool_size[axis],
            self.stride()[axis],
            self.padding,
        )
        .ok_or_else(|| {
            Error::invalid(format!(
                "the input is {size} wide on axis {}, smaller than the pool ({}) with padding \
                     \"valid\"",
                axis + 1,
                self.pool_size[axis]
            ))
        })
    }
}

/// The `MaxPooling2D` layer (no weights).
#[derive(Debug, Default)]
pub struct MaxPooling2DLayer {
    config: MaxPooling2D,
}

impl MaxPooling2DLayer {
    /// For every output, the input position of its window's first maximum
    /// (`None` for a window of NaN only), and the output.
    #[allow(clippy::type_complexity)]
    fn pool(
        &self,
        x: &ndarray::ArrayView4<'_, f32>,
    ) -> Result<(Array4<f32>, Vec<Option<[usize; 4]>>)> {
        let c = &self.config;
        if c.padding == Padding::Causal || c.pool_size.contains(&0) || c.stride().contains(&0) {
            return Err(Error::invalid(
                "pool_size and strides must be positive and padding \"valid\" or \"same\"",
            ));
        }
        let (b, h, w, ch) = x.dim();
        let (oh, ph) = c.geometry(0, h)?;
        let (ow, pw) = c.geometry(1, w)?;
        let [sh, sw] = c.stride();
        let [kh, kw] = c.pool_size;
        let mut out = Array4::<f32>::zeros((b, oh, ow, ch));
        let mut at = Vec::with_capacity(b * oh * ow * ch);
        for bi in 0..b {
            for r in 0..oh {
                for q in 0..ow {
                    for k in 0..ch {
                        let mut best: Option<([usize; 4], f32)> = None;
                        for i in 0..kh {
                            for j in 0..kw {
                                let Some(y) = (r * sh + i).checked_sub(ph).filter(|&y| y < h)
                                else {
                                    continue;
                                };
                                let Some(xx) = (q * sw + j).checked_sub(pw).filter(|&v| v < w)
                                else {
                                    continue;
                                };
                                let v = x[[bi, y, xx, k]];
                                if v.is_nan() {
                                    continue;
                                }
                                if best.is_none_or(|(_, m)| v > m) {
                                    best = Some(([bi, y, xx, k], v));
                                }
                            }
                        }
                        out[[bi, r, q, k]] = best.map_or(f32::NAN, |(_, v)| v);
                        at.push(best.map(|(p, _)| p));
                    }
                }
            }
        }
        Ok((out, at))
    }
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

impl Layer for MaxPooling2DLayer {
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
        let dim = |axis: usize| -> Result<Option<usize>> {
            x.shape[axis + 1]
                .map(|n| self.config.geometry(axis, n).map(|(o, _)| o))
                .transpose()
        };
        Ok(vec![TensorSpec::f32(vec![
            x.shape[0],
            dim(0)?,
            dim(1)?,
            x.shape[3],
        ])])
    }

    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        let x = images(inputs)?;
        Ok(vec![Value::F32(self.pool(&x)?.0.into_dyn())])
    }

    fn has_backward(&self) -> bool {
        true
    }

    /// TensorFlow's `MaxPoolGrad`: each output's gradient to its window's
    /// first maximum.
    fn backward(&self, call: &BackwardCall<'_>) -> Result<LayerGrads> {
        let Some(g) = call.value_grad(0)? else {
            return Ok(LayerGrads::inputs(vec![None]));
        };
        let x = images(call.inputs)?;
        let (_, at) = self.pool(&x)?;
        let mut gx = Array4::<f32>::zeros(x.raw_dim());
        for (p, &gv) in at.iter().zip(g.iter()) {
            if let Some(p) = p {
                gx[*p] += gv;
            }
        }
        Ok(LayerGrads::inputs(vec![Some(gx.into_dyn())]))
    }
}
