//! `Take` and `TakeAlongAxis` (Keras' `ops.take`, `ops.take_along_axis`):
//! gathers along an axis by indices that are a tensor or constants;
//! negative indices count from the end, as in Keras' TensorFlow backend.

use ndarray::{ArrayD, Axis, IxDyn};
use serde_json::{json, Value as Json};
use tensorweave_core::registry::brief;
use tensorweave_core::{
    format_dims, BackwardCall, CallArg, CallContext, DType, Error, Inputs, Layer, LayerGrads,
    Result, TensorSpec, Value,
};

use crate::array_ops::resolve_axis;
use crate::registry::OpClass;

/// Constant indices: their shape and values.
#[derive(Debug, Clone, PartialEq)]
struct ConstIndices {
    shape: Vec<usize>,
    values: Vec<i64>,
}

impl ConstIndices {
    fn from_json(v: &Json) -> Result<ConstIndices> {
        fn walk(v: &Json, depth: usize, shape: &mut Vec<usize>, out: &mut Vec<i64>) -> Result<()> {
            match v {
                Json::Number(n) => {
                    if depth != shape.len() {
                        return Err(Error::invalid("ragged index lists are not supported"));
                    }
                    out.push(
                        n.as_i64().ok_or_else(|| {
                            Error::invalid(format!("index {n} is not an integer"))
                        })?,
                    );
                    Ok(())
                }
                Json::Array(items) => {
                    if shape.len() == depth {
                        shape.push(items.len());
                    } else if shape.get(depth) != Some(&items.len()) {
                        return Err(Error::invalid("ragged index lists are not supported"));
                    }
                    items
                        .iter()
                        .try_for_each(|i| walk(i, depth + 1, shape, out))
                }
                other => Err(Error::invalid(format!(
                    "indices must be integers or lists of them, got {}",
                    brief(other)
                ))),
            }
        }
        let (mut shape, mut values) = (Vec::new(), Vec::new());
        walk(v, 0, &mut shape, &mut values)?;
        Ok(ConstIndices { shape, values })
    }

    fn to_json(&self) -> Json {
        fn build(shape: &[usize], values: &[i64]) -> Json {
            match shape.split_first() {
                None => json!(values.first().copied().unwrap_or(0)),
                Some((&n, rest)) => {
                    let step: usize = rest.iter().product();
                    Json::Array(
                        (0..n)
                            .map(|i| build(rest, &values[i * step..(i + 1) * step]))
                            .collect(),
                    )
                }
            }
        }
        build(&self.shape, &self.values)
    }
}

/// Indices into an axis of size `n`, negative ones from the end.
fn resolve_indices(values: impl Iterator<Item = i64>, n: usize) -> Result<Vec<usize>> {
    values
        .map(|i| {
            let j = if i < 0 { i + n as i64 } else { i };
            if j < 0 || j >= n as i64 {
                Err(Error::invalid(format!(
                    "index {i} is out of range for an axis of size {n}"
                )))
            } else {
                Ok(j as usize)
            }
        })
        .collect()
}

fn index_values(v: &Value) -> Result<Vec<i64>> {
    match v {
        Value::I32(a) => Ok(a.iter().map(|&i| i64::from(i)).collect()),
        other => Err(Error::invalid(format!(
            "indices must be integers, got {:?} data",
            other.dtype()
        ))),
    }
}

/// `ops.take(x, indices, axis)`: `x`'s slices at `indices` along `axis`, the
/// indices' shape replacing that axis (`axis` `None`: of `x` flattened).
#[derive(Debug, Clone, PartialEq)]
pub struct TakeOp {
    axis: Option<i64>,
    constant: Option<ConstIndices>,
    name: Option<String>,
}

super::named_op!(TakeOp, |_: &TakeOp| "Take");

impl TakeOp {
    /// Takes along `axis` by an index tensor (the op's second input).
    pub fn new(axis: Option<i64>) -> Self {
        TakeOp {
            axis,
            constant: None,
            name: None,
        }
    }

    /// Takes along `axis` at constant `indices`.
    pub fn constant(axis: Option<i64>, indices: &[i64]) -> Self {
        TakeOp {
            axis,
            constant: Some(ConstIndices {
                shape: vec![indices.len()],
                values: indices.to_vec(),
            }),
            name: None,
        }
    }

