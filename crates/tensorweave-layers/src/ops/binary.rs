//! Element-wise binary ops on Keras tensors, with NumPy broadcasting: the
//! arithmetic (`+ - * /`, `**`, `ops.maximum`, …), the comparisons (bool
//! results) and the logical ops. Either operand may be a number
//! (`x * 2.0`, `1.0 - x`), as Keras records them.

use ndarray::{ArrayD, Zip};
use serde_json::{json, Value as Json};
use tensorweave_core::{
    BackwardCall, CallArg, CallContext, DType, Error, Inputs, Layer, LayerGrads, LayerRef, Result,
    TensorSpec, Value,
};

use super::operands::{
    as_f32, as_i64, broadcast_all, broadcast_specs, call_args_of, integer_result, operand_specs,
    operand_values, operands_from_args, reduce_to_shape, Operand,
};
use super::NUMPY;

/// Which binary op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binary {
    /// `a + b`.
    Add,
    /// `a - b`.
    Subtract,
    /// `a * b`.
    Multiply,
    /// `ops.divide(a, b)` (a float result).
    Divide,
    /// `a / b` (a float result).
    TrueDivide,
    /// `a // b`: the floor of the quotient.
    FloorDivide,
    /// `a % b`: the remainder with the sign of `b` (NumPy's `mod`).
    Mod,
    /// `a ** b`.
    Power,
    /// The larger of the two (NaN if either is).
    Maximum,
    /// The smaller of the two (NaN if either is).
    Minimum,
    /// `a > b`.
    Greater,
    /// `a >= b`.
    GreaterEqual,
    /// `a < b`.
    Less,
    /// `a <= b`.
    LessEqual,
    /// `ops.equal(a, b)`.
    Equal,
    /// Logical and of the truth values.
    LogicalAnd,
    /// Logical exclusive or of the truth values.
    LogicalXor,
}

impl Binary {
    /// Every binary op, for the registry.
    pub const ALL: [Binary; 17] = [
        Binary::Add,
        Binary::Subtract,
        Binary::Multiply,
        Binary::Divide,
        Binary::TrueDivide,
        Binary::FloorDivide,
        Binary::Mod,
        Binary::Power,
        Binary::Maximum,
        Binary::Minimum,
        Binary::Greater,
        Binary::GreaterEqual,
        Binary::Less,
        Binary::LessEqual,
        Binary::Equal,
        Binary::LogicalAnd,
        Binary::LogicalXor,
    ];

