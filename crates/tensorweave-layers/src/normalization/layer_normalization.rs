//! `LayerNormalization` (Keras' `layers.LayerNormalization`).

use ndarray::{ArrayD, IxDyn};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};
use tensorweave_core::{
    format_shape, layer_rng, BuildContext, CallContext, Error, Initializer, Layer, Param, Result,
    TensorSpec, Value,
};
use tensorweave_derive::LayerConfig;

use super::{param_vec, resolve};
use crate::class::{Common, LayerClass};
use crate::util::{expect_float, expect_inputs};
use crate::{class_and_config, optional_params};
use tensorweave_core::Inputs;

/// Builder and configuration of a `LayerNormalization` layer (Keras'
/// `layers.LayerNormalization`): each example is normalised over `axis` to zero
/// mean and unit variance, then scaled by `gamma` and shifted by `beta`.
///
/// Keras 3 formula: `inv = gamma / sqrt(var + epsilon)`,
/// `y = x * inv + (beta - mean * inv)`, with the biased variance.
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let x = Input::new([10, 8]).build();
/// let y = LayerNormalization::new().epsilon(1e-6).call(&x).unwrap();
/// assert_eq!(y.shape(), &vec![None, Some(10), Some(8)]);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize, LayerConfig)]
#[serde(default)]
#[layer(LayerNormalizationLayer)]
pub struct LayerNormalization {
    /// The normalised axes, negative counting from the end (default `[-1]`).
    /// Sorted when the layer is built, as in Keras.
    #[config(default = vec![-1])]
    #[config(skip)]
    pub axis: Vec<i64>,
    /// Added to the variance (default 1e-3).
    #[config(default = 1e-3)]
    pub epsilon: f64,
    /// Whether to add `beta` (default true).
    #[config(default = true)]
    pub center: bool,
    /// Whether to multiply by `gamma` (default true).
    #[config(default = true)]
    pub scale: bool,
    /// Keras' deprecated `rms_scaling`: `x / sqrt(var + epsilon) * gamma`, no `beta`.
    pub rms_scaling: bool,
    /// Initializer of `beta` (default zeros).
    #[config(default = Initializer::Zeros)]
    pub beta_initializer: Initializer,
    /// Initializer of `gamma` (default ones).
    #[config(default = Initializer::Ones)]
    pub gamma_initializer: Initializer,
    /// Whether the weights are trainable (default true).
    #[config(default = true)]
    pub trainable: bool,
    /// Name, seed and initial weights.
    #[serde(skip)]
    pub common: Common,
}

impl LayerNormalization {
    /// Normalisation over the last axis with Keras' defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Normalises over one axis (negative counts from the end).
    pub fn axis(mut self, axis: i64) -> Self {
        self.axis = vec![axis];
        self
    }

    /// Normalises over several axes jointly.
    pub fn axes(mut self, axes: impl Into<Vec<i64>>) -> Self {
        self.axis = axes.into();
        self
    }
}

/// The `LayerNormalization` layer itself.
#[derive(Debug)]
pub struct LayerNormalizationLayer {
    config: LayerNormalization,
    gamma: Option<Param>,
    beta: Option<Param>,
}

impl LayerNormalizationLayer {
    /// The configuration.
    pub fn config(&self) -> &LayerNormalization {
        &self.config
    }

    /// The normalised axes of an input of this shape, ascending, and the sizes
    /// of the weights (in Keras' order of the sorted configured axes).
    fn axes_for(&self, shape: &[Option<usize>]) -> Result<(Vec<usize>, Vec<usize>)> {
        if self.config.axis.is_empty() {
            return Err(Error::invalid("`axis` must name at least one axis"));
        }
        let mut configured = self.config.axis.clone();
        configured.sort_unstable();
        let mut dims = Vec::with_capacity(configured.len());
        let mut axes = Vec::with_capacity(configured.len());
        for &a in &configured {
            let r = resolve(a, shape.len(), shape)?;
            if axes.contains(&r) {
                return Err(Error::invalid(format!(
                    "`axis` {:?} names axis {r} twice for input shape {}",
                    self.config.axis,
                    format_shape(shape)
                )));
            }
            let d = shape[r].ok_or_else(|| {
                Error::invalid(format!(
                    "normalised axis {a} of input shape {} must be known",
                    format_shape(shape)
                ))
            })?;
            dims.push(d);
            axes.push(r);
        }
        axes.sort_unstable();
        Ok((axes, dims))
    }
}

impl LayerClass for LayerNormalizationLayer {
    const CLASS_NAME: &'static str = "LayerNormalization";
    type Builder = LayerNormalization;

    fn from_builder(config: LayerNormalization) -> Self {
        LayerNormalizationLayer {
            config,
            gamma: None,
            beta: None,
        }
    }

