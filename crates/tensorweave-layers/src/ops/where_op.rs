//! `Where` (Keras' `ops.where(condition, x1, x2)`): `x1` where the condition
//! holds, `x2` elsewhere, with broadcasting; `x1` and `x2` may be numbers.

use ndarray::Zip;
use serde_json::{json, Value as Json};
use tensorweave_core::{
    BackwardCall, CallArg, CallContext, DType, Error, Inputs, Layer, LayerGrads, Result,
    TensorSpec, Value,
};

use super::operands::{
    as_f32, as_i64, broadcast_all, broadcast_specs, call_args_of, integer_result, operand_specs,
    operand_values, operands_from_args, reduce_to_shape, Operand,
};
use crate::registry::OpClass;

/// `x1` where `condition` is true (non-zero), `x2` elsewhere (Keras'
/// three-argument `ops.where`).
#[derive(Debug, Clone, PartialEq)]
pub struct WhereOp {
    operands: [Operand; 3],
    name: Option<String>,
}

super::named_op!(WhereOp, |_: &WhereOp| "Where");

impl WhereOp {
    /// `where(condition, x1, x2)` on three tensors.
    pub fn new() -> Self {
        WhereOp {
            operands: [Operand::Tensor; 3],
            name: None,
        }
    }

    /// With `x1` and `x2` given (a number where one is constant; the
    /// condition is a tensor).
    pub fn with_operands(x1: Operand, x2: Operand) -> Self {
        WhereOp {
            operands: [Operand::Tensor, x1, x2],
            name: None,
        }
    }

    fn dtype(&self, dtypes: &[Option<DType>]) -> DType {
        if integer_result(&self.operands[1..], &dtypes[1..]) {
            DType::I32
        } else {
            DType::F32
        }
    }
}

impl Default for WhereOp {
    fn default() -> Self {
        Self::new()
    }
}

impl OpClass for WhereOp {
    const CLASS_NAME: &'static str = "Where";

    fn read(_config: &Json) -> Result<Self> {
        Ok(WhereOp::new())
    }
}

impl Layer for WhereOp {
    fn is_op(&self) -> bool {
        true
    }

    fn class_name(&self) -> &str {
        Self::CLASS_NAME
    }

    fn config(&self) -> Json {
        json!({})
    }

    fn call_args(&self) -> Vec<CallArg> {
        call_args_of(&self.operands)
    }

    fn set_call_args(&mut self, args: &[CallArg]) -> Result<()> {
        let ops = operands_from_args(args, 3, Self::CLASS_NAME)?;
        if ops[0] != Operand::Tensor {
            return Err(Error::invalid(
                "the condition of Where must be a tensor (a constant condition picks one side)",
            ));
        }
        self.operands = [ops[0], ops[1], ops[2]];
        Ok(())
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        let specs = operand_specs(&self.operands, inputs)?;
        let shape = broadcast_specs(&specs)?;
        let dtypes: Vec<Option<DType>> = specs.iter().map(|s| s.map(|s| s.dtype)).collect();
        Ok(vec![TensorSpec::new(shape, self.dtype(&dtypes))])
    }

    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        let values = operand_values(&self.operands, inputs.values())?;
        let dtypes: Vec<Option<DType>> = values.iter().map(|v| v.map(Value::dtype)).collect();
        let cond = values[0]
            .map(super::to_bool)
            .ok_or_else(|| Error::invalid("internal: Where without a condition"))?;
        let condf = cond.mapv(|c| if c { 1i64 } else { 0 });
        let [_, o1, o2] = &self.operands;
        Ok(vec![match self.dtype(&dtypes) {
            DType::I32 => {
                let arrays = [condf, as_i64(o1, values[1]), as_i64(o2, values[2])];
                let (_, v) = broadcast_all(&arrays)?;
                Value::I32(
                    Zip::from(&v[0])
                        .and(&v[1])
                        .and(&v[2])
                        .map_collect(|&c, &a, &b| if c != 0 { a as i32 } else { b as i32 }),
                )
            }
            _ => {
                let arrays = [
                    condf.mapv(|c| c as f32),
                    as_f32(o1, values[1]),
                    as_f32(o2, values[2]),
                ];
                let (_, v) = broadcast_all(&arrays)?;
                Value::F32(
                    Zip::from(&v[0])
                        .and(&v[1])
                        .and(&v[2])
                        .map_collect(|&c, &a, &b| if c != 0.0 { a } else { b }),
                )
            }
        }])
    }

    fn has_backward(&self) -> bool {
        true
    }

    /// The gradient goes to `x1` where the condition holds, to `x2` elsewhere.
    fn backward(&self, call: &BackwardCall<'_>) -> Result<LayerGrads> {
        let values = operand_values(&self.operands, call.inputs.values())?;
        let n = call.inputs.len();
        let Some(g) = call.value_grad(0)? else {
            return Ok(LayerGrads::inputs(vec![None; n]));
        };
        let cond = values[0]
            .map(|v| super::to_bool(v).mapv(|c| if c { 1.0f32 } else { 0.0 }))
            .ok_or_else(|| Error::invalid("internal: Where without a condition"))?;
        let cond = cond
            .broadcast(g.raw_dim())
            .ok_or_else(|| Error::invalid("internal: condition does not broadcast"))?;
        let mut grads = vec![None];
        for (k, v) in values.iter().enumerate().skip(1) {
            let Some(v) = v else { continue };
            if v.dtype() != DType::F32 {
                grads.push(None);
                continue;
            }
            let gk = Zip::from(g).and(&cond).map_collect(|&g, &c| {
                let take = if k == 1 { c != 0.0 } else { c == 0.0 };
                if take {
                    g
                } else {
                    0.0
                }
            });
            grads.push(Some(reduce_to_shape(gk, v.shape())?));
        }
        Ok(LayerGrads::inputs(grads))
    }
}
