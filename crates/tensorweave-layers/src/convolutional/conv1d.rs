//! `Conv1D`: a temporal convolution, `activation(conv1d(x, kernel) + bias)`, with
//! Keras' `valid`, `same` (TensorFlow `SAME`) and `causal` padding, strides,
//! dilation and groups. The kernel is applied as im2col plus one matrix product
//! per group.

use ndarray::{s, Array2, ArrayD, ArrayView3, Ix3, IxDyn};
use serde::{Deserialize, Serialize};
use tensorweave_core::format_dims;
use tensorweave_core::{
    layer_rng, BackwardCall, BuildContext, CallContext, Error, Initializer, Layer, LayerGrads,
    Param, Result, TensorSpec, Trained, Value,
};
use tensorweave_derive::LayerConfig;

use super::{expect_channels_last, same_geometry, tuple1, valid_length, DataFormat, Padding};
use crate::activations::{activated_for_training, pre_activation_grad, Activation};
use crate::class::Common;
use crate::util::{
    expect_float, expect_inputs, expect_last_dim, expect_rank, known_last_dim, matmul_2d,
};
use crate::{class_and_config, optional_params};
use tensorweave_core::Inputs;

/// Builder and configuration of a `Conv1D` layer (Keras' `layers.Conv1D`).
///
/// The kernel has shape `(kernel_size, input_channels / groups, filters)` and
/// the bias `(filters,)`, as in Keras. Conv1D does not support masks (as in
/// Keras): an input mask is dropped.
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let x = Input::new([10, 4]).build();
/// let y = Conv1D::new(8, 3)
///     .padding(Padding::Causal)
///     .dilation_rate(2)
///     .activation(Activation::Relu)
///     .call(&x)
///     .unwrap();
/// assert_eq!(y.shape(), &vec![None, Some(10), Some(8)]);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize, LayerConfig)]
#[serde(default)]
#[layer(Conv1DLayer, class = "Conv1D")]
pub struct Conv1D {
    /// Number of output channels.
    #[config(default = 1)]
    pub filters: usize,
    /// Window length.
    #[serde(with = "tuple1")]
    #[config(default = 1)]
    pub kernel_size: usize,
    /// Step between windows (default 1).
    #[serde(with = "tuple1")]
    #[config(default = 1)]
    pub strides: usize,
    /// `valid` (default), `same` or `causal`.
    pub padding: Padding,
    /// Channel axis position; only `channels_last` runs.
    pub data_format: DataFormat,
    /// Spacing between kernel taps (default 1). Cannot exceed 1 together with strides > 1.
    #[serde(with = "tuple1")]
    #[config(default = 1)]
    pub dilation_rate: usize,
    /// Number of channel groups, each convolved with `filters / groups` filters (default 1).
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
    /// The kernel's regularizer as Keras serializes it, added to the training
    /// loss (default none).
    pub kernel_regularizer: Option<serde_json::Value>,
    /// The bias's regularizer (default none).
    pub bias_regularizer: Option<serde_json::Value>,
    /// Keras' `activity_regularizer`: a penalty on the output, divided by
    /// the batch size, added to the training loss (default none).
    pub activity_regularizer: Option<serde_json::Value>,
    /// Whether the weights are trainable (default true).
    #[config(default = true)]
    pub trainable: bool,
    /// Name, seed and initial weights.
    #[serde(skip)]
    pub common: Common,
}

impl Conv1D {
    /// A convolution with `filters` output channels and windows of `kernel_size`
    /// steps, with Keras' defaults.
    pub fn new(filters: usize, kernel_size: usize) -> Self {
        Conv1D {
            filters,
            kernel_size,
            ..Default::default()
        }
    }

