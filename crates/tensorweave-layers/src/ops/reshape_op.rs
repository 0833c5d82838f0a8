//! `Reshape` as an op (Keras' `ops.reshape`): a new shape for the whole
//! tensor, the batch axis included, one entry of which may be `-1`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};
use tensorweave_core::registry::brief;
use tensorweave_core::{
    format_dims, BackwardCall, CallContext, Error, Inputs, Layer, LayerGrads, Result, TensorSpec,
    Value,
};

use super::{op_basics, op_into_layer};
use crate::registry::OpClass;

/// Gives a tensor a new shape (Keras' `ops.reshape`, an op, unlike the
/// `Reshape` layer, whose shape leaves out the batch axis).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReshapeOp {
    /// The new shape, the batch axis included; at most one `-1`, inferred.
    pub newshape: Vec<i64>,
    #[serde(skip)]
    name: Option<String>,
}

impl ReshapeOp {
    /// Reshapes to `newshape` (batch axis included; one entry may be `-1`).
    pub fn new(newshape: Vec<i64>) -> Self {
        ReshapeOp {
            newshape,
            name: None,
        }
    }

    /// The concrete shape for an input of `size` elements.
    fn concrete(&self, size: usize, input: &[usize]) -> Result<Vec<usize>> {
        let known: usize = self
            .newshape
            .iter()
            .filter(|&&d| d >= 0)
            .map(|&d| d as usize)
            .fold(1usize, usize::saturating_mul);
        let out: Vec<usize> = self
            .newshape
            .iter()
            .map(|&d| {
                if d >= 0 {
                    d as usize
                } else {
                    size.checked_div(known).unwrap_or(0)
                }
            })
            .collect();
        if out.iter().fold(1usize, |a, &d| a.saturating_mul(d)) != size {
            return Err(Error::invalid(format!(
                "cannot reshape an array of shape {} ({size} elements) to {:?}",
                format_dims(input),
                self.newshape
            )));
        }
        Ok(out)
    }
}

op_into_layer!(ReshapeOp);

impl OpClass for ReshapeOp {
    const CLASS_NAME: &'static str = "Reshape";

    fn read(config: &Json) -> Result<Self> {
        let bad = || {
            Error::layer(
                config.get("name").and_then(Json::as_str).unwrap_or("?"),
                Self::CLASS_NAME,
                format!(
                    "option `newshape` = {} must be a list of integers",
                    brief(config.get("newshape").unwrap_or(&Json::Null))
                ),
            )
        };
        let shape = config
            .get("newshape")
            .and_then(Json::as_array)
            .ok_or_else(bad)?
            .iter()
            .map(|d| d.as_i64().filter(|&d| d >= -1).ok_or_else(bad))
            .collect::<Result<Vec<_>>>()?;
        if shape.iter().filter(|&&d| d == -1).count() > 1 {
            return Err(bad());
        }
        Ok(ReshapeOp::new(shape))
    }
}

impl Layer for ReshapeOp {
    op_basics!();

    fn config(&self) -> Json {
        json!({ "newshape": self.newshape })
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        let [x] = inputs else {
            return Err(Error::invalid(format!(
                "expects 1 input tensor, got {}",
                inputs.len()
            )));
        };
        let all_known: Option<Vec<usize>> = x.shape.iter().copied().collect();
        let shape: Vec<Option<usize>> = match all_known {
            Some(dims) => self
                .concrete(dims.iter().fold(1usize, |a, &d| a.saturating_mul(d)), &dims)?
                .into_iter()
                .map(Some)
                .collect(),
            None => self
                .newshape
                .iter()
                .map(|&d| (d >= 0).then_some(d as usize))
                .collect(),
        };
        Ok(vec![TensorSpec::new(shape, x.dtype)])
    }

    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        let x = inputs.one()?;
        let shape = self.concrete(x.shape().iter().product(), x.shape())?;
        Ok(vec![reshape_value(x, &shape)?])
    }

    fn has_backward(&self) -> bool {
        true
    }

    fn backward(&self, call: &BackwardCall<'_>) -> Result<LayerGrads> {
        let x = call.inputs.value(0)?;
        let grad = match (call.value_grad(0)?, x) {
            (Some(g), Value::F32(a)) => Some(
                g.as_standard_layout()
                    .into_owned()
                    .into_shape_with_order(a.raw_dim())
                    .map_err(|e| Error::invalid(format!("internal: gradient shape: {e}")))?,
            ),
            _ => None,
        };
        Ok(LayerGrads::inputs(vec![grad]))
    }
}

/// Any value reshaped (row-major order).
pub(crate) fn reshape_value(x: &Value, shape: &[usize]) -> Result<Value> {
    let dim = ndarray::IxDyn(shape);
    let err = |e: ndarray::ShapeError| Error::invalid(format!("reshape: {e}"));
    Ok(match x {
        Value::F32(a) => Value::F32(
            a.as_standard_layout()
                .into_owned()
                .into_shape_with_order(dim)
                .map_err(err)?,
        ),
        Value::I32(a) => Value::I32(
            a.as_standard_layout()
                .into_owned()
                .into_shape_with_order(dim)
                .map_err(err)?,
        ),
        Value::Bool(a) => Value::Bool(
            a.as_standard_layout()
                .into_owned()
                .into_shape_with_order(dim)
                .map_err(err)?,
        ),
        Value::Str(a) => Value::Str(
            a.as_standard_layout()
                .into_owned()
                .into_shape_with_order(dim)
                .map_err(err)?,
        ),
    })
}
