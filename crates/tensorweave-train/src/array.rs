//! NumPy-style broadcasting and the shape adjustments Keras makes before combining
//! two tensors (`squeeze_or_expand_to_same_rank`).

use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn};
use tensorweave_core::Result;

use crate::util::{input_err, shape_str};

/// The broadcast of two shapes under NumPy's rules, or `None` if they do not broadcast.
pub(crate) fn broadcast_shape(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for (i, slot) in out.iter_mut().enumerate() {
        let da = if i + a.len() >= rank {
            a[i + a.len() - rank]
        } else {
            1
        };
        let db = if i + b.len() >= rank {
            b[i + b.len() - rank]
        } else {
            1
        };
        *slot = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return None,
        };
    }
    Some(out)
}

/// `a` broadcast to `shape` (copied), or an error naming `what`.
pub(crate) fn broadcast_to<T: Clone>(
    a: ArrayViewD<'_, T>,
    shape: &[usize],
    what: &str,
) -> Result<ArrayD<T>> {
    match a.broadcast(IxDyn(shape)) {
        Some(v) => Ok(v.to_owned()),
        None => Err(input_err(format!(
            "{what}: shape {} cannot be broadcast to {}, as Keras (TensorFlow) also refuses; give arrays of matching shapes",
            shape_str(a.shape()),
            shape_str(shape)
        ))),
    }
}

/// `a` and `b` broadcast against each other under NumPy's rules (copied), or an error naming
/// `what` and both shapes.
pub(crate) fn broadcast_both<A: Clone, B: Clone>(
    a: ArrayViewD<'_, A>,
    b: ArrayViewD<'_, B>,
    what: &str,
) -> Result<(ArrayD<A>, ArrayD<B>)> {
    let shape = broadcast_shape(a.shape(), b.shape()).ok_or_else(|| {
        input_err(format!(
            "{what}: incompatible shapes {} and {} (Keras fails here too: 'Incompatible shapes'); give arrays whose shapes broadcast",
            shape_str(a.shape()),
            shape_str(b.shape())
        ))
    })?;
    Ok((
        broadcast_to(a, &shape, what)?,
        broadcast_to(b, &shape, what)?,
    ))
}

/// Element-wise `a * b` with broadcasting; the error names `what`.
pub(crate) fn mul_broadcast(
    a: ArrayViewD<'_, f32>,
    b: ArrayViewD<'_, f32>,
    what: &str,
) -> Result<ArrayD<f32>> {
    let (a, b) = broadcast_both(a, b, what)?;
    Ok(a * b)
}

/// Sums `a` down to `shape` (the reverse of broadcasting), for gradients.
pub(crate) fn sum_to_shape(a: ArrayD<f32>, shape: &[usize]) -> ArrayD<f32> {
    let mut a = a;
    while a.ndim() > shape.len() {
        a = a.sum_axis(Axis(0));
    }
    for (i, &d) in shape.iter().enumerate() {
        if d == 1 && a.shape()[i] != 1 {
            a = a.sum_axis(Axis(i)).insert_axis(Axis(i));
        }
    }
    a
}

/// How Keras' `squeeze_or_expand_to_same_rank(x1, x2)` changes one operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RankChange {
    /// Left as it is.
    None,
    /// Its last axis (of size 1) was removed.
    SqueezedLast,
    /// An axis of size 1 was appended.
    ExpandedLast,
}

/// Keras' `squeeze_or_expand_to_same_rank`: the rank changes it applies to `x1` and `x2`.
pub(crate) fn squeeze_or_expand(
    x1: &[usize],
    x2: &[usize],
    expand_rank_1: bool,
) -> (RankChange, RankChange) {
    let (r1, r2) = (x1.len(), x2.len());
    let mut c1 = RankChange::None;
    let mut c2 = RankChange::None;
    if r1 == r2 {
        return (c1, c2);
    }
    if r1 == r2 + 1 && x1.last() == Some(&1) {
        if r2 == 1 && expand_rank_1 {
            c2 = RankChange::ExpandedLast;
        } else {
            c1 = RankChange::SqueezedLast;
        }
    }
    if r2 == r1 + 1 && x2.last() == Some(&1) {
        if r1 == 1 && expand_rank_1 {
            c1 = RankChange::ExpandedLast;
        } else {
            c2 = RankChange::SqueezedLast;
        }
    }
    (c1, c2)
}

/// Applies a [`RankChange`] to an array.
pub(crate) fn apply_change<T: Clone>(a: ArrayD<T>, change: RankChange) -> ArrayD<T> {
    match change {
        RankChange::None => a,
        RankChange::SqueezedLast => {
            let last = a.ndim() - 1;
            a.index_axis_move(Axis(last), 0)
        }
        RankChange::ExpandedLast => {
            let rank = a.ndim();
            a.insert_axis(Axis(rank))
        }
    }
}

/// The shape after a [`RankChange`].
pub(crate) fn changed_shape(shape: &[usize], change: RankChange) -> Vec<usize> {
    let mut s = shape.to_vec();
    match change {
        RankChange::None => {}
        RankChange::SqueezedLast => {
            s.pop();
        }
        RankChange::ExpandedLast => s.push(1),
    }
    s
}

/// Resolves a possibly negative Keras axis against a rank.
pub(crate) fn resolve_axis(axis: i64, rank: usize, what: &str) -> Result<usize> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if a < 0 || a >= r {
        return Err(input_err(format!(
            "{what}: axis {axis} is out of range for an array of rank {rank}; use an axis in [-{rank}, {})",
            rank
        )));
    }
    Ok(a as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting_follows_numpy() {
        assert_eq!(broadcast_shape(&[4, 1], &[3]), Some(vec![4, 3]));
        assert_eq!(broadcast_shape(&[3], &[3, 5]), None);
        assert_eq!(broadcast_shape(&[], &[2, 2]), Some(vec![2, 2]));
    }

    #[test]
    fn squeeze_or_expand_matches_keras() {
        use RankChange::*;
        assert_eq!(squeeze_or_expand(&[4], &[4, 1], true), (ExpandedLast, None));
        assert_eq!(
            squeeze_or_expand(&[4, 5], &[4, 5, 1], true),
            (None, SqueezedLast)
        );
        assert_eq!(squeeze_or_expand(&[4, 1], &[4], true), (None, ExpandedLast));
        assert_eq!(squeeze_or_expand(&[4], &[4, 3], true), (None, None));
        assert_eq!(
            squeeze_or_expand(&[4, 1], &[4], false),
            (SqueezedLast, None)
        );
    }

    #[test]
    fn sum_to_shape_undoes_broadcast() {
        let a = ArrayD::from_elem(IxDyn(&[2, 3]), 1.0f32);
        let s = sum_to_shape(a, &[2, 1]);
        assert_eq!(s.shape(), &[2, 1]);
        assert_eq!(s[[0, 0]], 3.0);
        let b = ArrayD::from_elem(IxDyn(&[2, 3]), 1.0f32);
        assert_eq!(sum_to_shape(b, &[3]).shape(), &[3]);
    }
}