    /// Checks the options on their own, as Keras' constructor does.
    pub(crate) fn validate(&self) -> Result<()> {
        expect_channels_last(self.data_format)?;
        if self.filters == 0 {
            return Err(Error::invalid("filters must be positive, got 0"));
        }
        if self.kernel_size == 0 || self.strides == 0 || self.dilation_rate == 0 {
            return Err(Error::invalid(format!(
                "kernel_size, strides and dilation_rate must be positive, got {}, {} and {}",
                self.kernel_size, self.strides, self.dilation_rate
            )));
        }
        if self.strides > 1 && self.dilation_rate > 1 {
            return Err(Error::invalid(format!(
                "strides > 1 is not supported together with dilation_rate > 1 (as in Keras); \
                 got strides={} and dilation_rate={}",
                self.strides, self.dilation_rate
            )));
        }
        if self.groups == 0 || !self.filters.is_multiple_of(self.groups) {
            return Err(Error::invalid(format!(
                "groups must be positive and divide filters; got groups={} and filters={}",
                self.groups, self.filters
            )));
        }
        Ok(())
    }

    /// The effective window: `dilation_rate * (kernel_size - 1) + 1`.
    fn span(&self) -> usize {
        self.dilation_rate
            .saturating_mul(self.kernel_size.saturating_sub(1))
            .saturating_add(1)
    }

    /// Output length and left padding for an input of `steps` steps, or an error
    /// when a `valid` window does not fit.
    pub(crate) fn geometry(&self, steps: usize) -> Result<(usize, usize)> {
        let span = self.span();
        match self.padding {
            Padding::Same => Ok(same_geometry(steps, span, self.strides)),
            Padding::Valid | Padding::Causal => {
                let left = if self.padding == Padding::Causal {
                    span - 1
                } else {
                    0
                };
                valid_length(steps.saturating_add(left), span, self.strides)
                    .map(|out| (out, left))
                    .ok_or_else(|| {
                        Error::invalid(format!(
                            "the input has {steps} steps, fewer than the {span} the kernel spans \
                             (kernel_size={}, dilation_rate={}) with padding \"valid\"; \
                             use padding \"same\" or longer inputs",
                            self.kernel_size, self.dilation_rate
                        ))
                    })
            }
        }
    }
}

/// The `Conv1D` layer itself: its configuration and, once built, its weights.
#[derive(Debug, Default)]
pub struct Conv1DLayer {
    config: Conv1D,
    kernel: Option<Param>,
    bias: Option<Param>,
}

impl Conv1DLayer {
    /// The configuration.
    pub fn config(&self) -> &Conv1D {
        &self.config
    }
}

impl Layer for Conv1DLayer {
    class_and_config!();