    /// The Keras op class.
    pub fn class_name(self) -> &'static str {
        match self {
            Binary::Add => "Add",
            Binary::Subtract => "Subtract",
            Binary::Multiply => "Multiply",
            Binary::Divide => "Divide",
            Binary::TrueDivide => "TrueDivide",
            Binary::FloorDivide => "FloorDivide",
            Binary::Mod => "Mod",
            Binary::Power => "Power",
            Binary::Maximum => "Maximum",
            Binary::Minimum => "Minimum",
            Binary::Greater => "Greater",
            Binary::GreaterEqual => "GreaterEqual",
            Binary::Less => "Less",
            Binary::LessEqual => "LessEqual",
            Binary::Equal => "Equal",
            Binary::LogicalAnd => "LogicalAnd",
            Binary::LogicalXor => "LogicalXor",
        }
    }

    fn is_comparison(self) -> bool {
        matches!(
            self,
            Binary::Greater
                | Binary::GreaterEqual
                | Binary::Less
                | Binary::LessEqual
                | Binary::Equal
        )
    }

    fn is_logical(self) -> bool {
        matches!(self, Binary::LogicalAnd | Binary::LogicalXor)
    }

    /// Whether the result is float even for integer operands.
    fn always_float(self) -> bool {
        matches!(self, Binary::Divide | Binary::TrueDivide)
    }

    fn float(self, a: f32, b: f32) -> f32 {
        match self {
            Binary::Add => a + b,
            Binary::Subtract => a - b,
            Binary::Multiply => a * b,
            Binary::Divide | Binary::TrueDivide => a / b,
            Binary::FloorDivide => (a / b).floor(),
            Binary::Mod => {
                let r = a % b;
                if r != 0.0 && (r < 0.0) != (b < 0.0) {
                    r + b
                } else {
                    r
                }
            }
            Binary::Power => a.powf(b),
            Binary::Maximum => {
                if a.is_nan() || a > b {
                    a
                } else {
                    b
                }
            }
            Binary::Minimum => {
                if a.is_nan() || a < b {
                    a
                } else {
                    b
                }
            }
            _ => f32::NAN,
        }
    }

    fn int(self, a: i64, b: i64) -> Result<i64> {
        let zero = || Error::invalid("integer division by zero");
        Ok(match self {
            Binary::Add => a.wrapping_add(b),
            Binary::Subtract => a.wrapping_sub(b),
            Binary::Multiply => a.wrapping_mul(b),
            Binary::FloorDivide => {
                if b == 0 {
                    return Err(zero());
                }
                a.div_euclid(b) - i64::from(b < 0 && a.rem_euclid(b) != 0)
            }
            Binary::Mod => {
                if b == 0 {
                    return Err(zero());
                }
                let r = a % b;
                if r != 0 && (r < 0) != (b < 0) {
                    r + b
                } else {
                    r
                }
            }
            Binary::Power => {
                if b < 0 {
                    return Err(Error::invalid(
                        "integers cannot be raised to negative integer powers",
                    ));
                }
                a.wrapping_pow(u32::try_from(b).unwrap_or(u32::MAX))
            }
            Binary::Maximum => a.max(b),
            Binary::Minimum => a.min(b),
            _ => 0,
        })
    }

    fn compare(self, a: f64, b: f64) -> bool {
        match self {
            Binary::Greater => a > b,
            Binary::GreaterEqual => a >= b,
            Binary::Less => a < b,
            Binary::LessEqual => a <= b,
            Binary::Equal => a == b,
            Binary::LogicalAnd => a != 0.0 && b != 0.0,
            Binary::LogicalXor => (a != 0.0) != (b != 0.0),
            _ => false,
        }
    }

    /// `(d/da, d/db)` at `(a, b)` with result `y`.
    fn partials(self, a: f32, b: f32, y: f32) -> (f32, f32) {
        match self {
            Binary::Add => (1.0, 1.0),
            Binary::Subtract => (1.0, -1.0),
            Binary::Multiply => (b, a),
            Binary::Divide | Binary::TrueDivide => (1.0 / b, -a / (b * b)),
            Binary::Mod => (1.0, -(a / b).floor()),
            // TensorFlow: the exponent's gradient is 0 where a <= 0.
            Binary::Power => (b * a.powf(b - 1.0), if a > 0.0 { y * a.ln() } else { 0.0 }),
            // TensorFlow routes ties to the first operand.
            Binary::Maximum => {
                if a >= b {
                    (1.0, 0.0)
                } else {
                    (0.0, 1.0)
                }
            }
            Binary::Minimum => {
                if a <= b {
                    (1.0, 0.0)
                } else {
                    (0.0, 1.0)
                }
            }
            _ => (0.0, 0.0),
        }
    }
}

/// A binary op on two operands, tensors or numbers (Keras' `ops.add`,
/// `ops.greater`, …; the operators on Keras tensors record them).
#[derive(Debug, Clone, PartialEq)]
pub struct BinaryOp {
    kind: Binary,
    operands: [Operand; 2],
    name: Option<String>,
}

super::named_op!(BinaryOp, |op: &BinaryOp| op.kind.class_name());

impl BinaryOp {
    /// The op on two tensors.
    pub fn new(kind: Binary) -> Self {
        BinaryOp {
            kind,
            operands: [Operand::Tensor, Operand::Tensor],
            name: None,
        }
    }

    /// The op with its operands given (a number where one is constant).
    pub fn with_operands(kind: Binary, a: Operand, b: Operand) -> Self {
        BinaryOp {
            kind,
            operands: [a, b],
            name: None,
        }
    }

    /// Which op.
    pub fn kind(&self) -> Binary {
        self.kind
    }

    /// The op of class `kind` from its Keras configuration.
    pub fn from_keras(kind: Binary, config: &Json) -> Result<LayerRef> {
        let name = super::op_name(kind.class_name(), config)?;
        let mut op = BinaryOp::new(kind);
        op.name = name;
        Ok(op.into_op())
    }

    fn result_dtype(&self, dtypes: &[Option<DType>]) -> DType {
        if self.kind.is_comparison() || self.kind.is_logical() {
            DType::Bool
        } else if !self.kind.always_float() && integer_result(&self.operands, dtypes) {
            DType::I32
        } else {
            DType::F32
        }
    }
}

/// Registers every binary op class.
pub(crate) fn register(registry: &mut tensorweave_core::LayerRegistry) {
    for kind in Binary::ALL {
        registry.register_op(kind.class_name(), NUMPY, move |config, _| {
            BinaryOp::from_keras(kind, config)
        });
    }
}

impl Layer for BinaryOp {
    fn is_op(&self) -> bool {
        true
    }

    fn class_name(&self) -> &str {
        self.kind.class_name()
    }

    fn config(&self) -> Json {
        json!({})
    }

    fn call_args(&self) -> Vec<CallArg> {
        call_args_of(&self.operands)
    }

