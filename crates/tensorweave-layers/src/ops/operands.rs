//! What the element-wise ops share: operands that are tensors or constants
//! (`x * 2.0`, `1.0 - x`, `where(c, x, 0.0)`), NumPy broadcasting of their
//! shapes, the result dtype, and the reduction of a broadcast gradient back
//! to an operand's shape.

use ndarray::{ArrayD, Axis, IxDyn};
use serde_json::Value as Json;
use tensorweave_core::registry::brief;
use tensorweave_core::{
    format_dims, format_shape, CallArg, DType, Error, Result, Shape, TensorSpec, Value,
};

use super::broadcast_symbolic;

/// One operand of an element-wise op: the next input tensor, or a number.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Operand {
    /// The next input tensor.
    Tensor,
    /// A constant; `int` when Keras recorded an integer (`x ** 2`), which
    /// keeps an integer tensor's dtype.
    Scalar {
        /// The value.
        value: f64,
        /// Whether it was written as an integer.
        int: bool,
    },
}

impl Operand {
    /// A float constant.
    pub fn float(value: f64) -> Self {
        Operand::Scalar { value, int: false }
    }

    /// The operand as Keras records it in a call.
    pub fn to_call_arg(self) -> CallArg {
        match self {
            Operand::Tensor => CallArg::Tensor,
            Operand::Scalar { value, int: true } => CallArg::Constant(Json::from(value as i64)),
            Operand::Scalar { value, int: false } => CallArg::Constant(
                serde_json::Number::from_f64(value).map_or(Json::Null, Json::Number),
            ),
        }
    }
}

/// The operands of a call from its recorded arguments (`n` of them); every
/// constant must be a number (or a bool).
pub(crate) fn operands_from_args(args: &[CallArg], n: usize, class: &str) -> Result<Vec<Operand>> {
    if args.len() != n {
        return Err(Error::invalid(format!(
            "{class} takes {n} operands, got {}",
            args.len()
        )));
    }
    args.iter()
        .map(|a| match a {
            CallArg::Tensor => Ok(Operand::Tensor),
            CallArg::Constant(Json::Bool(b)) => Ok(Operand::Scalar {
                value: f64::from(u8::from(*b)),
                int: true,
            }),
            CallArg::Constant(Json::Number(v)) => Ok(Operand::Scalar {
                value: v.as_f64().unwrap_or(f64::NAN),
                int: v.is_i64() || v.is_u64(),
            }),
            CallArg::Constant(other) => Err(Error::invalid(format!(
                "{class} takes tensors and numbers, got the constant {}",
                brief(other)
            ))),
        })
        .collect()
}

/// The call arguments of operands, or none when every operand is a tensor.
pub(crate) fn call_args_of(operands: &[Operand]) -> Vec<CallArg> {
    if operands.iter().all(|o| *o == Operand::Tensor) {
        Vec::new()
    } else {
        operands.iter().map(|o| o.to_call_arg()).collect()
    }
}

/// The number of tensor operands.
pub(crate) fn tensor_count(operands: &[Operand]) -> usize {
    operands.iter().filter(|o| **o == Operand::Tensor).count()
}

/// Each operand's spec (`None` for a constant), checking the tensor count.
pub(crate) fn operand_specs<'a>(
    operands: &[Operand],
    inputs: &'a [TensorSpec],
) -> Result<Vec<Option<&'a TensorSpec>>> {
    let want = tensor_count(operands);
    if inputs.len() != want {
        return Err(Error::invalid(format!(
            "expects {want} input tensor(s), got {}",
            inputs.len()
        )));
    }
    if let Some(s) = inputs.iter().find(|s| s.dtype == DType::String) {
        return Err(Error::invalid(format!(
            "does not take string tensors (got a string tensor of shape {}); \
             turn text into numbers first (TextVectorization, StringLookup or Hashing)",
            format_shape(&s.shape)
        )));
    }
    let mut next = inputs.iter();
    Ok(operands
        .iter()
        .map(|o| match o {
            Operand::Tensor => next.next(),
            Operand::Scalar { .. } => None,
        })
        .collect())
}

/// Each operand's value (`None` for a constant).
pub(crate) fn operand_values<'a>(
    operands: &[Operand],
    inputs: &[&'a Value],
) -> Result<Vec<Option<&'a Value>>> {
    let want = tensor_count(operands);
    if inputs.len() != want {
        return Err(Error::invalid(format!(
            "expects {want} input array(s), got {}",
            inputs.len()
        )));
    }
    let mut next = inputs.iter();
    Ok(operands
        .iter()
        .map(|o| match o {
            Operand::Tensor => next.next().copied(),
            Operand::Scalar { .. } => None,
        })
        .collect())
}

/// The broadcast shape of the tensor operands (a scalar has shape `[]`).
pub(crate) fn broadcast_specs(specs: &[Option<&TensorSpec>]) -> Result<Shape> {
    let mut shape = Shape::new(Vec::new());
    for s in specs.iter().flatten() {
        shape = broadcast_symbolic(&shape, &s.shape)?;
    }
    Ok(shape)
}

/// Whether an arithmetic result is integer: every tensor operand integer or
/// bool, every constant an integer (Keras' weak typing of Python numbers).
pub(crate) fn integer_result(operands: &[Operand], dtypes: &[Option<DType>]) -> bool {
    operands.iter().zip(dtypes).all(|(o, d)| match (o, d) {
        (Operand::Scalar { int, .. }, _) => *int,
        (Operand::Tensor, Some(d)) => *d != DType::F32,
        (Operand::Tensor, None) => false,
    })
}

