//! Keras' `keras.ops` on symbolic tensors, as functions: each records the
//! op node Keras records (`ops::add(&x, &y)` is `x + y`, `ops::multiply(2.0,
//! &x)` is `2.0 * x`), so the model saves and loads as Keras' own. Numbers
//! and tensors mix freely as operands; shapes broadcast as NumPy's.
//!
//! ```
//! use tensorweave_layers::prelude::*;
//! use tensorweave_layers::ops::functions as ops;
//!
//! # fn main() -> tensorweave_core::Result<()> {
//! let inputs = Input::new([Some(8), Some(3)]).build();
//! let x = LayerNormalization::new().epsilon(1e-6).call(&inputs)?;
//! let res = ops::add(&x, &inputs)?;                  // the residual `x + inputs`
//! let last = ops::get_item(&res, &[Index::ALL, Index::At(-1)])?; // res[:, -1]
//! let scaled = ops::multiply(0.5, &ops::tanh(&last)?)?;
//! let model = Model::new(&[inputs], &[ops::sum(&scaled, Some(&[-1]), true)?])?;
//! assert_eq!(model.outputs()[0].spec().shape, [None, Some(1)]);
//! # Ok(())
//! # }
//! ```

use tensorweave_core::{DType, IntoLayer, Result, Tensor};

use super::{
    AnyOp, Binary, BinaryOp, ConcatenateOp, EinsumOp, ExpandDims, GetItem, Index, LogicalOr,
    MatmulOp, NotEqual, Operand, Reduce, ReduceOp, RepeatOp, ReshapeOp, SqueezeOp, StackOp,
    TakeAlongAxisOp, TakeOp, TransposeOp, Unary, UnaryOp, WhereOp,
};

/// An operand of an element-wise op: a tensor or a number.
pub trait IntoOperand {
    /// The operand and, for a tensor, the tensor.
    fn into_operand(self) -> (Operand, Option<Tensor>);
}

impl IntoOperand for &Tensor {
    fn into_operand(self) -> (Operand, Option<Tensor>) {
        (Operand::Tensor, Some(self.clone()))
    }
}

impl IntoOperand for f64 {
    fn into_operand(self) -> (Operand, Option<Tensor>) {
        (Operand::float(self), None)
    }
}

impl IntoOperand for f32 {
    fn into_operand(self) -> (Operand, Option<Tensor>) {
        (Operand::float(f64::from(self)), None)
    }
}

impl IntoOperand for i32 {
    /// An integer (keeps an integer tensor's dtype, as a Python `int`).
    fn into_operand(self) -> (Operand, Option<Tensor>) {
        (
            Operand::Scalar {
                value: f64::from(self),
                int: true,
            },
            None,
        )
    }
}

/// Records `op` on the tensor operands.
fn record(layer: tensorweave_core::LayerRef, tensors: &[Tensor]) -> Result<Tensor> {
    let refs: Vec<&Tensor> = tensors.iter().collect();
    match refs.as_slice() {
        [one] => layer.call(one),
        many => layer.call_many(many),
    }
}

fn binary(kind: Binary, a: impl IntoOperand, b: impl IntoOperand) -> Result<Tensor> {
    let (oa, ta) = a.into_operand();
    let (ob, tb) = b.into_operand();
    let tensors: Vec<Tensor> = ta.into_iter().chain(tb).collect();
    if tensors.is_empty() {
        return Err(tensorweave_core::Error::Config(format!(
            "{}: at least one operand must be a tensor",
            kind.class_name()
        )));
    }
    record(BinaryOp::with_operands(kind, oa, ob).into_layer(), &tensors)
}

