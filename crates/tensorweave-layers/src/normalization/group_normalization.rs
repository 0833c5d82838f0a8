//! `GroupNormalization` (Keras' `layers.GroupNormalization`): the channels
//! (`axis`, the last by default) split into `groups` contiguous groups; each
//! example's group is normalized with its mean and biased variance over all
//! its other axes, then scaled by `gamma` and shifted by `beta` per channel.
//! Keras' layer takes no mask (padded steps count in the statistics) and
//! passes the mask on unchanged; so does this one.

use ndarray::{Array1, ArrayD, Axis, IxDyn};
use serde::{Deserialize, Serialize};
use tensorweave_core::{
    layer_rng, BackwardCall, BuildContext, CallContext, Error, Initializer, Inputs, Layer,
    LayerGrads, Param, Result, TensorSpec, Value,
};
use tensorweave_derive::LayerConfig;

use crate::class::Common;
use crate::util::{expect_float, expect_inputs};
use crate::{class_and_config, optional_params};

/// Builder and configuration of a `GroupNormalization` layer.
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let x = Input::new([Some(6), Some(8)]).build();
/// let y = GroupNormalization::new(4).call(&x).unwrap();
/// assert_eq!(y.shape(), x.shape());
/// ```
#[derive(Debug, Clone, Serialize, Deserialize, LayerConfig)]
#[serde(default)]
#[layer(GroupNormalizationLayer, class = "GroupNormalization")]
pub struct GroupNormalization {
    /// Number of groups; must divide the channels (default 32).
    #[config(default = 32)]
    pub groups: usize,
    /// The channel axis (default -1; only the last axis is supported).
    #[config(default = -1)]
    pub axis: i64,
    /// Added to the variance (default 1e-3).
    #[config(default = 1e-3)]
    pub epsilon: f64,
    /// Whether to add `beta` (default true).
    #[config(default = true)]
    pub center: bool,
    /// Whether to multiply by `gamma` (default true).
    #[config(default = true)]
    pub scale: bool,
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

impl GroupNormalization {
    /// Normalization in `groups` groups of channels, Keras' defaults.
    pub fn new(groups: usize) -> Self {
        GroupNormalization {
            groups,
            ..Default::default()
        }
    }
}

/// The `GroupNormalization` layer: its configuration and `gamma`, `beta`.
#[derive(Debug, Default)]
pub struct GroupNormalizationLayer {
    config: GroupNormalization,
    gamma: Option<Param>,
    beta: Option<Param>,
}

/// One training forward's statistics.
#[derive(Debug)]
struct Stats {
    /// The normalized input, before `gamma` and `beta`.
    xhat: ArrayD<f32>,
    /// `1 / sqrt(var + eps)` per (example, group).
    inv: ndarray::Array2<f32>,
}

impl GroupNormalizationLayer {
    fn check(&self, x: &TensorSpec) -> Result<usize> {
        let c = &self.config;
        if c.axis != -1 && c.axis != x.rank() as i64 - 1 {
            return Err(Error::invalid(format!(
                "option `axis` = {} is not supported: the channels must be the last axis",
                c.axis
            )));
        }
        let channels = x
            .last_dim()
            .ok_or_else(|| Error::invalid("the channel axis must be known"))?;
        if c.groups == 0 || channels % c.groups != 0 {
            return Err(Error::invalid(format!(
                "`groups` = {} must divide the {channels} channels",
                c.groups
            )));
        }
        Ok(channels)
    }

    /// `xhat` and the inverse deviations of `x` (`[batch, …, channels]`).
    fn normalize(&self, x: &ArrayD<f32>) -> Result<Stats> {
        let g = self.config.groups;
        let shape = x.shape();
        let (b, c) = (shape[0], shape[shape.len() - 1]);
        let per = c / g;
        let inner: usize = shape[1..shape.len() - 1].iter().product();
        let x3 = x
            .as_standard_layout()
            .into_owned()
            .into_shape_with_order((b, inner, c))
            .map_err(|e| Error::invalid(format!("internal: {e}")))?;
        let mut xhat = ndarray::Array3::<f32>::zeros((b, inner, c));
        let mut inv = ndarray::Array2::<f32>::zeros((b, g));
        let eps = self.config.epsilon;
        for bi in 0..b {
            for gi in 0..g {
                let block = x3.slice(ndarray::s![bi, .., gi * per..(gi + 1) * per]);
                let n = block.len().max(1) as f64;
                let mean = block.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
                let var = block
                    .iter()
                    .map(|&v| (f64::from(v) - mean).powi(2))
                    .sum::<f64>()
                    / n;
                let r = 1.0 / (var + eps).sqrt();
                inv[[bi, gi]] = r as f32;
                xhat.slice_mut(ndarray::s![bi, .., gi * per..(gi + 1) * per])
                    .assign(&block.mapv(|v| ((f64::from(v) - mean) * r) as f32));
            }
        }
        let xhat = xhat
            .into_shape_with_order(IxDyn(shape))
            .map_err(|e| Error::invalid(format!("internal: {e}")))?;
        Ok(Stats { xhat, inv })
    }

