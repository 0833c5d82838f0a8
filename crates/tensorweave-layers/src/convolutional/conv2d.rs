//! `Conv2D` (Keras' `layers.Conv2D`) on images `[batch, height, width,
//! channels]`: `activation(conv2d(x, kernel) + bias)` with `valid` or `same`
//! (TensorFlow `SAME`) padding, strides and dilation, as im2col plus one
//! matrix product. Kernel `(kh, kw, channels, filters)`, bias `(filters,)`.
//! The convolutions of text models over an embedded sequence reshaped to an
//! image (Kim's CNN) use it. Takes no mask.

use ndarray::{s, Array2, Array4, ArrayD, ArrayView4, Axis, Ix4, IxDyn};
use serde::{Deserialize, Serialize};
use tensorweave_core::{
    format_dims, format_shape, layer_rng, BackwardCall, BuildContext, CallContext, Error,
    Initializer, Inputs, Layer, LayerGrads, Param, Result, TensorSpec, Trained, Value,
};
use tensorweave_derive::LayerConfig;

use super::{axis_geometry, expect_channels_last, tuple2, DataFormat, Padding};
use crate::activations::{activated_for_training, pre_activation_grad, Activation};
use crate::class::Common;
use crate::util::{expect_float, expect_inputs, expect_rank, known_last_dim, matmul_2d};
use crate::{class_and_config, optional_params};

/// Builder and configuration of a `Conv2D` layer.
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let x = Input::new([12, 8, 1]).build();
/// let y = Conv2D::new(4, [3, 8]).activation(Activation::Relu).call(&x).unwrap();
/// assert_eq!(y.shape(), &vec![None, Some(10), Some(1), Some(4)]);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize, LayerConfig)]
#[serde(default)]
#[layer(Conv2DLayer, class = "Conv2D")]
pub struct Conv2D {
    /// Number of output channels.
    #[config(default = 1)]
    pub filters: usize,
    /// Window height and width.
    #[serde(with = "tuple2")]
    #[config(default = [1, 1])]
    pub kernel_size: [usize; 2],
    /// Steps between windows (default `[1, 1]`).
    #[serde(with = "tuple2")]
    #[config(default = [1, 1])]
    pub strides: [usize; 2],
    /// `valid` (default) or `same`.
    pub padding: Padding,
    /// Channel axis position; only `channels_last` runs.
    pub data_format: DataFormat,
    /// Spacing between kernel taps (default `[1, 1]`).
    #[serde(with = "tuple2")]
    #[config(default = [1, 1])]
    pub dilation_rate: [usize; 2],
    /// Number of channel groups (only 1 is supported).
    #[config(default = 1)]
    pub groups: usize,
    /// Applied after adding the bias (default linear).
    pub activation: Activation,
    /// Whether to add a bias (default true).
    #[config(default = true)]
    pub use_bias: bool,
    /// Kernel initializer (default Glorot uniform).
    #[config(default = Initializer::GlorotUniform)]
    pub kernel_initializer: Initializer,
    /// Bias initializer (default zeros).
    #[config(default = Initializer::Zeros)]
    pub bias_initializer: Initializer,
    /// The kernel's regularizer as Keras serializes it (default none).
    pub kernel_regularizer: Option<serde_json::Value>,
    /// The bias's regularizer (default none).
    pub bias_regularizer: Option<serde_json::Value>,
    /// Keras' `activity_regularizer` (default none).
    pub activity_regularizer: Option<serde_json::Value>,
    /// Whether the weights are trainable (default true).
    #[config(default = true)]
    pub trainable: bool,
    /// Name, seed and initial weights.
    #[serde(skip)]
    pub common: Common,
}

impl Conv2D {
    /// `filters` output channels from windows of `kernel_size` (height, width).
    pub fn new(filters: usize, kernel_size: [usize; 2]) -> Self {
        Conv2D {
            filters,
            kernel_size,
            ..Default::default()
        }
    }

    fn span(&self, axis: usize) -> usize {
        self.dilation_rate[axis] * (self.kernel_size[axis].max(1) - 1) + 1
    }

    fn validate(&self) -> Result<()> {
        expect_channels_last(self.data_format)?;
        if self.filters == 0
            || self.kernel_size.contains(&0)
            || self.strides.contains(&0)
            || self.dilation_rate.contains(&0)
        {
            return Err(Error::invalid(
                "filters, kernel_size, strides and dilation_rate must be positive",
            ));
        }
        if self.groups != 1 {
            return Err(Error::invalid(format!(
                "option `groups` = {} is not supported: only 1",
                self.groups
            )));
        }
        if self.padding == Padding::Causal {
            return Err(Error::invalid(
                "padding \"causal\" is not supported by Conv2D (as in Keras)",
            ));
        }
        Ok(())
    }