    fn set_call_args(&mut self, args: &[CallArg]) -> Result<()> {
        let ops = operands_from_args(args, 2, self.kind.class_name())?;
        self.operands = [ops[0], ops[1]];
        Ok(())
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        let specs = operand_specs(&self.operands, inputs)?;
        let shape = broadcast_specs(&specs)?;
        let dtypes: Vec<Option<DType>> = specs.iter().map(|s| s.map(|s| s.dtype)).collect();
        Ok(vec![TensorSpec::new(shape, self.result_dtype(&dtypes))])
    }

    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        let values = operand_values(&self.operands, inputs.values())?;
        let dtypes: Vec<Option<DType>> = values.iter().map(|v| v.map(Value::dtype)).collect();
        let kind = self.kind;
        let [oa, ob] = &self.operands;
        let out = match self.result_dtype(&dtypes) {
            // Refused when the op is built (`operand_specs`).
            DType::String => return Err(Error::invalid("does not take string data")),
            DType::F32 => {
                let arrays = [as_f32(oa, values[0]), as_f32(ob, values[1])];
                let (_, v) = broadcast_all(&arrays)?;
                Value::F32(
                    Zip::from(&v[0])
                        .and(&v[1])
                        .map_collect(|&a, &b| kind.float(a, b)),
                )
            }
            DType::I32 => {
                let arrays = [as_i64(oa, values[0]), as_i64(ob, values[1])];
                let (_, v) = broadcast_all(&arrays)?;
                let mut err = None;
                let out: ArrayD<i32> = Zip::from(&v[0]).and(&v[1]).map_collect(|&a, &b| match kind
                    .int(a, b)
                {
                    Ok(v) => v as i32,
                    Err(e) => {
                        err.get_or_insert(e);
                        0
                    }
                });
                if let Some(e) = err {
                    return Err(e);
                }
                Value::I32(out)
            }
            DType::Bool => {
                // Float operands compare in float32, as Keras does.
                let float = dtypes.contains(&Some(DType::F32))
                    || self
                        .operands
                        .iter()
                        .any(|o| matches!(o, Operand::Scalar { int: false, .. }));
                let arrays: [ArrayD<f64>; 2] = if float {
                    [
                        as_f32(oa, values[0]).mapv(f64::from),
                        as_f32(ob, values[1]).mapv(f64::from),
                    ]
                } else {
                    [
                        as_i64(oa, values[0]).mapv(|v| v as f64),
                        as_i64(ob, values[1]).mapv(|v| v as f64),
                    ]
                };
                let (_, v) = broadcast_all(&arrays)?;
                Value::Bool(
                    Zip::from(&v[0])
                        .and(&v[1])
                        .map_collect(|&a, &b| kind.compare(a, b)),
                )
            }
        };
        Ok(vec![out])
    }

    fn has_backward(&self) -> bool {
        true
    }

    /// The gradient of each float tensor operand, summed over the axes it
    /// was broadcast along (none through comparisons, logical ops, integer
    /// results and `FloorDivide`).
    fn backward(&self, call: &BackwardCall<'_>) -> Result<LayerGrads> {
        let values = operand_values(&self.operands, call.inputs.values())?;
        let n_inputs = call.inputs.len();
        let gy = match call.value_grad(0)? {
            Some(g) if !matches!(self.kind, Binary::FloorDivide) => g,
            _ => return Ok(LayerGrads::inputs(vec![None; n_inputs])),
        };
        let Ok(y) = call.output(0) else {
            return Ok(LayerGrads::inputs(vec![None; n_inputs]));
        };
        let [oa, ob] = &self.operands;
        let arrays = [as_f32(oa, values[0]), as_f32(ob, values[1])];
        let (shape, v) = broadcast_all(&arrays)?;
        if shape != gy.shape() || y.shape() != gy.shape() {
            return Err(Error::invalid(format!(
                "got a gradient of shape {:?} for an output of shape {:?}",
                gy.shape(),
                y.shape()
            )));
        }
        let kind = self.kind;
        let mut grads = Vec::with_capacity(n_inputs);
        for (k, value) in values.iter().enumerate() {
            let Some(value) = value else { continue };
            if value.dtype() != DType::F32 {
                grads.push(None);
                continue;
            }
            let g = Zip::from(gy)
                .and(&v[0])
                .and(&v[1])
                .and(y)
                .map_collect(|&g, &a, &b, &y| {
                    let (da, db) = kind.partials(a, b, y);
                    g * if k == 0 { da } else { db }
                });
            grads.push(Some(reduce_to_shape(g, value.shape())?));
        }
        Ok(LayerGrads::inputs(grads))
    }
}
