//! Array helpers shared by the merge layers and the ops: NumPy broadcasting,
//! `where`, concatenation along an axis, negative axes.

use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn};
use tensorweave_core::format_dims;
use tensorweave_core::{Error, Result};

/// The shape two concrete shapes broadcast to (NumPy rules), or an error naming both.
pub fn broadcast_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let rank = a.len().max(b.len());
    let pad = |s: &[usize]| {
        let mut v = vec![1; rank - s.len()];
        v.extend_from_slice(s);
        v
    };
    let (pa, pb) = (pad(a), pad(b));
    pa.iter()
        .zip(&pb)
        .map(|(&x, &y)| match (x, y) {
            _ if x == y => Ok(x),
            (1, _) => Ok(y),
            (_, 1) => Ok(x),
            _ => Err(Error::invalid(format!(
                "arrays of shapes {} and {} do not broadcast together",
                format_dims(a),
                format_dims(b)
            ))),
        })
        .collect()
}

/// `x` viewed as `shape` (broadcasting), or an error naming both shapes.
pub fn broadcast_view<'a, A>(
    x: &'a ArrayViewD<'_, A>,
    shape: &[usize],
) -> Result<ArrayViewD<'a, A>> {
    x.broadcast(IxDyn(shape)).ok_or_else(|| {
        Error::invalid(format!(
            "an array of shape {} does not broadcast to {}",
            format_dims(x.shape()),
            format_dims(shape)
        ))
    })
}

/// Applies `f` element-wise to two broadcast arrays.
pub fn zip2<A: Copy, B: Copy, C>(
    a: ArrayViewD<'_, A>,
    b: ArrayViewD<'_, B>,
    f: impl Fn(A, B) -> C,
) -> Result<ArrayD<C>> {
    let shape = broadcast_shape(a.shape(), b.shape())?;
    let (a, b) = (broadcast_view(&a, &shape)?, broadcast_view(&b, &shape)?);
    Ok(ndarray::Zip::from(&a).and(&b).map_collect(|&x, &y| f(x, y)))
}

/// `where(cond, a, b)` with broadcasting (Keras' `ops.where`).
pub fn select(
    cond: ArrayViewD<'_, bool>,
    a: ArrayViewD<'_, f32>,
    b: ArrayViewD<'_, f32>,
) -> Result<ArrayD<f32>> {
    let shape = broadcast_shape(&broadcast_shape(cond.shape(), a.shape())?, b.shape())?;
    let (c, a, b) = (
        broadcast_view(&cond, &shape)?,
        broadcast_view(&a, &shape)?,
        broadcast_view(&b, &shape)?,
    );
    Ok(ndarray::Zip::from(&c)
        .and(&a)
        .and(&b)
        .map_collect(|&c, &x, &y| if c { x } else { y }))
}

/// Concatenates arrays along `axis` (negative counts from the end), or explains
/// which shapes do not fit.
pub fn concat<A: Clone>(views: &[ArrayViewD<'_, A>], axis: i64) -> Result<ArrayD<A>> {
    let rank = views.first().map_or(0, |v| v.ndim());
    let a = resolve_axis(axis, rank)
        .ok_or_else(|| Error::invalid(format!("axis {axis} is out of range for rank {rank}")))?;
    ndarray::concatenate(Axis(a), views).map_err(|_| {
        let shapes: Vec<String> = views.iter().map(|v| format_dims(v.shape())).collect();
        Error::invalid(format!(
            "cannot concatenate arrays of shapes [{}] along axis {axis}: every other axis must agree",
            shapes.join(", ")
        ))
    })
}

/// The gradient of a concatenation along `axis`: each input's slice of `gy`
/// (`None` for integer or bool inputs).
pub fn split_along(
    gy: &ArrayD<f32>,
    axis: i64,
    inputs: &[&tensorweave_core::Value],
) -> Result<Vec<Option<ArrayD<f32>>>> {
    let a = resolve_axis(axis, gy.ndim()).ok_or_else(|| {
        Error::invalid(format!(
            "axis {axis} is out of range for rank {}",
            gy.ndim()
        ))
    })?;
    let mut start = 0;
    let mut grads = Vec::with_capacity(inputs.len());
    for v in inputs {
        let len = v.shape().get(a).copied().unwrap_or(0);
        let part = gy
            .slice_axis(Axis(a), (start..start + len).into())
            .to_owned();
        grads.push((v.dtype() == tensorweave_core::DType::F32).then_some(part));
        start += len;
    }
    Ok(grads)
}

/// Resolves a possibly negative axis for a tensor of rank `rank`.
pub fn resolve_axis(axis: i64, rank: usize) -> Option<usize> {
    let a = if axis < 0 { rank as i64 + axis } else { axis };
    (0..rank as i64).contains(&a).then_some(a as usize)
}