    /// Output size and leading padding of axis `axis` (0: height, 1: width).
    fn geometry(&self, axis: usize, size: usize) -> Result<(usize, usize)> {
        axis_geometry(size, self.span(axis), self.strides[axis], self.padding).ok_or_else(|| {
            Error::invalid(format!(
                "the input is {size} wide on axis {}, smaller than the {} the kernel spans with \
                 padding \"valid\"",
                axis + 1,
                self.span(axis)
            ))
        })
    }
}

/// The sizes of one 2-D convolution.
struct Plan {
    size: [usize; 2],
    out: [usize; 2],
    pad: [usize; 2],
}

impl Plan {
    fn of(c: &Conv2D, h: usize, w: usize) -> Result<Plan> {
        let (oh, ph) = c.geometry(0, h)?;
        let (ow, pw) = c.geometry(1, w)?;
        Ok(Plan {
            size: [h, w],
            out: [oh, ow],
            pad: [ph, pw],
        })
    }

    /// The input row and column tap `(i, j)` of output `(r, q)` reads, if inside.
    fn source(&self, c: &Conv2D, r: usize, q: usize, i: usize, j: usize) -> Option<(usize, usize)> {
        let y = (r * c.strides[0] + i * c.dilation_rate[0]).checked_sub(self.pad[0])?;
        let x = (q * c.strides[1] + j * c.dilation_rate[1]).checked_sub(self.pad[1])?;
        (y < self.size[0] && x < self.size[1]).then_some((y, x))
    }
}

/// The `Conv2D` layer: its configuration and `kernel`, `bias`.
#[derive(Debug, Default)]
pub struct Conv2DLayer {
    config: Conv2D,
    kernel: Option<Param>,
    bias: Option<Param>,
}

impl Conv2DLayer {
    fn kernel_matrix(&self) -> Result<Array2<f32>> {
        let k = &self
            .kernel
            .as_ref()
            .ok_or_else(|| Error::invalid("called before it was built"))?
            .value;
        let rows: usize = k.shape()[..3].iter().product();
        k.as_standard_layout()
            .into_owned()
            .into_shape_with_order((rows, self.config.filters))
            .map_err(|e| Error::invalid(format!("internal: kernel: {e}")))
    }

    fn image<'a>(&self, inputs: &Inputs<'a>) -> Result<ArrayView4<'a, f32>> {
        let x = inputs.f32(0)?;
        x.view().into_dimensionality::<Ix4>().map_err(|_| {
            Error::invalid(format!(
                "expects images (batch, height, width, channels), got shape {}",
                format_dims(x.shape())
            ))
        })
    }

    /// The patch matrix `[batch · oh · ow, kh · kw · channels]`, columns `(i, j, c)`.
    fn patches(&self, x: ArrayView4<'_, f32>, plan: &Plan) -> Array2<f32> {
        let c = &self.config;
        let (b, _, _, ch) = x.dim();
        let [kh, kw] = c.kernel_size;
        let [oh, ow] = plan.out;
        let mut p = Array2::<f32>::zeros((b * oh * ow, kh * kw * ch));
        for bi in 0..b {
            for r in 0..oh {
                for q in 0..ow {
                    let row = (bi * oh + r) * ow + q;
                    for i in 0..kh {
                        for j in 0..kw {
                            if let Some((y, xx)) = plan.source(c, r, q, i, j) {
                                let col = (i * kw + j) * ch;
                                p.slice_mut(s![row, col..col + ch]).assign(&x.slice(s![
                                    bi,
                                    y,
                                    xx,
                                    ..
                                ]));
                            }
                        }
                    }
                }
            }
        }
        p
    }

    fn affine(&self, inputs: &Inputs<'_>) -> Result<ArrayD<f32>> {
        let x = self.image(inputs)?;
        let (b, h, w, _) = x.dim();
        let plan = Plan::of(&self.config, h, w)?;
        let mut y = matmul_2d(
            self.patches(x, &plan).view(),
            self.kernel_matrix()?.view(),
            None,
        )?;
        if let Some(bias) = &self.bias {
            let bias = bias
                .value
                .view()
                .into_shape_with_order(self.config.filters)
                .map_err(|e| Error::invalid(format!("internal: bias: {e}")))?;
            y += &bias;
        }
        y.into_shape_with_order(IxDyn(&[b, plan.out[0], plan.out[1], self.config.filters]))
            .map_err(|e| Error::invalid(format!("internal: output: {e}")))
    }
}