    fn resolved(&self, rank: usize) -> Result<Option<usize>> {
        match self.axis {
            None => Ok(None),
            Some(a) => resolve_axis(a, rank)
                .map(Some)
                .ok_or_else(|| Error::invalid(format!("axis {a} is out of range for rank {rank}"))),
        }
    }

    /// The indices, their shape, and `x` as the op sees it (flattened
    /// without an axis).
    fn gather_parts<'a>(&self, inputs: &[&'a Value]) -> Result<(&'a Value, Vec<i64>, Vec<usize>)> {
        match (&self.constant, inputs) {
            (Some(c), [x]) => Ok((x, c.values.clone(), c.shape.clone())),
            (None, [x, idx]) => Ok((x, index_values(idx)?, idx.shape().to_vec())),
            _ => Err(Error::invalid(format!(
                "expects {} input array(s), got {}",
                if self.constant.is_some() { 1 } else { 2 },
                inputs.len()
            ))),
        }
    }
}

fn take<A: Clone>(
    a: &ArrayD<A>,
    axis: usize,
    idx: &[usize],
    idx_shape: &[usize],
) -> Result<ArrayD<A>> {
    let picked = a.select(Axis(axis), idx);
    let mut shape: Vec<usize> = a.shape()[..axis].to_vec();
    shape.extend_from_slice(idx_shape);
    shape.extend_from_slice(&a.shape()[axis + 1..]);
    picked
        .as_standard_layout()
        .into_owned()
        .into_shape_with_order(IxDyn(&shape))
        .map_err(|e| Error::invalid(format!("internal: take shape: {e}")))
}

fn flat<A: Clone>(a: &ArrayD<A>) -> ArrayD<A> {
    ArrayD::from_shape_vec(IxDyn(&[a.len()]), a.iter().cloned().collect())
        .unwrap_or_else(|_| a.clone())
}

impl OpClass for TakeOp {
    const CLASS_NAME: &'static str = "Take";

    fn read(config: &Json) -> Result<Self> {
        let axis = match config.get("axis") {
            None | Some(Json::Null) => None,
            Some(v) => Some(v.as_i64().ok_or_else(|| {
                Error::layer(
                    config.get("name").and_then(Json::as_str).unwrap_or("?"),
                    Self::CLASS_NAME,
                    format!("option `axis` = {} must be an integer or null", brief(v)),
                )
            })?),
        };
        Ok(TakeOp::new(axis))
    }
}

impl Layer for TakeOp {
    fn is_op(&self) -> bool {
        true
    }

    fn class_name(&self) -> &str {
        Self::CLASS_NAME
    }

    fn config(&self) -> Json {
        json!({ "axis": self.axis })
    }

    fn call_args(&self) -> Vec<CallArg> {
        match &self.constant {
            Some(c) => vec![CallArg::Tensor, CallArg::Constant(c.to_json())],
            None => Vec::new(),
        }
    }

