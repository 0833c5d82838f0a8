//! `Matmul` (Keras' `ops.matmul`, the `@` operator): NumPy's matrix product,
//! batched over the leading axes with broadcasting.

use ndarray::{linalg::general_mat_mul, Array2, ArrayD, ArrayView2, IxDyn};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};
use tensorweave_core::{
    format_dims, format_shape, BackwardCall, CallContext, DType, Error, Inputs, Layer, LayerGrads,
    Result, TensorSpec, Value,
};

use super::operands::reduce_to_shape;
use super::{broadcast_symbolic, op_basics, op_into_layer};
use crate::registry::OpClass;

/// The matrix product of the last two axes, batched over the others
/// (Keras' `ops.matmul`; a rank-1 operand is a row or a column vector).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MatmulOp {
    #[serde(skip)]
    name: Option<String>,
}

impl MatmulOp {
    /// The product.
    pub fn new() -> Self {
        MatmulOp::default()
    }
}

op_into_layer!(MatmulOp);

impl OpClass for MatmulOp {
    const CLASS_NAME: &'static str = "Matmul";

    fn read(_config: &Json) -> Result<Self> {
        Ok(MatmulOp::new())
    }
}

/// The operands as batched matrices: a vector `a` is `[1, k]`, a vector `b`
/// is `[k, 1]` (those axes are dropped from the result).
fn as_matrices(a: &[usize], b: &[usize]) -> (Vec<usize>, Vec<usize>) {
    let a = if a.len() == 1 {
        vec![1, a[0]]
    } else {
        a.to_vec()
    };
    let b = if b.len() == 1 {
        vec![b[0], 1]
    } else {
        b.to_vec()
    };
    (a, b)
}

/// The batch shape, and `(n, k, m)`.
fn plan(a: &[usize], b: &[usize]) -> Result<(Vec<usize>, (usize, usize, usize))> {
    let (am, bm) = as_matrices(a, b);
    let (n, k) = (am[am.len() - 2], am[am.len() - 1]);
    let (k2, m) = (bm[bm.len() - 2], bm[bm.len() - 1]);
    if k != k2 {
        return Err(Error::invalid(format!(
            "matmul of shapes {} and {}: the inner sizes {k} and {k2} differ",
            format_dims(a),
            format_dims(b)
        )));
    }
    let batch = crate::array_ops::broadcast_shape(&am[..am.len() - 2], &bm[..bm.len() - 2])?;
    Ok((batch, (n, k, m)))
}

/// The result's shape (vector axes dropped).
fn result_shape(a_rank: usize, b_rank: usize, batch: &[usize], n: usize, m: usize) -> Vec<usize> {
    let mut s = batch.to_vec();
    if a_rank > 1 {
        s.push(n);
    }
    if b_rank > 1 {
        s.push(m);
    }
    s
}

/// An operand as a stack of matrices `[count, rows, cols]` with its own
/// batch shape (left-padded with 1s to `rank`).
struct Stack {
    data: ndarray::Array3<f32>,
    batch: Vec<usize>,
}

impl Stack {
    fn new(x: &ArrayD<f32>, mat: &[usize], rank: usize) -> Result<Stack> {
        let (lead, m) = mat.split_at(mat.len() - 2);
        let mut batch = vec![1; rank - lead.len()];
        batch.extend_from_slice(lead);
        let count: usize = lead.iter().product();
        let data = x
            .as_standard_layout()
            .into_owned()
            .into_shape_with_order((count, m[0], m[1]))
            .map_err(|e| Error::invalid(format!("internal: matmul operand: {e}")))?;
        Ok(Stack { data, batch })
    }

    /// The matrix for the broadcast batch position `index` (row-major over `shape`).
    fn at(&self, mut index: usize, shape: &[usize]) -> ArrayView2<'_, f32> {
        let mut flat = 0;
        let mut stride = 1;
        for (d, &own) in shape.iter().zip(&self.batch).rev() {
            let i = index % d;
            index /= d;
            if own != 1 {
                flat += i * stride;
            }
            stride *= own;
        }
        self.data.index_axis(ndarray::Axis(0), flat)
    }
}

/// `f(a[t], b[t])` for every position `t` of the broadcast batch.
fn batched(
    a: &ArrayD<f32>,
    b: &ArrayD<f32>,
    f: impl Fn(ArrayView2<'_, f32>, ArrayView2<'_, f32>) -> Array2<f32>,
) -> Result<(Vec<usize>, Vec<Array2<f32>>)> {
    let (batch, _) = plan(a.shape(), b.shape())?;
    let (am, bm) = as_matrices(a.shape(), b.shape());
    let (sa, sb) = (
        Stack::new(a, &am, batch.len())?,
        Stack::new(b, &bm, batch.len())?,
    );
    let count: usize = batch.iter().product();
    let out = (0..count)
        .map(|t| f(sa.at(t, &batch), sb.at(t, &batch)))
        .collect();
    Ok((batch, out))
}