    /// `LayerNormalization(axis=-1)` (Keras 2, hand-written) is `axis=[-1]`.
    fn upgrade_config(config: &mut Map<String, Json>) {
        if let Some(axis @ Json::Number(_)) = config.get_mut("axis") {
            *axis = Json::Array(vec![axis.clone()]);
        }
    }
}

impl Layer for LayerNormalizationLayer {
    class_and_config!();

    fn build(&mut self, inputs: &[TensorSpec], ctx: &mut BuildContext) -> Result<()> {
        expect_inputs(inputs, 1)?;
        let (_, dims) = self.axes_for(&inputs[0].shape)?;
        self.config.axis.sort_unstable();
        let c = &self.config;
        let mut rng = layer_rng(c.common.seed);
        self.gamma = (c.scale || c.rms_scaling)
            .then(|| ctx.add_weight("gamma", &dims, &c.gamma_initializer, c.trainable, &mut rng))
            .transpose()?;
        self.beta = (c.center && !c.rms_scaling)
            .then(|| ctx.add_weight("beta", &dims, &c.beta_initializer, c.trainable, &mut rng))
            .transpose()?;
        Ok(())
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        expect_inputs(inputs, 1)?;
        let x = &inputs[0];
        expect_float(x)?;
        let (_, dims) = self.axes_for(&x.shape)?;
        if let Some(p) = self.gamma.as_ref().or(self.beta.as_ref()) {
            if p.value.shape() != dims.as_slice() {
                return Err(Error::invalid(format!(
                    "its weights have shape {:?}, built for other inputs; input shape {} \
                     needs {dims:?}",
                    p.value.shape(),
                    format_shape(&x.shape)
                )));
            }
        }
        Ok(vec![x.clone()])
    }

    fn propagates_mask(&self) -> bool {
        true
    }

    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        let x = inputs.f32(0)?;
        let shape: Vec<Option<usize>> = x.shape().iter().map(|&d| Some(d)).collect();
        let (axes, dims) = self.axes_for(&shape)?;
        let inner: usize = dims.iter().product();
        let (gamma, beta) = (param_vec(&self.gamma), param_vec(&self.beta));
        for p in [&gamma, &beta].into_iter().flatten() {
            if p.len() != inner {
                return Err(Error::invalid(format!(
                    "weights of {} values do not fit the {inner} normalised entries of input {:?}",
                    p.len(),
                    x.shape()
                )));
            }
        }
        // Move the normalised axes last (ascending, matching Keras' reshape of
        // gamma/beta into the broadcast shape), normalise rows, move back.
        let rank = x.ndim();
        let mut perm: Vec<usize> = (0..rank).filter(|a| !axes.contains(a)).collect();
        perm.extend(&axes);
        let moved = x.view().permuted_axes(IxDyn(&perm));
        let moved_shape = moved.shape().to_vec();
        let data: Vec<f32> = moved.iter().copied().collect();
        let mut out = Vec::with_capacity(data.len());
        let eps = self.config.epsilon as f32;
        for row in data.chunks(inner.max(1)) {
            normalize_row(
                row,
                gamma.as_deref(),
                beta.as_deref(),
                eps,
                self.config.rms_scaling,
                &mut out,
            );
        }
        let moved_out = ArrayD::from_shape_vec(IxDyn(&moved_shape), out)
            .map_err(|e| Error::invalid(e.to_string()))?;
        let mut inverse = vec![0; rank];
        for (i, &p) in perm.iter().enumerate() {
            inverse[p] = i;
        }
        let y = moved_out.permuted_axes(IxDyn(&inverse));
        Ok(vec![Value::F32(y.as_standard_layout().into_owned())])
    }

    optional_params!(gamma, beta);
}

/// Normalises one group of values. Statistics as `tf.nn.moments` (mean, then
/// the mean of squared deviations from it), accumulated in f64 and rounded to
/// f32; the affine part in f32 in Keras' order of operations.
fn normalize_row(
    row: &[f32],
    gamma: Option<&[f32]>,
    beta: Option<&[f32]>,
    eps: f32,
    rms_scaling: bool,
    out: &mut Vec<f32>,
) {
    let n = row.len().max(1) as f64;
    let mean = (row.iter().map(|&v| v as f64).sum::<f64>() / n) as f32;
    let var = (row
        .iter()
        .map(|&v| {
            let d = v - mean;
            (d * d) as f64
        })
        .sum::<f64>()
        / n) as f32;
    let inv = 1.0 / (var + eps).sqrt();
    if rms_scaling {
        for (j, &v) in row.iter().enumerate() {
            let y = v * inv;
            out.push(gamma.and_then(|g| g.get(j)).map_or(y, |g| y * g));
        }
        return;
    }
    for (j, &v) in row.iter().enumerate() {
        let inv_j = gamma.and_then(|g| g.get(j)).map_or(inv, |g| inv * g);
        let res = -mean * inv_j + beta.and_then(|b| b.get(j)).copied().unwrap_or(0.0);
        out.push(v * inv_j + res);
    }
}
