//! Small helpers shared by layer implementations: spec checks and last-axis matmul.

use ndarray::{Array2, ArrayD, ArrayView1, ArrayView2, Ix2, IxDyn};
use tensorweave_core::format_dims;
use tensorweave_core::{format_shape, DType, Error, Result, TensorSpec};
use tensorweave_kernels::{matmul_views, KernelError, Mat};

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

/// Checks that a layer got exactly one input and that it has a batch axis; returns it.
pub fn single_batched_input(inputs: &[TensorSpec]) -> Result<&TensorSpec> {
    expect_inputs(inputs, 1)?;
    let x = &inputs[0];
    if x.rank() == 0 {
        return Err(Error::invalid(
            "expects inputs with a batch axis, got a scalar",
        ));
    }
    Ok(x)
}

/// The number of entries of the known `dims` (`None` if one is unknown), or an
/// error when the product overflows (a hostile configuration).
pub fn known_size(dims: &[Option<usize>]) -> Result<Option<usize>> {
    let mut size = 1usize;
    for d in dims {
        let Some(d) = d else { return Ok(None) };
        size = size.checked_mul(*d).ok_or_else(|| {
            Error::invalid(format!(
                "the axes {} hold more entries than fit in memory",
                format_shape(dims)
            ))
        })?;
    }
    Ok(Some(size))
}

/// The regularizers a layer's config names, by weight: `(weight, Keras'
/// serialized regularizer)` for each one that is set (`Layer::weight_regularizers`).
pub fn regularizers(
    pairs: &[(&str, &Option<serde_json::Value>)],
) -> Vec<(String, serde_json::Value)> {
    pairs
        .iter()
        .filter_map(|(w, r)| r.as_ref().map(|r| (w.to_string(), r.clone())))
        .collect()
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
            "input last axis {k} does not match the kernel's {} rows (input shape {})",
            w.nrows(),
            format_dims(x.shape())
        )));
    }
    let m = w.ncols();
    let n: usize = x
        .shape()
        .split_last()
        .map_or(1, |(_, lead)| lead.iter().product());
    // Borrowed when the input is already contiguous (the usual case): no copy.
    let contiguous = x.as_standard_layout();
    let rows = contiguous
        .view()
        .into_shape_with_order((n, k))
        .map_err(|e| {
            Error::invalid(format!(
                "cannot view input {} as [{n}, {k}]: {e}",
                format_dims(x.shape())
            ))
        })?;
    let bias = match bias {
        Some(b) => Some(b.view().into_shape_with_order(m).map_err(|_| {
            Error::invalid(format!(
                "the bias must have shape [{m}], has {}",
                format_dims(b.shape())
            ))
        })?),
        None => None,
    };
    let out = matmul_2d(rows, w, bias)?;
    let mut shape = x.shape().to_vec();
    if let Some(last) = shape.last_mut() {
        *last = m;
    }
    out.into_shape_with_order(IxDyn(&shape))
        .map_err(|e| Error::invalid(format!("reshape failed: {e}")))
}

/// `x` as a `[rows, last]` matrix over its last axis (a copy only when `x` is
/// not in standard layout).
pub fn rows_of(x: &ArrayD<f32>) -> Result<Array2<f32>> {
    let k = x.shape().last().copied().unwrap_or(1);
    let n = x.len() / k.max(1);
    x.as_standard_layout()
        .into_owned()
        .into_shape_with_order((n, k))
        .map_err(|e| {
            Error::invalid(format!(
                "cannot view {} as [{n}, {k}]: {e}",
                format_dims(x.shape())
            ))
        })
}