    fn affine(&self, xhat: &ArrayD<f32>) -> ArrayD<f32> {
        let mut y = xhat.clone();
        if let Some(g) = &self.gamma {
            y *= &g.value;
        }
        if let Some(b) = &self.beta {
            y += &b.value;
        }
        y
    }
}

impl Layer for GroupNormalizationLayer {
    class_and_config!();

    fn build(&mut self, inputs: &[TensorSpec], ctx: &mut BuildContext) -> Result<()> {
        expect_inputs(inputs, 1)?;
        let channels = self.check(&inputs[0])?;
        let c = &self.config;
        let mut rng = layer_rng(c.common.seed);
        if c.scale {
            self.gamma = Some(ctx.add_weight(
                "gamma",
                &[channels],
                &c.gamma_initializer,
                c.trainable,
                &mut rng,
            )?);
        }
        if c.center {
            self.beta = Some(ctx.add_weight(
                "beta",
                &[channels],
                &c.beta_initializer,
                c.trainable,
                &mut rng,
            )?);
        }
        Ok(())
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        expect_inputs(inputs, 1)?;
        expect_float(&inputs[0])?;
        self.check(&inputs[0])?;
        Ok(vec![inputs[0].clone()])
    }

    fn propagates_mask(&self) -> bool {
        true
    }

    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        let stats = self.normalize(inputs.f32(0)?)?;
        Ok(vec![Value::F32(self.affine(&stats.xhat))])
    }

    fn has_backward(&self) -> bool {
        true
    }

    fn call_train(
        &self,
        inputs: &Inputs<'_>,
        _ctx: &CallContext,
    ) -> Result<tensorweave_core::Trained> {
        let stats = self.normalize(inputs.f32(0)?)?;
        let y = self.affine(&stats.xhat);
        Ok(tensorweave_core::Trained::with_saved(
            vec![Value::F32(y)],
            stats,
        ))
    }

    /// The normalization's backward per group: `dx = r (dxhat − mean(dxhat)
    /// − xhat · mean(dxhat · xhat))`, the means over the group.
    fn backward(&self, call: &BackwardCall<'_>) -> Result<LayerGrads> {
        let Some(gy) = call.value_grad(0)? else {
            return Ok(LayerGrads::inputs(vec![None]));
        };
        let stats = call.saved::<Stats>()?;
        let shape = gy.shape().to_vec();
        let (b, c) = (shape[0], shape[shape.len() - 1]);
        let lead: Vec<usize> = (0..shape.len() - 1).collect();
        let mut grads = LayerGrads::inputs(vec![None]);
        let reduce = |a: ArrayD<f32>| -> Array1<f32> {
            let mut a = a;
            for &ax in lead.iter().rev() {
                a = a.sum_axis(Axis(ax));
            }
            a.into_dimensionality().unwrap_or_else(|_| Array1::zeros(c))
        };
        let mut dxhat = gy.clone();
        if let Some(g) = &self.gamma {
            grads = grads.param("gamma", reduce(gy * &stats.xhat).into_dyn());
            dxhat *= &g.value;
        }
        if self.beta.is_some() {
            grads = grads.param("beta", reduce(gy.clone()).into_dyn());
        }
        let g = self.config.groups;
        let per = c / g;
        let inner: usize = shape[1..shape.len() - 1].iter().product();
        let to3 = |a: &ArrayD<f32>| {
            a.as_standard_layout()
                .into_owned()
                .into_shape_with_order((b, inner, c))
                .map_err(|e| Error::invalid(format!("internal: {e}")))
        };
        let (d3, x3) = (to3(&dxhat)?, to3(&stats.xhat)?);
        let mut dx = ndarray::Array3::<f32>::zeros((b, inner, c));
        for bi in 0..b {
            for gi in 0..g {
                let s = ndarray::s![bi, .., gi * per..(gi + 1) * per];
                let (d, xh) = (d3.slice(s), x3.slice(s));
                let n = d.len().max(1) as f32;
                let mean_d = d.sum() / n;
                let mean_dx = (&d * &xh).sum() / n;
                let r = stats.inv[[bi, gi]];
                dx.slice_mut(s).assign(
                    &ndarray::Zip::from(&d)
                        .and(&xh)
                        .map_collect(|&d, &xh| r * (d - mean_d - xh * mean_dx)),
                );
            }
        }
        grads.inputs = vec![Some(
            dx.into_shape_with_order(IxDyn(&shape))
                .map_err(|e| Error::invalid(format!("internal: {e}")))?,
        )];
        Ok(grads)
    }

    fn weight_regularizers(&self) -> Vec<(String, serde_json::Value)> {
        let c = &self.config;
        crate::util::regularizers(&[
            ("gamma", &c.gamma_regularizer),
            ("beta", &c.beta_regularizer),
        ])
    }

    optional_params!(gamma, beta);
}