macro_rules! binary_fns {
    ($($(#[$doc:meta])* $f:ident => $kind:ident),* $(,)?) => {
        $(
            $(#[$doc])*
            pub fn $f(a: impl IntoOperand, b: impl IntoOperand) -> Result<Tensor> {
                binary(Binary::$kind, a, b)
            }
        )*
    };
}

binary_fns! {
    /// `a + b` (Keras' `Add` op).
    add => Add,
    /// `a - b`.
    subtract => Subtract,
    /// `a * b`.
    multiply => Multiply,
    /// `ops.divide(a, b)`: a float quotient.
    divide => Divide,
    /// `a / b`: a float quotient (`TrueDivide`).
    true_divide => TrueDivide,
    /// `a // b`.
    floor_divide => FloorDivide,
    /// `a % b` (the sign of `b`).
    modulo => Mod,
    /// `a ** b`.
    power => Power,
    /// The element-wise maximum (NaN if either is NaN).
    maximum => Maximum,
    /// The element-wise minimum (NaN if either is NaN).
    minimum => Minimum,
    /// `a > b`, a bool tensor.
    greater => Greater,
    /// `a >= b`, a bool tensor.
    greater_equal => GreaterEqual,
    /// `a < b`, a bool tensor.
    less => Less,
    /// `a <= b`, a bool tensor.
    less_equal => LessEqual,
    /// `ops.equal(a, b)`, a bool tensor.
    equal => Equal,
    /// The logical and of the truth values.
    logical_and => LogicalAnd,
    /// The logical exclusive or of the truth values.
    logical_xor => LogicalXor,
}

/// `ops.not_equal(x, value)`, a bool tensor.
pub fn not_equal_value(x: &Tensor, value: f64) -> Result<Tensor> {
    NotEqual::new(value).call(x)
}

/// `ops.not_equal(a, b)` on two tensors, a bool tensor.
pub fn not_equal(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    NotEqual::new(0.0).call_many(&[a, b])
}

/// The logical or of two tensors' truth values.
pub fn logical_or(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    LogicalOr::new().call_many(&[a, b])
}

fn unary(kind: Unary, x: &Tensor) -> Result<Tensor> {
    UnaryOp::new(kind).call(x)
}

macro_rules! unary_fns {
    ($($(#[$doc:meta])* $f:ident => $kind:expr),* $(,)?) => {
        $(
            $(#[$doc])*
            pub fn $f(x: &Tensor) -> Result<Tensor> {
                unary($kind, x)
            }
        )*
    };
}

unary_fns! {
    /// `ops.abs`.
    abs => Unary::Absolute,
    /// `-x`.
    negative => Unary::Negative,
    /// `ops.exp`.
    exp => Unary::Exp,
    /// `ops.expm1`.
    expm1 => Unary::Expm1,
    /// `ops.log`.
    log => Unary::Log,
    /// `ops.log1p`.
    log1p => Unary::Log1p,
    /// `ops.sqrt`.
    sqrt => Unary::Sqrt,
    /// `ops.rsqrt`.
    rsqrt => Unary::Rsqrt,
    /// `ops.square`.
    square => Unary::Square,
    /// `ops.sign`.
    sign => Unary::Sign,
    /// `ops.floor`.
    floor => Unary::Floor,
    /// `ops.ceil`.
    ceil => Unary::Ceil,
    /// `ops.sin`.
    sin => Unary::Sin,
    /// `ops.cos`.
    cos => Unary::Cos,
    /// `ops.tanh`.
    tanh => Unary::Tanh,
    /// `ops.sigmoid`.
    sigmoid => Unary::Sigmoid,
    /// `ops.relu`.
    relu => Unary::Relu,
    /// `ops.relu6`.
    relu6 => Unary::Relu6,
    /// `ops.softplus`.
    softplus => Unary::Softplus,
    /// `ops.softsign`.
    softsign => Unary::Softsign,
    /// `ops.silu`.
    silu => Unary::Silu,
    /// `ops.selu`.
    selu => Unary::Selu,
    /// `ops.hard_sigmoid`.
    hard_sigmoid => Unary::HardSigmoid,
    /// `ops.logical_not`.
    logical_not => Unary::LogicalNot,
}

/// `ops.round(x, decimals)`, halves to even.
pub fn round(x: &Tensor, decimals: i32) -> Result<Tensor> {
    unary(Unary::Round { decimals }, x)
}

/// `ops.gelu(x, approximate)` (Keras' default for the op: `approximate=True`).
pub fn gelu(x: &Tensor, approximate: bool) -> Result<Tensor> {
    unary(Unary::Gelu { approximate }, x)
}

/// `ops.elu(x, alpha)`.
pub fn elu(x: &Tensor, alpha: f32) -> Result<Tensor> {
    unary(Unary::Elu { alpha }, x)
}

/// `ops.leaky_relu(x, negative_slope)` (Keras' default slope: 0.2).
pub fn leaky_relu(x: &Tensor, negative_slope: f32) -> Result<Tensor> {
    unary(Unary::LeakyRelu { negative_slope }, x)
}

/// `ops.softmax(x, axis)`.
pub fn softmax(x: &Tensor, axis: i64) -> Result<Tensor> {
    unary(Unary::Softmax { axis }, x)
}

/// `ops.log_softmax(x, axis)`.
pub fn log_softmax(x: &Tensor, axis: i64) -> Result<Tensor> {
    unary(Unary::LogSoftmax { axis }, x)
}

/// `ops.clip(x, min, max)`.
pub fn clip(x: &Tensor, min: f32, max: f32) -> Result<Tensor> {
    unary(Unary::Clip { min, max }, x)
}

/// `ops.cast(x, dtype)`.
pub fn cast(x: &Tensor, dtype: DType) -> Result<Tensor> {
    unary(Unary::Cast { dtype }, x)
}

fn reduce(kind: Reduce, x: &Tensor, axes: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
    ReduceOp::new(kind, axes.map(<[i64]>::to_vec), keepdims).call(x)
}

macro_rules! reduce_fns {
    ($($(#[$doc:meta])* $f:ident => $kind:ident),* $(,)?) => {
        $(
            $(#[$doc])*
            pub fn $f(x: &Tensor, axes: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
                reduce(Reduce::$kind, x, axes, keepdims)
            }
        )*
    };
}

reduce_fns! {
    /// `ops.sum(x, axis, keepdims)`; `None` reduces every axis, the batch's too.
    sum => Sum,
    /// `ops.mean(x, axis, keepdims)`.
    mean => Mean,
    /// `ops.max(x, axis, keepdims)`.
    max => Max,
    /// `ops.min(x, axis, keepdims)`.
    min => Min,
    /// `ops.prod(x, axis, keepdims)`.
    prod => Prod,
    /// `ops.logsumexp(x, axis, keepdims)`.
    logsumexp => Logsumexp,
}

/// `ops.argmax(x, axis, keepdims)`, int32 (`None`: of `x` flattened).
pub fn argmax(x: &Tensor, axis: Option<i64>, keepdims: bool) -> Result<Tensor> {
    ReduceOp::new(Reduce::Argmax, axis.map(|a| vec![a]), keepdims).call(x)
}

/// `ops.argmin(x, axis, keepdims)`, int32 (`None`: of `x` flattened).
pub fn argmin(x: &Tensor, axis: Option<i64>, keepdims: bool) -> Result<Tensor> {
    ReduceOp::new(Reduce::Argmin, axis.map(|a| vec![a]), keepdims).call(x)
}

/// `ops.any(x, axis)` of a bool tensor.
pub fn any(x: &Tensor, axis: i64) -> Result<Tensor> {
    AnyOp::new(axis).call(x)
}

/// `ops.reshape(x, shape)`: the batch axis included; one entry may be `-1`.
pub fn reshape(x: &Tensor, shape: &[i64]) -> Result<Tensor> {
    ReshapeOp::new(shape.to_vec()).call(x)
}

/// `ops.transpose(x, axes)` (`None`: all axes reversed).
pub fn transpose(x: &Tensor, axes: Option<&[i64]>) -> Result<Tensor> {
    TransposeOp::new(axes.map(<[i64]>::to_vec)).call(x)
}

/// `ops.expand_dims(x, axis)`.
pub fn expand_dims(x: &Tensor, axis: i64) -> Result<Tensor> {
    ExpandDims::new(axis).call(x)
}

/// `ops.squeeze(x, axis)` (`None`: every axis of size 1).
pub fn squeeze(x: &Tensor, axes: Option<&[i64]>) -> Result<Tensor> {
    SqueezeOp::new(axes.map(<[i64]>::to_vec)).call(x)
}

/// `ops.concatenate(xs, axis)`.
pub fn concatenate(xs: &[&Tensor], axis: i64) -> Result<Tensor> {
    ConcatenateOp::new(axis).call_many(xs)
}

/// `ops.stack(xs, axis)`.
pub fn stack(xs: &[&Tensor], axis: i64) -> Result<Tensor> {
    StackOp::new(axis).call_many(xs)
}

/// `ops.repeat(x, repeats, axis)`.
pub fn repeat(x: &Tensor, repeats: usize, axis: i64) -> Result<Tensor> {
    RepeatOp::new(repeats, axis).call(x)
}

/// `x[key]` (NumPy basic indexing: `&[Index::ALL, Index::At(-1)]` is `x[:, -1]`).
pub fn get_item(x: &Tensor, key: &[Index]) -> Result<Tensor> {
    GetItem::new(key.to_vec()).call(x)
}

/// `ops.take(x, indices, axis)` with an integer index tensor.
pub fn take(x: &Tensor, indices: &Tensor, axis: Option<i64>) -> Result<Tensor> {
    TakeOp::new(axis).call_many(&[x, indices])
}

/// `ops.take(x, [i, j, …], axis)` with constant indices.
pub fn take_constant(x: &Tensor, indices: &[i64], axis: Option<i64>) -> Result<Tensor> {
    TakeOp::constant(axis, indices).call(x)
}

/// `ops.take_along_axis(x, indices, axis)`.
pub fn take_along_axis(x: &Tensor, indices: &Tensor, axis: i64) -> Result<Tensor> {
    TakeAlongAxisOp::new(axis).call_many(&[x, indices])
}

/// `ops.matmul(a, b)` (`a @ b`).
pub fn matmul(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    MatmulOp::new().call_many(&[a, b])
}

/// `ops.einsum(subscripts, *operands)` with explicit subscripts.
pub fn einsum(subscripts: &str, operands: &[&Tensor]) -> Result<Tensor> {
    EinsumOp::new(subscripts)?.call_many(operands)
}

/// `ops.where(condition, x1, x2)`.
pub fn where_(condition: &Tensor, x1: impl IntoOperand, x2: impl IntoOperand) -> Result<Tensor> {
    let (o1, t1) = x1.into_operand();
    let (o2, t2) = x2.into_operand();
    let mut tensors = vec![condition.clone()];
    tensors.extend(t1);
    tensors.extend(t2);
    record(WhereOp::with_operands(o1, o2).into_layer(), &tensors)
}