/// The backward of `z = x @ w (+ b)` over the last axis: given `gz`, the
/// gradients `(gx, gw, gb)` (`gb` the sum of `gz` over every leading axis).
pub fn matmul_last_backward(
    x: &ArrayD<f32>,
    w: ArrayView2<'_, f32>,
    gz: &ArrayD<f32>,
) -> Result<(ArrayD<f32>, Array2<f32>, ndarray::Array1<f32>)> {
    let x2 = rows_of(x)?;
    let g2 = rows_of(gz)?;
    if x2.nrows() != g2.nrows() || g2.ncols() != w.ncols() || x2.ncols() != w.nrows() {
        return Err(Error::invalid(format!(
            "internal: backward of a product of {} by [{}, {}] got a gradient of {}",
            format_dims(x.shape()),
            w.nrows(),
            w.ncols(),
            format_dims(gz.shape())
        )));
    }
    let gw = matmul_2d(x2.t(), g2.view(), None)?;
    let gb = g2.sum_axis(ndarray::Axis(0));
    let gx = matmul_2d(g2.view(), w.t(), None)?;
    let gx = gx
        .into_shape_with_order(IxDyn(x.shape()))
        .map_err(|e| Error::invalid(format!("internal: reshape failed: {e}")))?;
    Ok((gx, gw, gb))
}

/// Views a weight array as a matrix, or explains its shape.
pub fn matrix_view<'a>(w: &'a ArrayD<f32>, what: &str) -> Result<ArrayView2<'a, f32>> {
    w.view().into_dimensionality::<Ix2>().map_err(|_| {
        Error::invalid(format!(
            "{what} must be a matrix, has shape {}",
            format_dims(w.shape())
        ))
    })
}

/// A kernel's size error, as a layer error (the framework names the layer).
pub(crate) fn internal(e: KernelError) -> Error {
    Error::invalid(e.to_string())
}

/// A row-major view of `a` for the GEMM kernel, borrowing when its rows are
/// contiguous (any row stride), copying otherwise.
fn row_major<'a>(a: &'a ArrayView2<'_, f32>, copy: &'a mut Vec<f32>) -> Mat<'a> {
    let (rows, cols) = a.dim();
    let strides = a.strides();
    if let Some(data) = contiguous_rows(a) {
        let stride = if rows > 1 { strides[0] as usize } else { cols };
        return Mat {
            data,
            rows,
            cols,
            stride,
        };
    }
    *copy = a.iter().copied().collect();
    Mat::dense(copy, rows, cols)
}

/// The elements of `a` from its first to its last, when each row is
/// contiguous and rows follow each other at a non-negative stride.
fn contiguous_rows<'a>(a: &'a ArrayView2<'_, f32>) -> Option<&'a [f32]> {
    let (rows, cols) = a.dim();
    let s = a.strides();
    if rows == 0 || cols == 0 {
        return Some(&[]);
    }
    if (cols > 1 && s[1] != 1) || (rows > 1 && (s[0] < cols as isize)) {
        return None;
    }
    let len = (rows - 1) * (if rows > 1 { s[0] as usize } else { 0 }) + cols;
    // SAFETY: the view addresses `len` elements from its first one (rows at a
    // stride of at least `cols`, unit column stride), all inside its array.
    Some(unsafe { std::slice::from_raw_parts(a.as_ptr(), len) })
}

/// `a·b (+ bias)` through the kernels' GEMM: `[m, k]·[k, n]` gives `[m, n]`.
pub fn matmul_2d(
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    bias: Option<ArrayView1<'_, f32>>,
) -> Result<Array2<f32>> {
    let ((m, k), (k2, n)) = (a.dim(), b.dim());
    if k != k2 {
        return Err(Error::invalid(format!(
            "internal: matrix product of [{m}, {k}] by [{k2}, {n}]"
        )));
    }
    let (mut a_copy, mut b_copy) = (Vec::new(), Vec::new());
    let (a_mat, b_mat) = (row_major(&a, &mut a_copy), row_major(&b, &mut b_copy));
    let mut out = match bias {
        Some(bias) if bias.len() == n => Array2::from_shape_fn((m, n), |(_, j)| bias[j]),
        Some(bias) => {
            return Err(Error::invalid(format!(
                "the bias has {} values for {n} outputs",
                bias.len()
            )))
        }
        None => Array2::zeros((m, n)),
    };
    let accumulate = bias.is_some();
    let data = out
        .as_slice_mut()
        .ok_or_else(|| Error::invalid("internal: product output is not contiguous"))?;
    matmul_views(a_mat, b_mat, data, n, accumulate).map_err(internal)?;
    Ok(out)
}
