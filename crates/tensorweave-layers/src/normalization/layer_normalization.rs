//! `LayerNormalization` (Keras' `layers.LayerNormalization`).

use ndarray::{ArrayD, IxDyn};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};
use tensorweave_core::format_dims;
use tensorweave_core::{
    format_shape, layer_rng, BackwardCall, BuildContext, CallContext, Error, Initializer, Layer,
    LayerGrads, Param, Result, TensorSpec, Value,
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
    /// The regularizer of `beta` as Keras serializes it (default none).
    pub beta_regularizer: Option<serde_json::Value>,
    /// The regularizer of `gamma` (default none).
    pub gamma_regularizer: Option<serde_json::Value>,
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
                    "its weights have shape {}, built for other inputs; input shape {} \
                     needs {dims:?}",
                    format_dims(p.value.shape()),
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
                    "weights of {} values do not fit the {inner} normalised entries of input {}",
                    p.len(),
                    format_dims(x.shape())
                )));
            }
        }
        let eps = self.config.epsilon as f32;
        let rows = Rows::of(x, &axes, inner);
        let mut out = Vec::with_capacity(rows.data.len());
        for row in rows.data.chunks(inner.max(1)) {
            normalize_row(
                row,
                gamma.as_deref(),
                beta.as_deref(),
                eps,
                self.config.rms_scaling,
                &mut out,
            );
        }
        Ok(vec![Value::F32(rows.restore(out)?)])
    }

    fn has_backward(&self) -> bool {
        true
    }

    fn weight_regularizers(&self) -> Vec<(String, serde_json::Value)> {
        let c = &self.config;
        crate::util::regularizers(&[
            ("gamma", &c.gamma_regularizer),
            ("beta", &c.beta_regularizer),
        ])
    }

    /// Per row `x̂ = (x - mean) r`, `r = (var + eps)^-1/2`, `y = gamma x̂ + beta`:
    /// `gx = r (g - mean(g) - x̂ mean(g x̂))` with `g = gy gamma`. With
    /// `rms_scaling` (`y = gamma x r`, the variance still about the mean):
    /// `gx = r g - r x̂ mean(g x) r`, i.e. `r g - r³ (x - mean) mean(g x)`.
    fn backward(&self, call: &BackwardCall<'_>) -> Result<LayerGrads> {
        let Some(gy) = call.value_grad(0)? else {
            return Ok(LayerGrads::inputs(vec![None]));
        };
        let x = call.inputs.f32(0)?;
        let shape: Vec<Option<usize>> = x.shape().iter().map(|&d| Some(d)).collect();
        let (axes, dims) = self.axes_for(&shape)?;
        let inner: usize = dims.iter().product::<usize>().max(1);
        let gamma = param_vec(&self.gamma);
        let eps = self.config.epsilon as f32;
        let (xr, gr) = (Rows::of(x, &axes, inner), Rows::of(gy, &axes, inner));
        let mut gx = Vec::with_capacity(xr.data.len());
        let mut g_gamma = vec![0.0f32; inner];
        let mut g_beta = vec![0.0f32; inner];
        let mut g = vec![0.0f32; inner];
        let mut xhat = vec![0.0f32; inner];
        let rms = self.config.rms_scaling;
        for (row, grow) in xr.data.chunks(inner).zip(gr.data.chunks(inner)) {
            let (mean, var) = row_moments(row);
            let r = 1.0 / (var + eps).sqrt();
            if rms {
                let n = inner as f32;
                let mut mean_gx = 0.0f32;
                for j in 0..inner {
                    g_gamma[j] += grow[j] * row[j] * r;
                    g[j] = grow[j] * gamma.as_ref().map_or(1.0, |w| w[j]);
                    mean_gx += g[j] * row[j];
                }
                mean_gx /= n;
                for j in 0..inner {
                    gx.push(r * g[j] - r * r * r * (row[j] - mean) * mean_gx);
                }
                continue;
            }
            for j in 0..inner {
                xhat[j] = (row[j] - mean) * r;
                g_gamma[j] += grow[j] * xhat[j];
                g_beta[j] += grow[j];
                g[j] = grow[j] * gamma.as_ref().map_or(1.0, |w| w[j]);
            }
            let n = inner as f32;
            let mean_g = g.iter().sum::<f32>() / n;
            let mean_gx = g.iter().zip(&xhat).map(|(a, b)| a * b).sum::<f32>() / n;
            for j in 0..inner {
                gx.push(r * (g[j] - mean_g - xhat[j] * mean_gx));
            }
        }
        let as_param = |v: Vec<f32>| {
            ArrayD::from_shape_vec(IxDyn(&dims), v).map_err(|e| Error::invalid(e.to_string()))
        };
        let mut grads = LayerGrads::inputs(vec![Some(xr.restore(gx)?)]);
        if self.gamma.is_some() {
            grads = grads.param("gamma", as_param(g_gamma)?);
        }
        if self.beta.is_some() {
            grads = grads.param("beta", as_param(g_beta)?);
        }
        Ok(grads)
    }

    optional_params!(gamma, beta);
}

/// Normalises one group of values. Statistics as `tf.nn.moments` (mean, then
/// the mean of squared deviations from it), accumulated in f64 and rounded to
/// f32; the affine part in f32 in Keras' order of operations.
/// An array with its normalised axes moved last (ascending, matching Keras'
/// reshape of gamma/beta into the broadcast shape), as rows of `inner` values.
struct Rows {
    data: Vec<f32>,
    perm: Vec<usize>,
    moved_shape: Vec<usize>,
}

impl Rows {
    fn of(x: &ArrayD<f32>, axes: &[usize], _inner: usize) -> Rows {
        let rank = x.ndim();
        let mut perm: Vec<usize> = (0..rank).filter(|a| !axes.contains(a)).collect();
        perm.extend(axes);
        let moved = x.view().permuted_axes(IxDyn(&perm));
        Rows {
            moved_shape: moved.shape().to_vec(),
            data: moved.iter().copied().collect(),
            perm,
        }
    }

    /// Values laid out as these rows, moved back to the original axis order.
    fn restore(&self, values: Vec<f32>) -> Result<ArrayD<f32>> {
        let moved = ArrayD::from_shape_vec(IxDyn(&self.moved_shape), values)
            .map_err(|e| Error::invalid(e.to_string()))?;
        let mut inverse = vec![0; self.perm.len()];
        for (i, &p) in self.perm.iter().enumerate() {
            inverse[p] = i;
        }
        Ok(moved
            .permuted_axes(IxDyn(&inverse))
            .as_standard_layout()
            .into_owned())
    }
}

/// The mean and biased variance of a row (summed in f64).
fn row_moments(row: &[f32]) -> (f32, f32) {
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
    (mean, var)
}

fn normalize_row(
    row: &[f32],
    gamma: Option<&[f32]>,
    beta: Option<&[f32]>,
    eps: f32,
    rms_scaling: bool,
    out: &mut Vec<f32>,
) {
    let (mean, var) = row_moments(row);
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
