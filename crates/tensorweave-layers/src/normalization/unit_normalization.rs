//! `UnitNormalization` (Keras' `layers.UnitNormalization`): each vector along
//! `axis` divided by its L2 norm, at least `1e-12`: `x / max(‖x‖, 1e-12)` (a
//! zero vector stays zero). Masks pass through.

use ndarray::{ArrayD, Axis, Zip};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use tensorweave_core::registry::brief;
use tensorweave_core::{
    BackwardCall, BuildContext, CallContext, Error, Inputs, Layer, LayerGrads, Result, TensorSpec,
    Value,
};
use tensorweave_derive::LayerConfig;

use crate::class::Common;
use crate::class_and_config;
use crate::ops::operands::resolve_axes;
use crate::util::{expect_float, expect_inputs};

/// Builder and configuration of a `UnitNormalization` layer.
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let x = Input::new([Some(5), Some(4)]).build();
/// let y = UnitNormalization::new().call(&x).unwrap();
/// assert_eq!(y.shape(), x.shape());
/// ```
#[derive(Debug, Clone, Serialize, Deserialize, LayerConfig)]
#[serde(default)]
#[layer(UnitNormalizationLayer, class = "UnitNormalization")]
pub struct UnitNormalization {
    /// The axis or axes normalized over (an integer or a list, default -1).
    #[config(default = Json::from(-1))]
    pub axis: Json,
    /// Keras' `trainable` flag (the layer has no weights).
    #[config(default = true)]
    pub trainable: bool,
    /// Name and initial weights.
    #[serde(skip)]
    pub common: Common,
}

impl UnitNormalization {
    /// Normalization over the last axis.
    pub fn new() -> Self {
        Self::default()
    }
}

/// The axes of a Keras `axis` option (an integer or a list) for rank `rank`.
pub(crate) fn axes_of(axis: &Json, rank: usize) -> Result<Vec<usize>> {
    let list: Vec<i64> = match axis {
        Json::Number(n) => vec![n.as_i64().unwrap_or(i64::MAX)],
        Json::Array(items) => items
            .iter()
            .map(|v| v.as_i64().unwrap_or(i64::MAX))
            .collect(),
        other => {
            return Err(Error::invalid(format!(
                "option `axis` = {} must be an integer or a list of integers",
                brief(other)
            )))
        }
    };
    resolve_axes(&list, rank)
}

/// Where a normalization's epsilon bounds the norm from below.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Floor {
    /// `rsqrt(max(Σx², eps))` (Keras' `Dot(normalize=True)`).
    SquareSum(f32),
    /// `1 / max(‖x‖, eps)` (`UnitNormalization`).
    Norm(f32),
}

impl Floor {
    fn inverse(self, ss: f32) -> f32 {
        match self {
            Floor::SquareSum(eps) => 1.0 / ss.max(eps).sqrt(),
            Floor::Norm(eps) => 1.0 / ss.sqrt().max(eps),
        }
    }

    /// Whether the floor is not reached (the norm itself is used).
    fn free(self, ss: f32) -> bool {
        match self {
            Floor::SquareSum(eps) => ss > eps,
            Floor::Norm(eps) => ss.sqrt() > eps,
        }
    }
}

/// The inverse norms over `axes` under `floor`, kept as size-1 axes.
pub(crate) fn inverse_norms(x: &ArrayD<f32>, axes: &[usize], floor: Floor) -> ArrayD<f32> {
    let mut ss = x.mapv(|v| v * v);
    for &a in axes.iter().rev() {
        ss = ss.sum_axis(Axis(a)).insert_axis(Axis(a));
    }
    ss.mapv(|s| floor.inverse(s))
}

/// The gradient of `y = x · r` with `r` the inverse norm over `axes`.
pub(crate) fn normalize_backward(
    x: &ArrayD<f32>,
    g: &ArrayD<f32>,
    axes: &[usize],
    floor: Floor,
) -> Result<ArrayD<f32>> {
    let r = inverse_norms(x, axes, floor);
    let mut ss = x.mapv(|v| v * v);
    let mut gx = x * g;
    for &a in axes.iter().rev() {
        ss = ss.sum_axis(Axis(a)).insert_axis(Axis(a));
        gx = gx.sum_axis(Axis(a)).insert_axis(Axis(a));
    }
    let shape = x.raw_dim();
    let (r, ss, gx) = (
        r.broadcast(shape.clone())
            .ok_or_else(|| Error::invalid("internal: norm broadcast"))?,
        ss.broadcast(shape.clone())
            .ok_or_else(|| Error::invalid("internal: norm broadcast"))?,
        gx.broadcast(shape)
            .ok_or_else(|| Error::invalid("internal: norm broadcast"))?,
    );
    Ok(Zip::from(x)
        .and(g)
        .and(&r)
        .and(&ss)
        .and(&gx)
        .map_collect(|&x, &g, &r, &ss, &gx| {
            if floor.free(ss) {
                r * g - r * r * r * x * gx
            } else {
                r * g
            }
        }))
}

/// The `UnitNormalization` layer (no weights).
#[derive(Debug, Default)]
pub struct UnitNormalizationLayer {
    config: UnitNormalization,
}

const FLOOR: Floor = Floor::Norm(1e-12);

impl Layer for UnitNormalizationLayer {
    class_and_config!();

    fn build(&mut self, inputs: &[TensorSpec], _ctx: &mut BuildContext) -> Result<()> {
        expect_inputs(inputs, 1)?;
        axes_of(&self.config.axis, inputs[0].rank()).map(|_| ())
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        expect_inputs(inputs, 1)?;
        expect_float(&inputs[0])?;
        axes_of(&self.config.axis, inputs[0].rank())?;
        Ok(vec![inputs[0].clone()])
    }

    fn propagates_mask(&self) -> bool {
        true
    }

    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        let x = inputs.f32(0)?;
        let axes = axes_of(&self.config.axis, x.ndim())?;
        let r = inverse_norms(x, &axes, FLOOR);
        Ok(vec![Value::F32(x * &r)])
    }

    fn has_backward(&self) -> bool {
        true
    }

    fn backward(&self, call: &BackwardCall<'_>) -> Result<LayerGrads> {
        let Some(g) = call.value_grad(0)? else {
            return Ok(LayerGrads::inputs(vec![None]));
        };
        let x = call.inputs.f32(0)?;
        let axes = axes_of(&self.config.axis, x.ndim())?;
        Ok(LayerGrads::inputs(vec![Some(normalize_backward(
            x, g, &axes, FLOOR,
        )?)]))
    }
}
