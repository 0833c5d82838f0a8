//! Small helpers shared by layer implementations: spec checks and last-axis matmul.

use ndarray::{ArrayD, ArrayView2, Ix2, IxDyn};
use tensorweave_core::{format_shape, DType, Error, Result, TensorSpec};

/// Checks that a layer got exactly `n` inputs.
pub fn expect_inputs(inputs: &[TensorSpec], n: usize) -> Result<()> {
    if inputs.len() != n {
        return Err(Error::invalid(format!(
            "expects {n} input tensor(s), got {}",
            inputs.len()
        )));
    }
    Ok(())
}

/// Checks the rank of an input spec.
pub fn expect_rank(spec: &TensorSpec, rank: usize, what: &str) -> Result<()> {
    if spec.rank() != rank {
        return Err(Error::invalid(format!(
            "expects {what} of rank {rank}, got shape {} (rank {})",
            format_shape(&spec.shape),
            spec.rank()
        )));
    }
    Ok(())
}

/// Checks that an input is float32.
pub fn expect_float(spec: &TensorSpec) -> Result<()> {
    if spec.dtype != DType::F32 {
        return Err(Error::invalid(format!(
            "expects float32 input, got {}",
            spec.dtype
        )));
    }
    Ok(())
}

/// The known size of the last axis, or an error naming it.
pub fn known_last_dim(spec: &TensorSpec) -> Result<usize> {
    spec.last_dim().ok_or_else(|| {
        Error::invalid(format!(
            "the last axis of the input must be known, got shape {}",
            format_shape(&spec.shape)
        ))
    })
}

/// Checks that a weight loaded or built for the layer still fits the input's last axis.
pub fn expect_last_dim(spec: &TensorSpec, expected: usize) -> Result<()> {
    match spec.last_dim() {
        Some(d) if d != expected => Err(Error::invalid(format!(
            "expects inputs with last axis {expected} (its weights were built for it), got shape {}",
            format_shape(&spec.shape)
        ))),
        _ => Ok(()),
    }
}

/// `x @ w (+ b)` over the last axis: `[..., k] @ [k, m]` gives `[..., m]`.
pub fn matmul_last(
    x: &ArrayD<f32>,
    w: ArrayView2<'_, f32>,
    bias: Option<&ArrayD<f32>>,
) -> Result<ArrayD<f32>> {
    let k = x.shape().last().copied().unwrap_or(0);
    if k != w.nrows() {
        return Err(Error::invalid(format!(
            "input last axis {k} does not match the kernel's {} rows (input shape {:?})",
            w.nrows(),
            x.shape()
        )));
    }
    let m = w.ncols();
    let n = x.len().checked_div(k).unwrap_or(0);
    // Borrowed when the input is already contiguous (the usual case): no copy.
    let contiguous = x.as_standard_layout();
    let rows = contiguous
        .view()
        .into_shape_with_order((n, k))
        .map_err(|e| {
            Error::invalid(format!(
                "cannot view input {:?} as [{n}, {k}]: {e}",
                x.shape()
            ))
        })?;
    let mut out = rows.dot(&w);
    if let Some(b) = bias {
        let b = b
            .view()
            .into_shape_with_order(m)
            .map_err(|e| Error::invalid(format!("bias shape: {e}")))?;
        out += &b;
    }
    let mut shape = x.shape().to_vec();
    if let Some(last) = shape.last_mut() {
        *last = m;
    }
    out.into_shape_with_order(IxDyn(&shape))
        .map_err(|e| Error::invalid(format!("reshape failed: {e}")))
}

/// Views a weight array as a matrix, or explains its shape.
pub fn matrix_view<'a>(w: &'a ArrayD<f32>, what: &str) -> Result<ArrayView2<'a, f32>> {
    w.view().into_dimensionality::<Ix2>().map_err(|_| {
        Error::invalid(format!(
            "{what} must be a matrix, has shape {:?}",
            w.shape()
        ))
    })
}
