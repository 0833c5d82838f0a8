//! `SeparableConv1D` (Keras' `layers.SeparableConv1D`): a depthwise
//! convolution (`depth_multiplier` filters per input channel, no bias), then
//! a pointwise (1-step) convolution to `filters` channels, the bias and the
//! activation. Weights `depthwise_kernel (kernel_size, channels, multiplier)`,
//! `pointwise_kernel (1, channels · multiplier, filters)`, `bias (filters,)`.
//! Takes no mask.

use serde::{Deserialize, Serialize};
use tensorweave_core::{
    layer_rng, BackwardCall, BuildContext, CallContext, Error, Initializer, Inputs, Layer,
    LayerGrads, Param, Result, TensorSpec, Trained, Value,
};
use tensorweave_derive::LayerConfig;

use super::conv1d::{conv1d, conv1d_backward};
use super::depthwise::{sequence, Window};
use super::{expect_channels_last, tuple1, Conv1D, DataFormat, Padding};
use crate::activations::{activated_for_training, pre_activation_grad, Activation};
use crate::class::Common;
use crate::util::{expect_float, expect_inputs, expect_rank, known_last_dim};
use crate::{class_and_config, optional_params};

/// Builder and configuration of a `SeparableConv1D` layer.
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let x = Input::new([10, 4]).build();
/// let y = SeparableConv1D::new(6, 3).depth_multiplier(2).call(&x).unwrap();
/// assert_eq!(y.shape(), &vec![None, Some(8), Some(6)]);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize, LayerConfig)]
#[serde(default)]
#[layer(SeparableConv1DLayer, class = "SeparableConv1D")]
pub struct SeparableConv1D {
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
    /// `valid` (default) or `same`.
    pub padding: Padding,
    /// Filters per input channel (default 1).
    #[config(default = 1)]
    pub depth_multiplier: usize,
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
    /// Depthwise kernel initializer (default Glorot uniform).
    #[config(default = Initializer::GlorotUniform)]
    pub depthwise_initializer: Initializer,
    /// Pointwise kernel initializer (default Glorot uniform).
    #[config(default = Initializer::GlorotUniform)]
    pub pointwise_initializer: Initializer,
    /// Bias initializer (default zeros).
    #[config(default = Initializer::Zeros)]
    pub bias_initializer: Initializer,
    /// The depthwise kernel's regularizer as Keras serializes it (default none).
    pub depthwise_regularizer: Option<serde_json::Value>,
    /// The pointwise kernel's regularizer (default none).
    pub pointwise_regularizer: Option<serde_json::Value>,
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

impl SeparableConv1D {
    /// `filters` output channels from windows of `kernel_size` steps.
    pub fn new(filters: usize, kernel_size: usize) -> Self {
        SeparableConv1D {
            filters,
            kernel_size,
            ..Default::default()
        }
    }

    fn window(&self) -> Window {
        Window {
            kernel_size: self.kernel_size,
            strides: self.strides,
            padding: self.padding,
            dilation_rate: self.dilation_rate,
            depth_multiplier: self.depth_multiplier,
        }
    }

    fn pointwise(&self) -> Conv1D {
        Conv1D {
            filters: self.filters,
            kernel_size: 1,
            use_bias: false,
            ..Conv1D::default()
        }
    }
}

/// The `SeparableConv1D` layer: its configuration and weights.
#[derive(Debug, Default)]
pub struct SeparableConv1DLayer {
    config: SeparableConv1D,
    depthwise_kernel: Option<Param>,
    pointwise_kernel: Option<Param>,
    bias: Option<Param>,
}

impl SeparableConv1DLayer {
    fn kernels(&self) -> Result<(&Param, &Param)> {
        match (&self.depthwise_kernel, &self.pointwise_kernel) {
            (Some(d), Some(p)) => Ok((d, p)),
            _ => Err(Error::invalid("called before it was built")),
        }
    }

    /// The depthwise result and the pre-activation output.
    fn affine(&self, inputs: &Inputs<'_>) -> Result<(ndarray::ArrayD<f32>, ndarray::ArrayD<f32>)> {
        let x = sequence(inputs)?;
        let (dk, pk) = self.kernels()?;
        let d = self.config.window().forward(x, &dk.value)?;
        let d3 = d
            .view()
            .into_dimensionality::<ndarray::Ix3>()
            .map_err(|e| Error::invalid(format!("internal: {e}")))?;
        let y = conv1d(
            d3,
            &pk.value,
            self.bias.as_ref().map(|b| &b.value),
            &self.config.pointwise(),
        )?;
        Ok((d, y))
    }
}

impl Layer for SeparableConv1DLayer {
    class_and_config!();

    fn build(&mut self, inputs: &[TensorSpec], ctx: &mut BuildContext) -> Result<()> {
        expect_inputs(inputs, 1)?;
        let c = &self.config;
        expect_channels_last(c.data_format)?;
        c.window().validate()?;
        if c.filters == 0 {
            return Err(Error::invalid("filters must be positive, got 0"));
        }
        expect_rank(&inputs[0], 3, "inputs (batch, steps, channels)")?;
        let channels = known_last_dim(&inputs[0])?;
        let mut rng = layer_rng(c.common.seed);
        self.depthwise_kernel = Some(ctx.add_weight(
            "depthwise_kernel",
            &[c.kernel_size, channels, c.depth_multiplier],
            &c.depthwise_initializer,
            c.trainable,
            &mut rng,
        )?);
        self.pointwise_kernel = Some(ctx.add_weight(
            "pointwise_kernel",
            &[1, channels * c.depth_multiplier, c.filters],
            &c.pointwise_initializer,
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
        known_last_dim(x)?;
        let steps = self.config.window().out_steps(x.shape[1])?;
        Ok(vec![TensorSpec::f32(vec![
            x.shape[0],
            steps,
            Some(self.config.filters),
        ])])
    }

    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        let (_, mut y) = self.affine(inputs)?;
        self.config.activation.apply_inplace(&mut y);
        Ok(vec![Value::F32(y)])
    }

    fn has_backward(&self) -> bool {
        true
    }

    fn call_train(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Trained> {
        let (_, y) = self.affine(inputs)?;
        Ok(activated_for_training(self.config.activation, y))
    }

    fn backward(&self, call: &BackwardCall<'_>) -> Result<LayerGrads> {
        let Some(gz) = pre_activation_grad(self.config.activation, call)? else {
            return Ok(LayerGrads::inputs(vec![None]));
        };
        let x = sequence(call.inputs)?;
        let (dk, pk) = self.kernels()?;
        let window = self.config.window();
        let d = window.forward(x, &dk.value)?;
        let d3 = d
            .view()
            .into_dimensionality::<ndarray::Ix3>()
            .map_err(|e| Error::invalid(format!("internal: {e}")))?;
        let (gd, gpk) = conv1d_backward(d3, &pk.value, &gz, &self.config.pointwise())?;
        let (gx, gdk) = window.backward(x, &dk.value, &gd)?;
        let mut grads = LayerGrads::inputs(vec![Some(gx)])
            .param("depthwise_kernel", gdk)
            .param("pointwise_kernel", gpk);
        if self.bias.is_some() {
            let gb = crate::util::rows_of(&gz)?.sum_axis(ndarray::Axis(0));
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
            ("depthwise_kernel", &c.depthwise_regularizer),
            ("pointwise_kernel", &c.pointwise_regularizer),
            ("bias", &c.bias_regularizer),
        ])
    }

    optional_params!(depthwise_kernel, pointwise_kernel, bias);
}
