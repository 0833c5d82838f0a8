//! What `DepthwiseConv1D` and `SeparableConv1D` share: a depthwise
//! convolution (each input channel convolved with its own `depth_multiplier`
//! filters, output channel `c · multiplier + m`) run as a `Conv1D` with one
//! group per channel, its kernel `(kernel_size, channels, multiplier)` seen as
//! `(kernel_size, 1, channels · multiplier)`.

use ndarray::{ArrayD, ArrayView3, Ix3, IxDyn};
use tensorweave_core::{format_dims, Error, Inputs, Result};

use super::conv1d::{conv1d, conv1d_backward};
use super::{Conv1D, Padding};

/// The window options of a depthwise convolution.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    pub(crate) kernel_size: usize,
    pub(crate) strides: usize,
    pub(crate) padding: Padding,
    pub(crate) dilation_rate: usize,
    pub(crate) depth_multiplier: usize,
}

impl Window {
    /// The equivalent grouped `Conv1D` for `channels` input channels.
    pub(crate) fn grouped(&self, channels: usize) -> Conv1D {
        Conv1D {
            filters: channels * self.depth_multiplier,
            kernel_size: self.kernel_size,
            strides: self.strides,
            padding: self.padding,
            dilation_rate: self.dilation_rate,
            groups: channels,
            use_bias: false,
            ..Conv1D::default()
        }
    }

    /// Checks the options as Keras' constructor does.
    pub(crate) fn validate(&self) -> Result<()> {
        if self.padding == Padding::Causal {
            return Err(Error::invalid(
                "padding \"causal\" is not supported by depthwise convolutions (as in Keras); \
                 use \"valid\" or \"same\"",
            ));
        }
        if self.depth_multiplier == 0 {
            return Err(Error::invalid("depth_multiplier must be positive, got 0"));
        }
        let mut probe = self.grouped(1);
        probe.filters = self.depth_multiplier;
        probe.validate()
    }

    /// The output steps for `steps` input steps (none when unknown).
    pub(crate) fn out_steps(&self, steps: Option<usize>) -> Result<Option<usize>> {
        steps
            .map(|s| self.grouped(1).geometry(s).map(|(out, _)| out))
            .transpose()
    }

    /// The kernel `(k, channels, multiplier)` as the grouped kernel.
    fn grouped_kernel(&self, kernel: &ArrayD<f32>) -> Result<ArrayD<f32>> {
        let s = kernel.shape();
        kernel
            .as_standard_layout()
            .into_owned()
            .into_shape_with_order(IxDyn(&[s[0], 1, s[1] * s[2]]))
            .map_err(|e| Error::invalid(format!("internal: depthwise kernel: {e}")))
    }

    /// The depthwise convolution of `x` `(batch, steps, channels)`.
    pub(crate) fn forward(
        &self,
        x: ArrayView3<'_, f32>,
        kernel: &ArrayD<f32>,
    ) -> Result<ArrayD<f32>> {
        let conv = self.grouped(x.dim().2);
        conv1d(x, &self.grouped_kernel(kernel)?, None, &conv)
    }

    /// The gradients of the input and of the kernel `(k, channels, multiplier)`.
    pub(crate) fn backward(
        &self,
        x: ArrayView3<'_, f32>,
        kernel: &ArrayD<f32>,
        g: &ArrayD<f32>,
    ) -> Result<(ArrayD<f32>, ArrayD<f32>)> {
        let conv = self.grouped(x.dim().2);
        let (gx, gk) = conv1d_backward(x, &self.grouped_kernel(kernel)?, g, &conv)?;
        let gk = gk
            .into_shape_with_order(IxDyn(kernel.shape()))
            .map_err(|e| Error::invalid(format!("internal: depthwise kernel gradient: {e}")))?;
        Ok((gx, gk))
    }
}

/// The input as `(batch, steps, channels)`, refusing 0 steps.
pub(crate) fn sequence<'a>(inputs: &Inputs<'a>) -> Result<ArrayView3<'a, f32>> {
    let x = inputs.f32(0)?;
    let x = x.view().into_dimensionality::<Ix3>().map_err(|_| {
        Error::invalid(format!(
            "expects inputs of rank 3 (batch, steps, channels), got shape {}",
            format_dims(x.shape())
        ))
    })?;
    if x.dim().1 == 0 {
        return Err(Error::invalid(format!(
            "got a sequence of 0 time steps, shape {}; a convolution needs at least one step",
            format_dims(x.shape())
        )));
    }
    Ok(x)
}