impl Layer for Conv2DLayer {
    class_and_config!();

    fn build(&mut self, inputs: &[TensorSpec], ctx: &mut BuildContext) -> Result<()> {
        expect_inputs(inputs, 1)?;
        let c = &self.config;
        c.validate()?;
        expect_rank(&inputs[0], 4, "images (batch, height, width, channels)")?;
        let channels = known_last_dim(&inputs[0])?;
        let mut rng = layer_rng(c.common.seed);
        let [kh, kw] = c.kernel_size;
        self.kernel = Some(ctx.add_weight(
            "kernel",
            &[kh, kw, channels, c.filters],
            &c.kernel_initializer,
            c.trainable,
            &mut rng,
        )?);
        self.bias = c
            .use_bias
            .then(|| {
                ctx.add_weight(
                    "bias",
                    &[c.filters],
                    &c.bias_initializer,
                    c.trainable,
                    &mut rng,
                )
            })
            .transpose()?;
        Ok(())
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        expect_inputs(inputs, 1)?;
        let x = &inputs[0];
        expect_float(x)?;
        expect_rank(x, 4, "images (batch, height, width, channels)")?;
        if let Some(k) = &self.kernel {
            if x.last_dim().is_some_and(|c| c != k.value.shape()[2]) {
                return Err(Error::invalid(format!(
                    "expects {} channels (its kernel was built for them), got shape {}",
                    k.value.shape()[2],
                    format_shape(&x.shape)
                )));
            }
        }
        let dim = |axis: usize| -> Result<Option<usize>> {
            x.shape[axis + 1]
                .map(|n| self.config.geometry(axis, n).map(|(out, _)| out))
                .transpose()
        };
        Ok(vec![TensorSpec::f32(vec![
            x.shape[0],
            dim(0)?,
            dim(1)?,
            Some(self.config.filters),
        ])])
    }

    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        let mut y = self.affine(inputs)?;
        self.config.activation.apply_inplace(&mut y);
        Ok(vec![Value::F32(y)])
    }

    fn has_backward(&self) -> bool {
        true
    }

    fn call_train(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Trained> {
        Ok(activated_for_training(
            self.config.activation,
            self.affine(inputs)?,
        ))
    }

    fn backward(&self, call: &BackwardCall<'_>) -> Result<LayerGrads> {
        let Some(gz) = pre_activation_grad(self.config.activation, call)? else {
            return Ok(LayerGrads::inputs(vec![None]));
        };
        let c = &self.config;
        let x = self.image(call.inputs)?;
        let (b, h, w, ch) = x.dim();
        let plan = Plan::of(c, h, w)?;
        let g = crate::util::rows_of(&gz)?;
        let patches = self.patches(x, &plan);
        let k = self.kernel_matrix()?;
        let [kh, kw] = c.kernel_size;
        let gk = matmul_2d(patches.t(), g.view(), None)?
            .into_shape_with_order(IxDyn(&[kh, kw, ch, c.filters]))
            .map_err(|e| Error::invalid(format!("internal: kernel gradient: {e}")))?;
        let gp = matmul_2d(g.view(), k.t(), None)?;
        let [oh, ow] = plan.out;
        let mut gx = Array4::<f32>::zeros((b, h, w, ch));
        for bi in 0..b {
            for r in 0..oh {
                for q in 0..ow {
                    let row = (bi * oh + r) * ow + q;
                    for i in 0..kh {
                        for j in 0..kw {
                            if let Some((y, xx)) = plan.source(c, r, q, i, j) {
                                let col = (i * kw + j) * ch;
                                let mut dst = gx.slice_mut(s![bi, y, xx, ..]);
                                dst += &gp.slice(s![row, col..col + ch]);
                            }
                        }
                    }
                }
            }
        }
        let mut grads = LayerGrads::inputs(vec![Some(gx.into_dyn())]).param("kernel", gk);
        if self.bias.is_some() {
            grads = grads.param("bias", g.sum_axis(Axis(0)).into_dyn());
        }
        Ok(grads)
    }

    fn activity_regularizer(&self) -> Option<serde_json::Value> {
        self.config.activity_regularizer.clone()
    }

    fn weight_regularizers(&self) -> Vec<(String, serde_json::Value)> {
        let c = &self.config;
        crate::util::regularizers(&[
            ("kernel", &c.kernel_regularizer),
            ("bias", &c.bias_regularizer),
        ])
    }

    optional_params!(kernel, bias);
}
