//! `Conv1DTranspose` (Keras' `layers.Conv1DTranspose`): the transpose of a
//! strided convolution (a learned upsampling). Each input step `i` adds
//! `x[i] · kernel[j]ᵀ` to output position `i·strides + j·dilation − left`,
//! where the output length and `left` follow Keras' `deconv_output_length`
//! and TensorFlow's padding of the corresponding convolution. Kernel
//! `(kernel_size, filters, channels)` (the reverse of `Conv1D`'s), bias
//! `(filters,)`. Takes no mask.

use ndarray::{s, Array2, Array3, ArrayD, Axis};
use serde::{Deserialize, Serialize};
use tensorweave_core::{
    layer_rng, BackwardCall, BuildContext, CallContext, Error, Initializer, Inputs, Layer,
    LayerGrads, Param, Result, TensorSpec, Trained, Value,
};
use tensorweave_derive::LayerConfig;

use super::depthwise::sequence;
use super::{expect_channels_last, tuple1, DataFormat, Padding};
use crate::activations::{activated_for_training, pre_activation_grad, Activation};
use crate::class::Common;
use crate::util::{expect_float, expect_inputs, expect_rank, known_last_dim};
use crate::{class_and_config, optional_params};

/// Builder and configuration of a `Conv1DTranspose` layer.
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let x = Input::new([10, 4]).build();
/// let y = Conv1DTranspose::new(5, 3).strides(2).padding(Padding::Same).call(&x).unwrap();
/// assert_eq!(y.shape(), &vec![None, Some(20), Some(5)]);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize, LayerConfig)]
#[serde(default)]
#[layer(Conv1DTransposeLayer, class = "Conv1DTranspose")]
pub struct Conv1DTranspose {
    /// Number of output channels.
    #[config(default = 1)]
    pub filters: usize,
    /// Window length.
    #[serde(with = "tuple1")]
    #[config(default = 1)]
    pub kernel_size: usize,
    /// The upsampling factor (default 1).
    #[serde(with = "tuple1")]
    #[config(default = 1)]
    pub strides: usize,
    /// `valid` (default) or `same`.
    pub padding: Padding,
    /// Extra output steps at the end (Keras' `output_padding`, less than `strides`).
    pub output_padding: Option<Vec<usize>>,
    /// Channel axis position; only `channels_last` runs.
    pub data_format: DataFormat,
    /// Spacing between kernel taps (default 1).
    #[serde(with = "tuple1")]
    #[config(default = 1)]
    pub dilation_rate: usize,
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

impl Conv1DTranspose {
    /// `filters` output channels from windows of `kernel_size` steps.
    pub fn new(filters: usize, kernel_size: usize) -> Self {
        Conv1DTranspose {
            filters,
            kernel_size,
            ..Default::default()
        }
    }

    fn span(&self) -> usize {
        self.dilation_rate * (self.kernel_size.max(1) - 1) + 1
    }

    fn extra_steps(&self) -> Option<usize> {
        self.output_padding
            .as_ref()
            .and_then(|v| v.first().copied())
    }

    fn validate(&self) -> Result<()> {
        expect_channels_last(self.data_format)?;
        if self.filters == 0
            || self.kernel_size == 0
            || self.strides == 0
            || self.dilation_rate == 0
        {
            return Err(Error::invalid(format!(
                "filters, kernel_size, strides and dilation_rate must be positive, got {}, {}, {} \
                 and {}",
                self.filters, self.kernel_size, self.strides, self.dilation_rate
            )));
        }
        if self.padding == Padding::Causal {
            return Err(Error::invalid(
                "padding \"causal\" is not supported by Conv1DTranspose (as in Keras)",
            ));
        }
        if let Some(p) = self.extra_steps() {
            if p >= self.strides {
                return Err(Error::invalid(format!(
                    "output_padding ({p}) must be less than strides ({}), as in Keras",
                    self.strides
                )));
            }
        }
        Ok(())
    }

