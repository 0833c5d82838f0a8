//! `Dot` (Keras' `layers.Dot`): the dot product of two tensors along an axis
//! of each (Keras' `batch_dot`), optionally of their L2-normalized versions
//! (cosine similarity). Called on a list `[x1, x2]`; takes no mask.

use ndarray::{Array3, ArrayD, Axis, IxDyn};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use tensorweave_core::registry::brief;
use tensorweave_core::{
    format_shape, BackwardCall, CallContext, Error, Inputs, Layer, LayerGrads, Result, TensorSpec,
    Value,
};
use tensorweave_derive::LayerConfig;

use crate::class::Common;
use crate::class_and_config;
use crate::normalization::{inverse_norms, normalize_backward, Floor};

/// Builder and configuration of a `Dot` layer.
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let a = Input::new([Some(5), Some(4)]).build();
/// let b = Input::new([Some(6), Some(4)]).build();
/// let y = Dot::new(serde_json::json!([2, 2])).call_many(&[&a, &b]).unwrap();
/// assert_eq!(y.shape(), &vec![None, Some(5), Some(6)]);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize, LayerConfig)]
#[serde(default)]
#[layer(DotLayer, class = "Dot")]
pub struct Dot {
    /// The contracted axis: one integer for both inputs, or `[a1, a2]`.
    #[config(default = Json::from(-1))]
    pub axes: Json,
    /// L2-normalize both inputs along their axis first (default false).
    pub normalize: bool,
    /// Keras' `trainable` flag (the layer has no weights).
    #[config(default = true)]
    pub trainable: bool,
    /// Name and initial weights.
    #[serde(skip)]
    pub common: Common,
}

impl Dot {
    /// The dot product along `axes` (an integer, or `[a1, a2]` as JSON).
    pub fn new(axes: Json) -> Self {
        Dot {
            axes,
            ..Default::default()
        }
    }
}

/// The `Dot` layer (no weights).
#[derive(Debug, Default)]
pub struct DotLayer {
    config: Dot,
}

/// Keras' `epsilon()` under the squared norm.
const EPSILON: Floor = Floor::SquareSum(1e-7);

impl DotLayer {
    /// The contracted axis of each input (not the batch axis).
    fn axes(&self, r1: usize, r2: usize) -> Result<(usize, usize)> {
        let (a, b) = match &self.config.axes {
            Json::Number(n) => (n.as_i64(), n.as_i64()),
            Json::Array(v) if v.len() == 2 => (v[0].as_i64(), v[1].as_i64()),
            other => {
                return Err(Error::invalid(format!(
                    "option `axes` = {} must be an integer or a pair",
                    brief(other)
                )))
            }
        };
        let resolve = |a: Option<i64>, rank: usize| -> Result<usize> {
            let a = a.ok_or_else(|| Error::invalid("`axes` must hold integers"))?;
            let r = if a < 0 { a + rank as i64 } else { a };
            if !(1..rank as i64).contains(&r) {
                return Err(Error::invalid(format!(
                    "axis {a} is out of range for an input of rank {rank} (the batch axis \
                     cannot be contracted)"
                )));
            }
            Ok(r as usize)
        };
        Ok((resolve(a, r1)?, resolve(b, r2)?))
    }

    fn check(&self, inputs: &[TensorSpec]) -> Result<(usize, usize)> {
        let [x, y] = inputs else {
            return Err(Error::invalid(format!(
                "must be called on a list of 2 tensors, got {}",
                inputs.len()
            )));
        };
        for s in [x, y] {
            if !(2..=3).contains(&s.rank()) {
                return Err(Error::invalid(format!(
                    "takes tensors of rank 2 or 3, got shape {}",
                    format_shape(&s.shape)
                )));
            }
            crate::util::expect_float(s)?;
        }
        let (a, b) = self.axes(x.rank(), y.rank())?;
        if let (Some(p), Some(q)) = (x.shape[a], y.shape[b]) {
            if p != q {
                return Err(Error::invalid(format!(
                    "the contracted axes differ: {} (axis {a}) and {} (axis {b})",
                    format_shape(&x.shape),
                    format_shape(&y.shape)
                )));
            }
        }
        Ok((a, b))
    }
}

/// `x` as `[batch, rows, k]` with the contracted axis `axis` last.
fn as_left(x: &ArrayD<f32>, axis: usize) -> Result<Array3<f32>> {
    let mut order: Vec<usize> = (0..x.ndim()).filter(|&i| i != axis).collect();
    order.push(axis);
    let p = x
        .view()
        .permuted_axes(IxDyn(&order))
        .as_standard_layout()
        .into_owned();
    let (b, k) = (x.shape()[0], x.shape()[axis]);
    let rows = x.len() / (b * k).max(1);
    p.into_shape_with_order((b, rows, k))
        .map_err(|e| Error::invalid(format!("internal: {e}")))
}

/// `y` as `[batch, k, cols]` with the contracted axis `axis` first after the batch.
fn as_right(y: &ArrayD<f32>, axis: usize) -> Result<Array3<f32>> {
    let mut order = vec![0, axis];
    order.extend((1..y.ndim()).filter(|&i| i != axis));
    let p = y
        .view()
        .permuted_axes(IxDyn(&order))
        .as_standard_layout()
        .into_owned();
    let (b, k) = (y.shape()[0], y.shape()[axis]);
    let cols = y.len() / (b * k).max(1);
    p.into_shape_with_order((b, k, cols))
        .map_err(|e| Error::invalid(format!("internal: {e}")))
}

