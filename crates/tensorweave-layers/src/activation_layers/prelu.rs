//! `PReLU` (Keras' `layers.PReLU`): `x` above 0, a learned `alpha · x` below.

use ndarray::{ArrayD, Axis, IxDyn};
use serde::{Deserialize, Serialize};
use tensorweave_core::{
    format_dims, layer_rng, BackwardCall, BuildContext, CallContext, Error, Initializer, Inputs,
    Layer, LayerGrads, Param, Result, TensorSpec, Value,
};
use tensorweave_derive::LayerConfig;

use crate::class::{Common, LayerClass};
use crate::util::{expect_float, expect_inputs};
use crate::{class_and_config, optional_params};

/// Builder and configuration of a `PReLU` layer (Keras' `layers.PReLU`):
/// `relu(x) - alpha · relu(-x)` with a trained `alpha` of the input's shape
/// without the batch axis, size 1 along `shared_axes`. Masks pass through.
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let x = Input::new([5, 3]).build();
/// let y = Prelu::new().shared_axes(vec![1]).call(&x).unwrap();
/// assert_eq!(y.layer().weight_specs()[0].1, vec![1, 3]);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize, LayerConfig)]
#[serde(default)]
#[layer(PreluLayer)]
pub struct Prelu {
    /// Initializer of `alpha` (Keras' default zeros).
    #[config(default = Initializer::Zeros)]
    pub alpha_initializer: Initializer,
    /// `alpha`'s regularizer as Keras serializes it (default none).
    pub alpha_regularizer: Option<serde_json::Value>,
    /// Axes (counted with the batch axis as 0) along which one `alpha` is shared.
    pub shared_axes: Option<Vec<usize>>,
    /// Whether `alpha` is trainable (default true).
    #[config(default = true)]
    pub trainable: bool,
    /// Name, seed and initial weights.
    #[serde(skip)]
    pub common: Common,
}

impl Prelu {
    /// Keras' defaults: one `alpha` per input element, starting at 0.
    pub fn new() -> Self {
        Self::default()
    }
}

/// The `PReLU` layer itself.
#[derive(Debug)]
pub struct PreluLayer {
    config: Prelu,
    alpha: Option<Param>,
}

impl LayerClass for PreluLayer {
    const CLASS_NAME: &'static str = "PReLU";
    type Builder = Prelu;

    fn from_builder(config: Prelu) -> Self {
        PreluLayer {
            config,
            alpha: None,
        }
    }
}

impl PreluLayer {
    /// `alpha`, checked to broadcast over `x`.
    fn alpha(&self, x: &ArrayD<f32>) -> Result<ndarray::ArrayViewD<'_, f32>> {
        let a = self
            .alpha
            .as_ref()
            .ok_or_else(|| Error::invalid("the layer is not built (no alpha)"))?;
        let shape: Vec<usize> = std::iter::once(1)
            .chain(a.value.shape().iter().copied())
            .collect();
        let view = a
            .value
            .view()
            .into_shape_with_order(IxDyn(&shape))
            .map_err(|e| Error::invalid(format!("internal: alpha: {e}")))?;
        if view.broadcast(x.raw_dim()).is_none() {
            return Err(Error::invalid(format!(
                "alpha of shape {} does not fit inputs of shape {}",
                format_dims(a.value.shape()),
                format_dims(x.shape())
            )));
        }
        Ok(view)
    }
}

impl Layer for PreluLayer {
    class_and_config!();

    fn build(&mut self, inputs: &[TensorSpec], ctx: &mut BuildContext) -> Result<()> {
        expect_inputs(inputs, 1)?;
        let x = &inputs[0];
        let mut shape = Vec::with_capacity(x.rank().saturating_sub(1));
        for (i, d) in x.shape.iter().enumerate().skip(1) {
            let shared = self
                .config
                .shared_axes
                .as_ref()
                .is_some_and(|s| s.contains(&i));
            shape.push(match (shared, d) {
                (true, _) => 1,
                (false, Some(d)) => *d,
                (false, None) => {
                    return Err(Error::invalid(format!(
                        "axis {i} of the input is unknown; give it a size or list it in \
                         shared_axes"
                    )))
                }
            });
        }
        let c = &self.config;
        let mut rng = layer_rng(c.common.seed);
        self.alpha =
            Some(ctx.add_weight("alpha", &shape, &c.alpha_initializer, c.trainable, &mut rng)?);
        Ok(())
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        expect_inputs(inputs, 1)?;
        expect_float(&inputs[0])?;
        Ok(vec![inputs[0].clone()])
    }

    fn propagates_mask(&self) -> bool {
        true
    }

    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        let x = inputs.f32(0)?;
        let alpha = self.alpha(x)?;
        let mut y = x.clone();
        ndarray::Zip::from(&mut y)
            .and_broadcast(&alpha)
            .for_each(|v, &a| *v = v.max(0.0) - a * (-*v).max(0.0));
        Ok(vec![Value::F32(y)])
    }

    fn has_backward(&self) -> bool {
        true
    }

    /// `gx = g` where `x > 0`, `g · alpha` where `x < 0`, 0 at 0;
    /// `g_alpha = Σ -relu(-x) · g` over the batch and the shared axes.
    fn backward(&self, call: &BackwardCall<'_>) -> Result<LayerGrads> {
        let Some(gy) = call.value_grad(0)? else {
            return Ok(LayerGrads::inputs(vec![None]));
        };
        let x = call.inputs.f32(0)?;
        let alpha = self.alpha(x)?;
        let mut gx = gy.clone();
        ndarray::Zip::from(&mut gx)
            .and(x)
            .and_broadcast(&alpha)
            .for_each(|g, &x, &a| {
                *g *= if x > 0.0 {
                    1.0
                } else if x < 0.0 {
                    a
                } else {
                    0.0
                }
            });
        let mut ga = gy * &x.mapv(|v| -(-v).max(0.0));
        // Sum over the batch axis and every axis alpha shares.
        let target = alpha.shape().to_vec();
        for axis in (0..ga.ndim()).rev() {
            if target[axis] == 1 && ga.shape()[axis] != 1 {
                ga = ga.sum_axis(Axis(axis)).insert_axis(Axis(axis));
            }
        }
        let shape = target[1..].to_vec();
        let ga = ga
            .into_shape_with_order(IxDyn(&shape))
            .map_err(|e| Error::invalid(format!("internal: alpha gradient: {e}")))?;
        Ok(LayerGrads::inputs(vec![Some(gx)]).param("alpha", ga))
    }

    fn weight_regularizers(&self) -> Vec<(String, serde_json::Value)> {
        crate::util::regularizers(&[("alpha", &self.config.alpha_regularizer)])
    }

    optional_params!(alpha);
}