    /// The output length and the steps cropped on the left, for `steps` inputs.
    fn geometry(&self, steps: usize) -> (usize, usize) {
        let (s, k) = (self.strides, self.span());
        let out = match (self.extra_steps(), self.padding) {
            (None, Padding::Same) => steps * s,
            (None, _) => steps * s + k.saturating_sub(s),
            (Some(op), Padding::Same) => {
                ((steps.max(1) - 1) * s + k + op).saturating_sub(2 * (k / 2))
            }
            (Some(op), _) => (steps.max(1) - 1) * s + k + op,
        };
        let full = (steps.max(1) - 1) * s + k;
        let left = match self.padding {
            Padding::Same => full.saturating_sub(out) / 2,
            _ => 0,
        };
        (out, left)
    }
}

/// The `Conv1DTranspose` layer: its configuration and `kernel`, `bias`.
#[derive(Debug, Default)]
pub struct Conv1DTransposeLayer {
    config: Conv1DTranspose,
    kernel: Option<Param>,
    bias: Option<Param>,
}

impl Conv1DTransposeLayer {
    fn kernel(&self) -> Result<&ArrayD<f32>> {
        Ok(&self
            .kernel
            .as_ref()
            .ok_or_else(|| Error::invalid("called before it was built"))?
            .value)
    }

    /// Tap `j` of the kernel as `[filters, channels]`.
    fn tap(kernel: &ArrayD<f32>, j: usize) -> Result<Array2<f32>> {
        kernel
            .index_axis(Axis(0), j)
            .to_owned()
            .into_dimensionality()
            .map_err(|e| Error::invalid(format!("internal: kernel tap: {e}")))
    }

    /// The output position input step `i` feeds through tap `j`, if kept.
    fn target(c: &Conv1DTranspose, i: usize, j: usize, left: usize, out: usize) -> Option<usize> {
        (i * c.strides + j * c.dilation_rate)
            .checked_sub(left)
            .filter(|&t| t < out)
    }

    fn affine(&self, inputs: &Inputs<'_>) -> Result<ArrayD<f32>> {
        let x = sequence(inputs)?;
        let c = &self.config;
        let kernel = self.kernel()?;
        let (b, steps, _) = x.dim();
        let (out, left) = c.geometry(steps);
        let mut y = Array3::<f32>::zeros((b, out, c.filters));
        for j in 0..c.kernel_size {
            let w = Self::tap(kernel, j)?;
            for i in 0..steps {
                if let Some(t) = Self::target(c, i, j, left, out) {
                    let contribution = x.slice(s![.., i, ..]).dot(&w.t());
                    let mut dst = y.slice_mut(s![.., t, ..]);
                    dst += &contribution;
                }
            }
        }
        let mut y = y.into_dyn();
        if let Some(bias) = &self.bias {
            y += &bias.value;
        }
        Ok(y)
    }
}

impl Layer for Conv1DTransposeLayer {
    class_and_config!();

    fn build(&mut self, inputs: &[TensorSpec], ctx: &mut BuildContext) -> Result<()> {
        expect_inputs(inputs, 1)?;
        let c = &self.config;
        c.validate()?;
        expect_rank(&inputs[0], 3, "inputs (batch, steps, channels)")?;
        let channels = known_last_dim(&inputs[0])?;
        let mut rng = layer_rng(c.common.seed);
        self.kernel = Some(ctx.add_weight(
            "kernel",
            &[c.kernel_size, c.filters, channels],
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
        expect_rank(x, 3, "inputs (batch, steps, channels)")?;
        let steps = x.shape[1].map(|s| self.config.geometry(s).0);
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
        let x = sequence(call.inputs)?;
        let c = &self.config;
        let kernel = self.kernel()?;
        let (_, steps, channels) = x.dim();
        let (out, left) = c.geometry(steps);
        let g = gz
            .view()
            .into_dimensionality::<ndarray::Ix3>()
            .map_err(|e| Error::invalid(format!("internal: gradient shape: {e}")))?;
        let mut gx = Array3::<f32>::zeros(x.raw_dim());
        let mut gk = ArrayD::<f32>::zeros(kernel.raw_dim());
        for j in 0..c.kernel_size {
            let w = Self::tap(kernel, j)?;
            let mut gw = Array2::<f32>::zeros((c.filters, channels));
            for i in 0..steps {
                if let Some(t) = Self::target(c, i, j, left, out) {
                    let gt = g.slice(s![.., t, ..]);
                    let mut dst = gx.slice_mut(s![.., i, ..]);
                    dst += &gt.dot(&w);
                    gw += &gt.t().dot(&x.slice(s![.., i, ..]));
                }
            }
            gk.index_axis_mut(Axis(0), j).assign(&gw);
        }
        let mut grads = LayerGrads::inputs(vec![Some(gx.into_dyn())]).param("kernel", gk);
        if self.bias.is_some() {
            let gb = crate::util::rows_of(&gz)?.sum_axis(Axis(0));
            grads = grads.param("bias", gb.into_dyn());
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