/// Undoes [`as_left`]: `[batch, rows, k]` back to `shape` with `k` at `axis`.
fn from_left(m: Array3<f32>, shape: &[usize], axis: usize) -> Result<ArrayD<f32>> {
    let mut permuted: Vec<usize> = (0..shape.len())
        .filter(|&i| i != axis)
        .map(|i| shape[i])
        .collect();
    permuted.push(shape[axis]);
    let a = m
        .into_shape_with_order(IxDyn(&permuted))
        .map_err(|e| Error::invalid(format!("internal: {e}")))?;
    let mut order: Vec<usize> = (0..shape.len()).filter(|&i| i != axis).collect();
    order.push(axis);
    let mut inverse = vec![0; order.len()];
    for (i, &o) in order.iter().enumerate() {
        inverse[o] = i;
    }
    Ok(a.permuted_axes(IxDyn(&inverse))
        .as_standard_layout()
        .into_owned())
}

/// Undoes [`as_right`].
fn from_right(m: Array3<f32>, shape: &[usize], axis: usize) -> Result<ArrayD<f32>> {
    let mut order = vec![0, axis];
    order.extend((1..shape.len()).filter(|&i| i != axis));
    let permuted: Vec<usize> = order.iter().map(|&i| shape[i]).collect();
    let a = m
        .into_shape_with_order(IxDyn(&permuted))
        .map_err(|e| Error::invalid(format!("internal: {e}")))?;
    let mut inverse = vec![0; order.len()];
    for (i, &o) in order.iter().enumerate() {
        inverse[o] = i;
    }
    Ok(a.permuted_axes(IxDyn(&inverse))
        .as_standard_layout()
        .into_owned())
}

/// The output shape: `x`'s other axes, then `y`'s (at least one axis after the batch).
fn out_shape<T: Copy>(x: &[T], a: usize, y: &[T], b: usize, one: T) -> Vec<T> {
    let mut s = vec![x[0]];
    s.extend((1..x.len()).filter(|&i| i != a).map(|i| x[i]));
    s.extend((1..y.len()).filter(|&i| i != b).map(|i| y[i]));
    if s.len() == 1 {
        s.push(one);
    }
    s
}

fn batched(l: &Array3<f32>, r: &Array3<f32>) -> Array3<f32> {
    let (b, rows, _) = l.dim();
    let cols = r.dim().2;
    let mut out = Array3::<f32>::zeros((b, rows, cols));
    for i in 0..b {
        out.index_axis_mut(Axis(0), i)
            .assign(&l.index_axis(Axis(0), i).dot(&r.index_axis(Axis(0), i)));
    }
    out
}

impl Layer for DotLayer {
    class_and_config!();

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        let (a, b) = self.check(inputs)?;
        let shape = out_shape(&inputs[0].shape, a, &inputs[1].shape, b, Some(1));
        Ok(vec![TensorSpec::f32(shape)])
    }

    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        let (x, y) = (inputs.f32(0)?, inputs.f32(1)?);
        let (a, b) = self.axes(x.ndim(), y.ndim())?;
        let (x, y) = if self.config.normalize {
            (
                x * &inverse_norms(x, &[a], EPSILON),
                y * &inverse_norms(y, &[b], EPSILON),
            )
        } else {
            (x.clone(), y.clone())
        };
        let out = batched(&as_left(&x, a)?, &as_right(&y, b)?);
        let shape = out_shape(x.shape(), a, y.shape(), b, 1);
        Ok(vec![Value::F32(
            out.into_shape_with_order(IxDyn(&shape))
                .map_err(|e| Error::invalid(format!("internal: {e}")))?,
        )])
    }

    fn has_backward(&self) -> bool {
        true
    }

    fn backward(&self, call: &BackwardCall<'_>) -> Result<LayerGrads> {
        let Some(g) = call.value_grad(0)? else {
            return Ok(LayerGrads::inputs(vec![None, None]));
        };
        let (x0, y0) = (call.inputs.f32(0)?, call.inputs.f32(1)?);
        let (a, b) = self.axes(x0.ndim(), y0.ndim())?;
        let (x, y) = if self.config.normalize {
            (
                x0 * &inverse_norms(x0, &[a], EPSILON),
                y0 * &inverse_norms(y0, &[b], EPSILON),
            )
        } else {
            (x0.clone(), y0.clone())
        };
        let (l, r) = (as_left(&x, a)?, as_right(&y, b)?);
        let (bsz, rows, _) = l.dim();
        let cols = r.dim().2;
        let g3 = g
            .as_standard_layout()
            .into_owned()
            .into_shape_with_order((bsz, rows, cols))
            .map_err(|e| Error::invalid(format!("internal: {e}")))?;
        let mut dl = Array3::<f32>::zeros(l.raw_dim());
        let mut dr = Array3::<f32>::zeros(r.raw_dim());
        for i in 0..bsz {
            let gi = g3.index_axis(Axis(0), i);
            dl.index_axis_mut(Axis(0), i)
                .assign(&gi.dot(&r.index_axis(Axis(0), i).t()));
            dr.index_axis_mut(Axis(0), i)
                .assign(&l.index_axis(Axis(0), i).t().dot(&gi));
        }
        let mut dx = from_left(dl, x.shape(), a)?;
        let mut dy = from_right(dr, y.shape(), b)?;
        if self.config.normalize {
            dx = normalize_backward(x0, &dx, &[a], EPSILON)?;
            dy = normalize_backward(y0, &dy, &[b], EPSILON)?;
        }
        Ok(LayerGrads::inputs(vec![Some(dx), Some(dy)]))
    }
}