/// The operand as a float32 array (a constant as a 0-d array).
pub(crate) fn as_f32(operand: &Operand, value: Option<&Value>) -> ArrayD<f32> {
    match (operand, value) {
        (Operand::Scalar { value, .. }, _) => ArrayD::from_elem(IxDyn(&[]), *value as f32),
        (Operand::Tensor, Some(v)) => v.to_f32(),
        (Operand::Tensor, None) => ArrayD::from_elem(IxDyn(&[]), f32::NAN),
    }
}

/// The operand as an int64 array (a constant as a 0-d array).
pub(crate) fn as_i64(operand: &Operand, value: Option<&Value>) -> ArrayD<i64> {
    match (operand, value) {
        (Operand::Scalar { value, .. }, _) => ArrayD::from_elem(IxDyn(&[]), *value as i64),
        (Operand::Tensor, Some(Value::I32(a))) => a.mapv(i64::from),
        (Operand::Tensor, Some(Value::Bool(a))) => a.mapv(i64::from),
        (Operand::Tensor, Some(Value::F32(a))) => a.mapv(|v| v as i64),
        // Refused when the op is built (`operand_specs`).
        (Operand::Tensor, Some(Value::Str(a))) => a.mapv(|_| 0),
        (Operand::Tensor, None) => ArrayD::from_elem(IxDyn(&[]), 0),
    }
}

/// `g` (of the broadcast shape) summed back to `shape` (NumPy broadcasting:
/// leading axes added, size-1 axes stretched).
pub fn reduce_to_shape(mut g: ArrayD<f32>, shape: &[usize]) -> Result<ArrayD<f32>> {
    while g.ndim() > shape.len() {
        g = g.sum_axis(Axis(0));
    }
    for (axis, &d) in shape.iter().enumerate() {
        if d == 1 && g.shape()[axis] != 1 {
            g = g.sum_axis(Axis(axis)).insert_axis(Axis(axis));
        }
    }
    if g.shape() != shape {
        return Err(Error::invalid(format!(
            "internal: a gradient of shape {} does not reduce to the operand's shape {}",
            format_dims(g.shape()),
            format_dims(shape)
        )));
    }
    Ok(g)
}

/// Broadcasts arrays to one shape (NumPy rules).
pub(crate) fn broadcast_all<A>(
    arrays: &[ArrayD<A>],
) -> Result<(Vec<usize>, Vec<ndarray::ArrayViewD<'_, A>>)> {
    let mut shape: Vec<usize> = Vec::new();
    for a in arrays {
        shape = crate::array_ops::broadcast_shape(&shape, a.shape())?;
    }
    let views = arrays
        .iter()
        .map(|a| {
            a.broadcast(IxDyn(&shape)).ok_or_else(|| {
                Error::invalid(format!(
                    "an array of shape {} does not broadcast to {}",
                    format_dims(a.shape()),
                    format_dims(&shape)
                ))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((shape, views))
}

/// A number option of an op config (`default` when absent or null).
pub(crate) fn config_f64(
    class: &str,
    config: &Json,
    key: &str,
    default: Option<f64>,
) -> Result<f64> {
    match (config.get(key).filter(|v| !v.is_null()), default) {
        (Some(v), _) => v.as_f64().ok_or_else(|| {
            Error::layer(
                config.get("name").and_then(Json::as_str).unwrap_or("?"),
                class,
                format!("option `{key}` = {} must be a number", brief(v)),
            )
        }),
        (None, Some(d)) => Ok(d),
        (None, None) => Err(Error::layer(
            config.get("name").and_then(Json::as_str).unwrap_or("?"),
            class,
            format!("option `{key}` is missing"),
        )),
    }
}

/// Axes of an op config: null (all), an integer, or a list of integers.
pub(crate) fn config_axes(class: &str, config: &Json, key: &str) -> Result<Option<Vec<i64>>> {
    let bad = |v: &Json| {
        Error::layer(
            config.get("name").and_then(Json::as_str).unwrap_or("?"),
            class,
            format!(
                "option `{key}` = {} must be null, an integer or a list of integers",
                brief(v)
            ),
        )
    };
    match config.get(key) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::Number(n)) => n
            .as_i64()
            .map(|a| Some(vec![a]))
            .ok_or_else(|| bad(&Json::Number(n.clone()))),
        Some(Json::Array(items)) => items
            .iter()
            .map(|i| i.as_i64().ok_or_else(|| bad(i)))
            .collect::<Result<Vec<_>>>()
            .map(Some),
        Some(other) => Err(bad(other)),
    }
}

/// Resolves possibly negative axes for rank `rank`, sorted, without repeats.
pub(crate) fn resolve_axes(axes: &[i64], rank: usize) -> Result<Vec<usize>> {
    let mut out = Vec::with_capacity(axes.len());
    for &a in axes {
        let r = crate::array_ops::resolve_axis(a, rank)
            .ok_or_else(|| Error::invalid(format!("axis {a} is out of range for rank {rank}")))?;
        if out.contains(&r) {
            return Err(Error::invalid(format!("axis {a} is given twice")));
        }
        out.push(r);
    }
    out.sort_unstable();
    Ok(out)
}