    fn set_call_args(&mut self, args: &[CallArg]) -> Result<()> {
        match args {
            [CallArg::Tensor, CallArg::Constant(v)] => {
                self.constant = Some(ConstIndices::from_json(v)?);
                Ok(())
            }
            [CallArg::Tensor, CallArg::Tensor] => {
                self.constant = None;
                Ok(())
            }
            _ => Err(Error::invalid("Take takes a tensor and indices")),
        }
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        let (x, idx_shape): (&TensorSpec, Vec<Option<usize>>) = match (&self.constant, inputs) {
            (Some(c), [x]) => (x, c.shape.iter().map(|&d| Some(d)).collect()),
            (None, [x, idx]) => {
                if idx.dtype != DType::I32 {
                    return Err(Error::invalid(format!(
                        "indices must be integers, got a {:?} tensor",
                        idx.dtype
                    )));
                }
                (x, idx.shape.to_vec())
            }
            _ => {
                return Err(Error::invalid(format!(
                    "expects {} input tensor(s), got {}",
                    if self.constant.is_some() { 1 } else { 2 },
                    inputs.len()
                )))
            }
        };
        let shape: Vec<Option<usize>> = match self.resolved(x.rank())? {
            None => idx_shape,
            Some(axis) => {
                let mut s = x.shape[..axis].to_vec();
                s.extend(idx_shape);
                s.extend_from_slice(&x.shape[axis + 1..]);
                s
            }
        };
        Ok(vec![TensorSpec::new(shape, x.dtype)])
    }

    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        let (x, values, idx_shape) = self.gather_parts(inputs.values())?;
        let axis = self.resolved(x.shape().len())?;
        macro_rules! go {
            ($a:expr) => {{
                let a = match axis {
                    Some(_) => $a.clone(),
                    None => flat($a),
                };
                let ax = axis.unwrap_or(0);
                let idx = resolve_indices(values.iter().copied(), a.shape()[ax])?;
                take(&a, ax, &idx, &idx_shape)?
            }};
        }
        Ok(vec![match x {
            Value::F32(a) => Value::F32(go!(a)),
            Value::I32(a) => Value::I32(go!(a)),
            Value::Bool(a) => Value::Bool(go!(a)),
            Value::Str(a) => Value::Str(go!(a)),
        }])
    }

    fn has_backward(&self) -> bool {
        true
    }

    /// The gradient summed into the taken positions.
    fn backward(&self, call: &BackwardCall<'_>) -> Result<LayerGrads> {
        let n = call.inputs.len();
        let (x, values, _) = self.gather_parts(call.inputs.values())?;
        let (Some(g), Value::F32(xa)) = (call.value_grad(0)?, x) else {
            return Ok(LayerGrads::inputs(vec![None; n]));
        };
        let axis = self.resolved(xa.ndim())?;
        let ax = axis.unwrap_or(0);
        let work_shape: Vec<usize> = match axis {
            Some(_) => xa.shape().to_vec(),
            None => vec![xa.len()],
        };
        let idx = resolve_indices(values.iter().copied(), work_shape[ax])?;
        // g: x.shape[..ax] + idx.shape + x.shape[ax+1..] -> one axis of idx.len().
        let mut flat_shape = work_shape[..ax].to_vec();
        flat_shape.push(idx.len());
        flat_shape.extend_from_slice(&work_shape[ax + 1..]);
        let g = g
            .as_standard_layout()
            .into_owned()
            .into_shape_with_order(IxDyn(&flat_shape))
            .map_err(|e| Error::invalid(format!("internal: take gradient shape: {e}")))?;
        let mut out = ArrayD::<f32>::zeros(IxDyn(&work_shape));
        for (j, &pos) in idx.iter().enumerate() {
            let mut dst = out.index_axis_mut(Axis(ax), pos);
            dst += &g.index_axis(Axis(ax), j);
        }
        let out = out
            .into_shape_with_order(xa.raw_dim())
            .map_err(|e| Error::invalid(format!("internal: take gradient shape: {e}")))?;
        let mut grads = vec![Some(out)];
        grads.resize(n, None);
        Ok(LayerGrads::inputs(grads))
    }
}

/// `ops.take_along_axis(x, indices, axis)`: for every position of `indices`,
/// the element of `x` at that index along `axis`; the other axes broadcast.
#[derive(Debug, Clone, PartialEq)]
pub struct TakeAlongAxisOp {
    axis: i64,
    name: Option<String>,
}

super::named_op!(TakeAlongAxisOp, |_: &TakeAlongAxisOp| "TakeAlongAxis");

impl TakeAlongAxisOp {
    /// Takes along `axis` (negative counts from the end).
    pub fn new(axis: i64) -> Self {
        TakeAlongAxisOp { axis, name: None }
    }

    /// The broadcast shapes of `x` and of the indices (the axis kept apart).
    fn shapes(&self, x: &[usize], idx: &[usize]) -> Result<(usize, Vec<usize>, Vec<usize>)> {
        if x.len() != idx.len() {
            return Err(Error::invalid(format!(
                "x and indices must have the same rank, got shapes {} and {}",
                format_dims(x),
                format_dims(idx)
            )));
        }
        let axis = resolve_axis(self.axis, x.len()).ok_or_else(|| {
            Error::invalid(format!(
                "axis {} is out of range for rank {}",
                self.axis,
                x.len()
            ))
        })?;
        let mut xs = x.to_vec();
        let mut is = idx.to_vec();
        for i in 0..x.len() {
            if i == axis {
                continue;
            }
            let d = match (x[i], idx[i]) {
                (a, b) if a == b => a,
                (1, b) => b,
                (a, 1) => a,
                _ => {
                    return Err(Error::invalid(format!(
                        "shapes {} and {} do not broadcast (axis {axis} aside)",
                        format_dims(x),
                        format_dims(idx)
                    )))
                }
            };
            xs[i] = d;
            is[i] = d;
        }
        Ok((axis, xs, is))
    }
}