fn product(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f32> {
    let mut c = Array2::zeros((a.nrows(), b.ncols()));
    general_mat_mul(1.0, &a, &b, 0.0, &mut c);
    c
}

/// Stacks per-batch matrices into `shape`.
fn assemble(parts: Vec<Array2<f32>>, shape: &[usize]) -> Result<ArrayD<f32>> {
    let data: Vec<f32> = parts.iter().flat_map(|m| m.iter().copied()).collect();
    ArrayD::from_shape_vec(IxDyn(shape), data)
        .map_err(|e| Error::invalid(format!("internal: matmul result: {e}")))
}

impl Layer for MatmulOp {
    op_basics!();

    fn config(&self) -> Json {
        json!({})
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        super::numeric(inputs)?;
        let [a, b] = inputs else {
            return Err(Error::invalid(format!(
                "expects 2 input tensors, got {}",
                inputs.len()
            )));
        };
        if a.rank() == 0 || b.rank() == 0 {
            return Err(Error::invalid("matmul does not take scalars"));
        }
        if a.dtype != DType::F32 || b.dtype != DType::F32 {
            return Err(Error::invalid(
                "matmul takes float32 tensors; cast them first",
            ));
        }
        let pad = |s: &[Option<usize>], vector_first: bool| -> Vec<Option<usize>> {
            match (s.len(), vector_first) {
                (1, true) => vec![Some(1), s[0]],
                (1, false) => vec![s[0], Some(1)],
                _ => s.to_vec(),
            }
        };
        let (am, bm) = (pad(&a.shape, true), pad(&b.shape, false));
        let (k, k2) = (am[am.len() - 1], bm[bm.len() - 2]);
        if let (Some(k), Some(k2)) = (k, k2) {
            if k != k2 {
                return Err(Error::invalid(format!(
                    "matmul of shapes {} and {}: the inner sizes {k} and {k2} differ",
                    format_shape(&a.shape),
                    format_shape(&b.shape)
                )));
            }
        }
        let mut shape = broadcast_symbolic(&am[..am.len() - 2], &bm[..bm.len() - 2])?.into_vec();
        if a.rank() > 1 {
            shape.push(am[am.len() - 2]);
        }
        if b.rank() > 1 {
            shape.push(bm[bm.len() - 1]);
        }
        Ok(vec![TensorSpec::new(shape, DType::F32)])
    }

    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        let (a, b) = (inputs.f32(0)?, inputs.f32(1)?);
        let (batch, parts) = batched(a, b, product)?;
        let (_, (n, _, m)) = plan(a.shape(), b.shape())?;
        let shape = result_shape(a.ndim(), b.ndim(), &batch, n, m);
        Ok(vec![Value::F32(assemble(parts, &shape)?)])
    }

    fn has_backward(&self) -> bool {
        true
    }

    /// `da = g·bᵀ`, `db = aᵀ·g`, summed over broadcast batch axes.
    fn backward(&self, call: &BackwardCall<'_>) -> Result<LayerGrads> {
        let Some(g) = call.value_grad(0)? else {
            return Ok(LayerGrads::inputs(vec![None, None]));
        };
        let (a, b) = (call.inputs.f32(0)?, call.inputs.f32(1)?);
        let (batch, (n, k, m)) = plan(a.shape(), b.shape())?;
        let mut gm = batch.clone();
        gm.extend([n, m]);
        let g = g
            .as_standard_layout()
            .into_owned()
            .into_shape_with_order(IxDyn(&gm))
            .map_err(|e| Error::invalid(format!("internal: matmul gradient: {e}")))?;
        let (am, bm) = as_matrices(a.shape(), b.shape());
        let (sa, sb) = (
            Stack::new(a, &am, batch.len())?,
            Stack::new(b, &bm, batch.len())?,
        );
        let sg = Stack::new(&g, &gm, batch.len())?;
        let count: usize = batch.iter().product();
        let da: Vec<Array2<f32>> = (0..count)
            .map(|t| product(sg.at(t, &batch), sb.at(t, &batch).t()))
            .collect();
        let db: Vec<Array2<f32>> = (0..count)
            .map(|t| product(sa.at(t, &batch).t(), sg.at(t, &batch)))
            .collect();
        let with = |last: [usize; 2]| {
            let mut s = batch.clone();
            s.extend(last);
            s
        };
        let da = reduce_to_shape(assemble(da, &with([n, k]))?, &am)?;
        let db = reduce_to_shape(assemble(db, &with([k, m]))?, &bm)?;
        let back = |g: ArrayD<f32>, shape: &[usize]| {
            g.into_shape_with_order(IxDyn(shape))
                .map_err(|e| Error::invalid(format!("internal: matmul gradient: {e}")))
        };
        Ok(LayerGrads::inputs(vec![
            Some(back(da, a.shape())?),
            Some(back(db, b.shape())?),
        ]))
    }
}