    fn build(&mut self, inputs: &[TensorSpec], ctx: &mut BuildContext) -> Result<()> {
        expect_inputs(inputs, 1)?;
        let c = &self.config;
        c.validate()?;
        expect_rank(&inputs[0], 3, "inputs (batch, steps, channels)")?;
        let channels = known_last_dim(&inputs[0])?;
        if channels % c.groups != 0 {
            return Err(Error::invalid(format!(
                "the {channels} input channels are not divisible by groups={}",
                c.groups
            )));
        }
        let mut rng = layer_rng(c.common.seed);
        let shape = [c.kernel_size, channels / c.groups, c.filters];
        let kernel = ctx.add_weight(
            "kernel",
            &shape,
            &c.kernel_initializer,
            c.trainable,
            &mut rng,
        )?;
        let bias = c
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
        self.kernel = Some(kernel);
        self.bias = bias;
        Ok(())
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        expect_inputs(inputs, 1)?;
        let x = &inputs[0];
        expect_float(x)?;
        expect_rank(x, 3, "inputs (batch, steps, channels)")?;
        if let Some(k) = &self.kernel {
            expect_last_dim(x, k.value.shape()[1] * self.config.groups)?;
        }
        let steps = match x.shape[1] {
            Some(steps) => Some(self.config.geometry(steps)?.0),
            None => None,
        };
        Ok(vec![TensorSpec::f32(vec![
            x.shape[0],
            steps,
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
        let x = self.sequence(call.inputs)?;
        let (gx, gk) = conv1d_backward(x, self.built_kernel()?, &gz, &self.config)?;
        let mut grads = LayerGrads::inputs(vec![Some(gx)]).param("kernel", gk);
        if self.bias.is_some() {
            let gb = crate::util::rows_of(&gz)?.sum_axis(ndarray::Axis(0));
            grads = grads.param("bias", gb.into_dyn());
        }
        Ok(grads)
    }

    optional_params!(kernel, bias);
}

impl Conv1DLayer {
    fn built_kernel(&self) -> Result<&ArrayD<f32>> {
        Ok(&self
            .kernel
            .as_ref()
            .ok_or_else(|| Error::invalid("called before it was built"))?
            .value)
    }

    /// The input as `(batch, steps, channels)`, refusing 0 steps.
    fn sequence<'a>(&self, inputs: &Inputs<'a>) -> Result<ArrayView3<'a, f32>> {
        let x = inputs.f32(0)?;
        let x = x.view().into_dimensionality::<Ix3>().map_err(|_| {
            Error::invalid(format!(
                "expects inputs of rank 3 (batch, steps, channels), got shape {}",
                format_dims(x.shape())
            ))
        })?;
        if x.dim().1 == 0 {
            // Keras (TensorFlow) fails on it too (the bias no longer broadcasts).
            return Err(Error::invalid(format!(
                "got a sequence of 0 time steps, shape {}; a convolution needs at least one step",
                format_dims(x.shape())
            )));
        }
        Ok(x)
    }

    /// `conv1d(x, kernel) + bias`, before the activation.
    fn affine(&self, inputs: &Inputs<'_>) -> Result<ArrayD<f32>> {
        let x = self.sequence(inputs)?;
        conv1d(
            x,
            self.built_kernel()?,
            self.bias.as_ref().map(|b| &b.value),
            &self.config,
        )
    }
}

/// `conv1d(x, kernel) + bias` for `x` of shape `(batch, steps, channels)` and a
/// kernel `(kernel_size, channels / groups, filters)`: the patch matrix
/// ([`im2col`]) times the kernel, per group.
pub(crate) fn conv1d(
    x: ArrayView3<'_, f32>,
    kernel: &ArrayD<f32>,
    bias: Option<&ArrayD<f32>>,
    c: &Conv1D,
) -> Result<ArrayD<f32>> {
    let batch = x.dim().0;
    let geo = Geometry::of(x, kernel, c)?;
    let patches = im2col(x, &geo, c)?;
    let (k, groups, filters) = (c.kernel_size, c.groups, c.filters);
    let filters_per_group = filters / groups;
    let mut out = if groups == 1 {
        // One product straight into the output.
        matmul_2d(patches.view(), group_kernel(kernel, 0, c)?.view(), None)?
    } else {
        let mut out = Array2::<f32>::zeros((batch * geo.out_steps, filters));
        for g in 0..groups {
            let (f0, f1) = (g * filters_per_group, (g + 1) * filters_per_group);
            let w = group_kernel(kernel, g, c)?;
            let p = patches.slice(s![.., g * k * geo.per_group..(g + 1) * k * geo.per_group]);
            out.slice_mut(s![.., f0..f1])
                .assign(&matmul_2d(p, w.view(), None)?);
        }
        out
    };
    if let Some(b) = bias {
        let b = b
            .view()
            .into_shape_with_order(filters)
            .map_err(|e| Error::invalid(format!("bias must have shape [{filters}]: {e}")))?;
        out += &b;
    }
    out.into_shape_with_order(IxDyn(&[batch, geo.out_steps, filters]))
        .map_err(|e| Error::invalid(format!("internal: output reshape: {e}")))
}

/// The sizes of one convolution.
struct Geometry {
    steps: usize,
    out_steps: usize,
    left: usize,
    per_group: usize,
}

impl Geometry {
    /// Checks the kernel against the input and works out the output length.
    fn of(x: ArrayView3<'_, f32>, kernel: &ArrayD<f32>, c: &Conv1D) -> Result<Geometry> {
        let (_, steps, channels) = x.dim();
        let (k, groups, filters) = (c.kernel_size, c.groups, c.filters);
        let per_group = channels / groups.max(1);
        if groups == 0 || channels % groups != 0 || kernel.shape() != [k, per_group, filters] {
            return Err(Error::invalid(format!(
                "inputs with {channels} channels do not fit the kernel of shape {} \
                 (groups={groups}); the input shape is {}",
                format_dims(kernel.shape()),
                format_dims(x.shape())
            )));
        }
        let (out_steps, left) = c.geometry(steps)?;
        Ok(Geometry {
            steps,
            out_steps,
            left,
            per_group,
        })
    }

    /// The input step that tap `j` of output step `t` reads, if inside the input.
    fn source(&self, t: usize, j: usize, c: &Conv1D) -> Option<usize> {
        t.checked_mul(c.strides)
            .zip(j.checked_mul(c.dilation_rate))
            .and_then(|(a, b)| a.checked_add(b))
            .and_then(|p| p.checked_sub(self.left))
            .filter(|&s| s < self.steps)
    }
}

/// im2col: each output step `t` gathers the input rows `t * stride + j *
/// dilation - left_pad` (`j < kernel_size`; rows outside the input are the
/// zero padding) into one row of a patch matrix whose columns are ordered
/// `(group, tap, channel in group)`.
fn im2col(x: ArrayView3<'_, f32>, geo: &Geometry, c: &Conv1D) -> Result<Array2<f32>> {
    let (batch, steps, channels) = x.dim();
    let (k, groups, per_group) = (c.kernel_size, c.groups, geo.per_group);
    let x = x.as_standard_layout();
    let data = x
        .as_slice()
        .ok_or_else(|| Error::invalid("internal: input is not contiguous"))?;
    let cols = k * channels;
    let mut patches = vec![0.0f32; batch * geo.out_steps * cols];
    for (row, patch) in patches.chunks_exact_mut(cols.max(1)).enumerate() {
        let (b, t) = (row / geo.out_steps, row % geo.out_steps);
        for j in 0..k {
            let Some(src) = geo.source(t, j, c) else {
                continue; // zero padding
            };
            let from = (b * steps + src) * channels;
            for g in 0..groups {
                let dst = g * k * per_group + j * per_group;
                patch[dst..dst + per_group]
                    .copy_from_slice(&data[from + g * per_group..from + (g + 1) * per_group]);
            }
        }
    }
    Array2::from_shape_vec((batch * geo.out_steps, cols), patches)
        .map_err(|e| Error::invalid(format!("internal: patch matrix: {e}")))
}

/// The kernel of group `g` as a `(kernel_size * channels_per_group,
/// filters_per_group)` matrix, its rows ordered `(tap, channel)` as the patches'.
fn group_kernel(kernel: &ArrayD<f32>, g: usize, c: &Conv1D) -> Result<Array2<f32>> {
    let fpg = c.filters / c.groups;
    let (k, per_group) = (kernel.shape()[0], kernel.shape()[1]);
    kernel
        .slice(s![.., .., g * fpg..(g + 1) * fpg])
        .as_standard_layout()
        .into_shape_with_order((k * per_group, fpg))
        .map(|w| w.to_owned())
        .map_err(|e| Error::invalid(format!("internal: kernel reshape: {e}")))
}

/// The backward of [`conv1d`] without its bias: given the gradient `gz` of the
/// pre-activation output `(batch, out_steps, filters)`, the gradients of the
/// input and of the kernel.
pub(crate) fn conv1d_backward(
    x: ArrayView3<'_, f32>,
    kernel: &ArrayD<f32>,
    gz: &ArrayD<f32>,
    c: &Conv1D,
) -> Result<(ArrayD<f32>, ArrayD<f32>)> {
    let (batch, steps, channels) = x.dim();
    let geo = Geometry::of(x, kernel, c)?;
    let patches = im2col(x, &geo, c)?;
    let (k, groups, filters) = (c.kernel_size, c.groups, c.filters);
    let fpg = filters / groups;
    let g2 = crate::util::rows_of(gz)?;
    if g2.dim() != (batch * geo.out_steps, filters) {
        return Err(Error::invalid(format!(
            "internal: conv1d backward got a gradient of shape {}",
            format_dims(gz.shape())
        )));
    }
    let mut gkernel = ArrayD::<f32>::zeros(kernel.shape());
    let mut gpatches = Array2::<f32>::zeros(patches.dim());
    for g in 0..groups {
        let (f0, f1) = (g * fpg, (g + 1) * fpg);
        let (c0, c1) = (g * k * geo.per_group, (g + 1) * k * geo.per_group);
        let gg = g2.slice(s![.., f0..f1]);
        let gw = matmul_2d(patches.slice(s![.., c0..c1]).t(), gg, None)?;
        let gw = gw
            .into_shape_with_order((k, geo.per_group, fpg))
            .map_err(|e| Error::invalid(format!("internal: kernel gradient: {e}")))?;
        gkernel.slice_mut(s![.., .., f0..f1]).assign(&gw);
        let w = group_kernel(kernel, g, c)?;
        gpatches
            .slice_mut(s![.., c0..c1])
            .assign(&matmul_2d(gg, w.t(), None)?);
    }
    // col2im: every patch entry goes back to the input row it was read from.
    let mut gx = ndarray::Array3::<f32>::zeros((batch, steps, channels));
    for (row, patch) in gpatches.outer_iter().enumerate() {
        let (b, t) = (row / geo.out_steps, row % geo.out_steps);
        for j in 0..k {
            let Some(src) = geo.source(t, j, c) else {
                continue;
            };
            let mut dst = gx.slice_mut(s![b, src, ..]);
            for gi in 0..groups {
                let from = gi * k * geo.per_group + j * geo.per_group;
                let mut part = dst.slice_mut(s![gi * geo.per_group..(gi + 1) * geo.per_group]);
                part += &patch.slice(s![from..from + geo.per_group]);
            }
        }
    }
    Ok((gx.into_dyn(), gkernel))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array3};
    use tensorweave_core::BuildContext;
    use tensorweave_core::IntoLayer;

    fn spec(shape: &[Option<usize>]) -> TensorSpec {
        TensorSpec::f32(shape.to_vec())
    }

    fn run(conv: Conv1D, x: Array3<f32>, weights: Vec<ArrayD<f32>>) -> Result<ArrayD<f32>> {
        let layer = conv.weights(weights).into_layer();
        let (b, l, c) = x.dim();
        layer.build_with(
            &[spec(&[Some(b), Some(l), Some(c)])],
            &mut BuildContext::new(),
        )?;
        let layer = layer.read();
        let out_spec = layer.output_specs(&[spec(&[Some(b), Some(l), Some(c)])])?;
        let y = layer.call(
            &Inputs::new(vec![&Value::F32(x.into_dyn())], vec![None]),
            &CallContext::default(),
        )?;
        let y = y
            .into_iter()
            .next()
            .ok_or_else(|| Error::invalid("no output"))?
            .into_f32()?;
        // The inferred spec agrees with what the kernel produced.
        let expected: Vec<Option<usize>> = y.shape().iter().map(|&d| Some(d)).collect();
        assert_eq!(out_spec[0].shape, expected);
        Ok(y)
    }

    /// x = [1, 2, 3, 4, 5] (one channel), kernel taps [1, 10] (one filter).
    fn ramp() -> Array3<f32> {
        array![[[1.0f32], [2.0], [3.0], [4.0], [5.0]]]
    }

    fn taps(k: &[f32]) -> ArrayD<f32> {
        ArrayD::from_shape_vec(IxDyn(&[k.len(), 1, 1]), k.to_vec()).unwrap()
    }

    #[test]
    fn valid_padding_slides_inside_the_input() {
        // y[t] = x[t] + 10 x[t+1] + 0.5: [21.5, 32.5, 43.5, 54.5]
        let y = run(
            Conv1D::new(1, 2),
            ramp(),
            vec![taps(&[1.0, 10.0]), array![0.5f32].into_dyn()],
        )
        .unwrap();
        assert_eq!(y.into_raw_vec_and_offset().0, vec![21.5, 32.5, 43.5, 54.5]);
    }

    #[test]
    fn same_padding_puts_the_smaller_half_on_the_left() {
        // k=2, s=1, L=5: out 5, total pad (5-1)+2-5 = 1, left 0, right 1.
        // y = [1+20, 2+30, 3+40, 4+50, 5+0] = [21, 32, 43, 54, 5]
        let y = run(
            Conv1D::new(1, 2).padding(Padding::Same).use_bias(false),
            ramp(),
            vec![taps(&[1.0, 10.0])],
        )
        .unwrap();
        assert_eq!(
            y.into_raw_vec_and_offset().0,
            vec![21.0, 32.0, 43.0, 54.0, 5.0]
        );
        // k=3, s=2, L=5: out ceil(5/2)=3, total (3-1)*2+3-5 = 2, left 1.
        // windows start at -1, 1, 3 (x[-1] = x[5] = 0):
        // [0·1 + 1·10 + 2·100, 2·1 + 3·10 + 4·100, 4·1 + 5·10 + 0·100]
        // (Keras 3.15.1 agrees: Conv1D(1, 3, padding="same", strides=2) -> [210, 432, 54])
        let y = run(
            Conv1D::new(1, 3)
                .padding(Padding::Same)
                .strides(2)
                .use_bias(false),
            ramp(),
            vec![taps(&[1.0, 10.0, 100.0])],
        )
        .unwrap();
        assert_eq!(y.into_raw_vec_and_offset().0, vec![210.0, 432.0, 54.0]);
    }

    #[test]
    fn causal_padding_with_dilation_only_looks_back() {
        // k=2, d=2: left pad 2; y[t] = x[t-2] + 10 x[t] (x[<0] = 0)
        // = [10, 20, 1+30, 2+40, 3+50]
        let y = run(
            Conv1D::new(1, 2)
                .padding(Padding::Causal)
                .dilation_rate(2)
                .use_bias(false),
            ramp(),
            vec![taps(&[1.0, 10.0])],
        )
        .unwrap();
        assert_eq!(
            y.into_raw_vec_and_offset().0,
            vec![10.0, 20.0, 31.0, 42.0, 53.0]
        );
    }

    #[test]
    fn valid_padding_with_stride_and_dilation() {
        // k=2, d=2, valid: span 3, out 3: y[t] = x[t] + 10 x[t+2] = [31, 42, 53]
        let y = run(
            Conv1D::new(1, 2).dilation_rate(2).use_bias(false),
            ramp(),
            vec![taps(&[1.0, 10.0])],
        )
        .unwrap();
        assert_eq!(y.into_raw_vec_and_offset().0, vec![31.0, 42.0, 53.0]);
        // k=2, s=2, valid: floor((5-2)/2)+1 = 2 windows at 0 and 2: [21, 43]
        let y = run(
            Conv1D::new(1, 2).strides(2).use_bias(false),
            ramp(),
            vec![taps(&[1.0, 10.0])],
        )
        .unwrap();
        assert_eq!(y.into_raw_vec_and_offset().0, vec![21.0, 43.0]);
    }

    #[test]
    fn channels_and_filters_mix_like_keras_kernel_layout() {
        // x: one step, channels [1, 2]; kernel (1, 2, 3) = [[[1,2,3],[4,5,6]]];
        // y_f = sum_c x_c K[0,c,f] = [1+8, 2+10, 3+12] = [9, 12, 15], then relu(y - 10).
        let x = array![[[1.0f32, 2.0]]];
        let k =
            ArrayD::from_shape_vec(IxDyn(&[1, 2, 3]), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        let y = run(
            Conv1D::new(3, 1).activation(Activation::Relu),
            x,
            vec![k, array![-10.0f32, -10.0, -10.0].into_dyn()],
        )
        .unwrap();
        assert_eq!(y.into_raw_vec_and_offset().0, vec![0.0, 2.0, 5.0]);
    }

    #[test]
    fn groups_convolve_channel_groups_separately() {
        // 4 channels, groups=2, 2 filters, k=2: filter 0 sees channels 0-1, filter 1
        // channels 2-3. Kernel (2, 2, 2), K[j, c, f]: filter 0 taps all 1; filter 1
        // taps: j=0 -> [1, 0], j=1 -> [0, 100].
        // x steps: [1,2,3,4], [5,6,7,8]
        // f0 = 1+2+5+6 = 14; f1 = 3*1 + 8*100 = 803.
        // Cross-checked with Keras 3.15.1 (TF, XLA grouped conv):
        //   Conv1D(2, 2, groups=2, use_bias=False, weights=[K]) -> [[[14., 803.]]]
        let x = array![[[1.0f32, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]];
        let mut k = ArrayD::<f32>::zeros(IxDyn(&[2, 2, 2]));
        for j in 0..2 {
            for c in 0..2 {
                k[[j, c, 0]] = 1.0;
            }
        }
        k[[0, 0, 1]] = 1.0;
        k[[1, 1, 1]] = 100.0;
        let y = run(Conv1D::new(2, 2).groups(2).use_bias(false), x, vec![k]).unwrap();
        assert_eq!(y.into_raw_vec_and_offset().0, vec![14.0, 803.0]);
    }

    #[test]
    fn batches_are_independent() {
        // Two sequences with one tap of 2: y = 2x for each.
        let x = array![[[1.0f32], [2.0]], [[3.0], [4.0]]];
        let y = run(Conv1D::new(1, 1).use_bias(false), x, vec![taps(&[2.0])]).unwrap();
        assert_eq!(y.into_raw_vec_and_offset().0, vec![2.0, 4.0, 6.0, 8.0]);
    }

    #[test]
    fn kernel_shape_and_config_follow_keras() {
        let mut layer = Conv1DLayer {
            config: Conv1D::new(4, 3).groups(2).padding(Padding::Same),
            kernel: None,
            bias: None,
        };
        layer
            .build(&[spec(&[None, Some(7), Some(6)])], &mut BuildContext::new())
            .unwrap();
        assert_eq!(layer.kernel.as_ref().unwrap().value.shape(), &[3, 3, 4]);
        assert_eq!(layer.bias.as_ref().unwrap().value.shape(), &[4]);
        let out = layer.output_specs(&[spec(&[None, None, Some(6)])]).unwrap();
        assert_eq!(out[0].shape, vec![None, None, Some(4)]);
        let config = Layer::config(&layer);
        assert_eq!(config["kernel_size"], serde_json::json!([3]));
        assert_eq!(config["strides"], serde_json::json!([1]));
        assert_eq!(config["dilation_rate"], serde_json::json!([1]));
        assert_eq!(config["padding"], "same");
        assert_eq!(config["data_format"], "channels_last");
        assert_eq!(config["groups"], 2);
        let back: Conv1D = serde_json::from_value(config).unwrap();
        assert_eq!(back.kernel_size, 3);
        let from_int: Conv1D =
            serde_json::from_value(serde_json::json!({"kernel_size": 5})).unwrap();
        assert_eq!(from_int.kernel_size, 5);
    }

    #[test]
    fn output_lengths_follow_keras_formulas() {
        let len = |c: Conv1D, l: usize| {
            let mut layer = Conv1DLayer {
                config: c,
                kernel: None,
                bias: None,
            };
            layer
                .build(&[spec(&[None, Some(l), Some(2)])], &mut BuildContext::new())
                .unwrap();
            layer
                .output_specs(&[spec(&[None, Some(l), Some(2)])])
                .unwrap()[0]
                .shape[1]
        };
        // valid: floor((L - d(k-1) - 1)/s) + 1; same/causal: floor((L-1)/s) + 1
        assert_eq!(len(Conv1D::new(1, 3), 10), Some(8));
        assert_eq!(len(Conv1D::new(1, 3).strides(3), 10), Some(3));
        assert_eq!(len(Conv1D::new(1, 3).dilation_rate(4), 10), Some(2));
        assert_eq!(
            len(Conv1D::new(1, 4).padding(Padding::Same).strides(3), 10),
            Some(4)
        );
        assert_eq!(
            len(Conv1D::new(1, 4).padding(Padding::Causal), 10),
            Some(10)
        );
        assert_eq!(
            len(Conv1D::new(1, 2).padding(Padding::Causal).strides(2), 5),
            Some(3)
        );
    }

    #[test]
    fn bad_options_and_inputs_are_errors() {
        let build = |c: Conv1D, shape: &[Option<usize>]| {
            let layer = c.into_layer();
            layer.build_with(&[spec(shape)], &mut BuildContext::new())?;
            let specs = layer.read().output_specs(&[spec(shape)]);
            specs
        };
        let ok = [None, Some(5), Some(4)];
        let err = |r: Result<Vec<TensorSpec>>| r.unwrap_err().to_string();
        assert!(err(build(Conv1D::new(2, 3), &[None, Some(4)])).contains("rank 3"));
        assert!(err(build(Conv1D::new(2, 6), &ok)).contains("fewer than"));
        assert!(err(build(
            Conv1D::new(2, 3).data_format(DataFormat::ChannelsFirst),
            &ok
        ))
        .contains("channels_first"));
        assert!(err(build(Conv1D::new(2, 2).strides(2).dilation_rate(2), &ok)).contains("strides"));
        assert!(err(build(Conv1D::new(3, 2).groups(2), &ok)).contains("groups"));
        assert!(err(build(
            Conv1D::new(2, 2).groups(2),
            &[None, Some(5), Some(3)]
        ))
        .contains("divisible"));
        assert!(err(build(Conv1D::new(0, 2), &ok)).contains("filters"));
        assert!(err(build(Conv1D::new(2, 0), &ok)).contains("kernel_size"));
        assert!(err(build(Conv1D::new(2, 2), &[None, Some(5), None])).contains("last axis"));
        assert!(err(build(Conv1D::new(2, 2).weights(vec![taps(&[1.0])]), &ok)).contains("weights"));
    }

    #[test]
    fn short_runtime_inputs_are_errors_not_panics() {
        // Unknown length at graph time, too short at run time.
        let mut layer = Conv1DLayer {
            config: Conv1D::new(1, 3),
            kernel: None,
            bias: None,
        };
        layer
            .build(&[spec(&[None, None, Some(1)])], &mut BuildContext::new())
            .unwrap();
        let x = Value::F32(ArrayD::zeros(IxDyn(&[1, 2, 1])));
        let err = layer
            .call(&Inputs::new(vec![&x], vec![None]), &CallContext::default())
            .unwrap_err();
        assert!(err.to_string().contains("fewer than"));
        let wrong_channels = Value::F32(ArrayD::zeros(IxDyn(&[1, 4, 2])));
        assert!(layer
            .call(
                &Inputs::new(vec![&wrong_channels], vec![None]),
                &CallContext::default()
            )
            .is_err());
        let wrong_rank = Value::F32(ArrayD::zeros(IxDyn(&[1, 4])));
        assert!(layer
            .call(
                &Inputs::new(vec![&wrong_rank], vec![None]),
                &CallContext::default()
            )
            .is_err());
    }
}