impl OpClass for TakeAlongAxisOp {
    const CLASS_NAME: &'static str = "TakeAlongAxis";

    fn read(config: &Json) -> Result<Self> {
        Ok(TakeAlongAxisOp::new(super::op_int(
            Self::CLASS_NAME,
            config,
            "axis",
            None,
        )?))
    }
}

impl Layer for TakeAlongAxisOp {
    fn is_op(&self) -> bool {
        true
    }

    fn class_name(&self) -> &str {
        Self::CLASS_NAME
    }

    fn config(&self) -> Json {
        json!({ "axis": self.axis })
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        let [x, idx] = inputs else {
            return Err(Error::invalid(format!(
                "expects 2 input tensors, got {}",
                inputs.len()
            )));
        };
        if x.rank() != idx.rank() {
            return Err(Error::invalid(format!(
                "x and indices must have the same rank, got {} and {}",
                x.rank(),
                idx.rank()
            )));
        }
        let axis = resolve_axis(self.axis, x.rank()).ok_or_else(|| {
            Error::invalid(format!(
                "axis {} is out of range for rank {}",
                self.axis,
                x.rank()
            ))
        })?;
        let shape: Vec<Option<usize>> = (0..x.rank())
            .map(|i| {
                if i == axis {
                    idx.shape[i]
                } else {
                    match (x.shape[i], idx.shape[i]) {
                        (Some(1), b) => b,
                        (a, Some(1)) => a,
                        (a, b) => a.or(b),
                    }
                }
            })
            .collect();
        Ok(vec![TensorSpec::new(shape, x.dtype)])
    }

    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        let [x, idx] = inputs.values() else {
            return Err(Error::invalid("expects 2 input arrays"));
        };
        let idx = idx.as_i32()?;
        let (axis, xs, is) = self.shapes(x.shape(), idx.shape())?;
        let n = x.shape()[axis];
        let idx = idx
            .broadcast(IxDyn(&is))
            .ok_or_else(|| Error::invalid("indices do not broadcast"))?;
        macro_rules! go {
            ($a:expr) => {{
                let a = $a
                    .broadcast(IxDyn(&xs))
                    .ok_or_else(|| Error::invalid("x does not broadcast"))?;
                let mut out = Vec::with_capacity(idx.len());
                for (pos, &i) in idx.indexed_iter() {
                    let j = resolve_indices(std::iter::once(i64::from(i)), n)?[0];
                    let mut at = ndarray::Dimension::slice(&pos).to_vec();
                    at[axis] = j;
                    out.push(a[IxDyn(&at)].clone());
                }
                ArrayD::from_shape_vec(IxDyn(&is), out)
                    .map_err(|e| Error::invalid(format!("internal: {e}")))?
            }};
        }
        Ok(vec![match x {
            Value::F32(a) => Value::F32(go!(a)),
            Value::I32(a) => Value::I32(go!(a)),
            Value::Bool(a) => Value::Bool(go!(a)),
            Value::Str(a) => Value::Str(go!(a)),
        }])
    }

    fn has_backward(&self) -> bool {
        true
    }

    fn backward(&self, call: &BackwardCall<'_>) -> Result<LayerGrads> {
        let [x, idx] = call.inputs.values() else {
            return Err(Error::invalid("expects 2 input arrays"));
        };
        let (Some(g), Value::F32(xa)) = (call.value_grad(0)?, x) else {
            return Ok(LayerGrads::inputs(vec![None, None]));
        };
        let idx = idx.as_i32()?;
        let (axis, xs, is) = self.shapes(xa.shape(), idx.shape())?;
        let n = xa.shape()[axis];
        let idx = idx
            .broadcast(IxDyn(&is))
            .ok_or_else(|| Error::invalid("indices do not broadcast"))?;
        let mut wide = ArrayD::<f32>::zeros(IxDyn(&xs));
        for ((pos, &i), &gv) in idx.indexed_iter().zip(g.iter()) {
            let j = resolve_indices(std::iter::once(i64::from(i)), n)?[0];
            let mut at = ndarray::Dimension::slice(&pos).to_vec();
            at[axis] = j;
            wide[IxDyn(&at)] += gv;
        }
        let grad = super::operands::reduce_to_shape(wide, xa.shape())?;
        Ok(LayerGrads::inputs(vec![Some(grad), None]))
    }
}
