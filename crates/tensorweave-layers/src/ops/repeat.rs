//! `Repeat` (Keras' `ops.repeat`): each element repeated along an axis.

use ndarray::{ArrayD, Axis};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};
use tensorweave_core::{
    BackwardCall, CallContext, Error, Inputs, Layer, LayerGrads, Result, TensorSpec, Value,
};

use super::{op_basics, op_int, op_into_layer};
use crate::array_ops::resolve_axis;
use crate::registry::OpClass;

/// Repeats each element `repeats` times along `axis` (Keras' `ops.repeat`
/// with an integer count and an axis).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepeatOp {
    /// How many times each element appears.
    pub repeats: usize,
    /// The axis; negative counts from the end.
    pub axis: i64,
    #[serde(skip)]
    name: Option<String>,
}

impl RepeatOp {
    /// Repeats each element `repeats` times along `axis`.
    pub fn new(repeats: usize, axis: i64) -> Self {
        RepeatOp {
            repeats,
            axis,
            name: None,
        }
    }

    fn resolved(&self, rank: usize) -> Result<usize> {
        resolve_axis(self.axis, rank).ok_or_else(|| {
            Error::invalid(format!(
                "axis {} is out of range for rank {rank}",
                self.axis
            ))
        })
    }
}

op_into_layer!(RepeatOp);

impl OpClass for RepeatOp {
    const CLASS_NAME: &'static str = "Repeat";

    fn read(config: &Json) -> Result<Self> {
        let name = config.get("name").and_then(Json::as_str).unwrap_or("?");
        let repeats = config
            .get("repeats")
            .and_then(Json::as_u64)
            .ok_or_else(|| {
                Error::layer(
                    name,
                    Self::CLASS_NAME,
                    "option `repeats` must be one non-negative integer (per-element counts \
                     are not supported)",
                )
            })?;
        let axis = op_int(Self::CLASS_NAME, config, "axis", None)?;
        Ok(RepeatOp::new(repeats as usize, axis))
    }
}

fn repeat<A: Clone>(a: &ArrayD<A>, axis: usize, n: usize) -> ArrayD<A> {
    let views: Vec<_> = (0..a.shape()[axis])
        .flat_map(|i| std::iter::repeat_n(a.index_axis(Axis(axis), i).insert_axis(Axis(axis)), n))
        .collect();
    if views.is_empty() {
        let mut shape = a.shape().to_vec();
        shape[axis] = 0;
        return ArrayD::from_shape_vec(shape, Vec::new()).unwrap_or_else(|_| a.clone());
    }
    ndarray::concatenate(Axis(axis), &views).unwrap_or_else(|_| a.clone())
}

impl Layer for RepeatOp {
    op_basics!();

    fn config(&self) -> Json {
        json!({ "repeats": self.repeats, "axis": self.axis })
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        let [x] = inputs else {
            return Err(Error::invalid(format!(
                "expects 1 input tensor, got {}",
                inputs.len()
            )));
        };
        let axis = self.resolved(x.rank())?;
        let mut shape = x.shape.clone();
        shape[axis] = shape[axis].map(|d| d.saturating_mul(self.repeats));
        Ok(vec![TensorSpec::new(shape, x.dtype)])
    }

    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        let x = inputs.one()?;
        let axis = self.resolved(x.shape().len())?;
        let n = self.repeats;
        Ok(vec![match x {
            Value::F32(a) => Value::F32(repeat(a, axis, n)),
            Value::I32(a) => Value::I32(repeat(a, axis, n)),
            Value::Bool(a) => Value::Bool(repeat(a, axis, n)),
            Value::Str(a) => Value::Str(repeat(a, axis, n)),
        }])
    }

    fn has_backward(&self) -> bool {
        true
    }

    /// Each element's gradient: the sum over its copies.
    fn backward(&self, call: &BackwardCall<'_>) -> Result<LayerGrads> {
        let x = call.inputs.value(0)?;
        let grad = match (call.value_grad(0)?, x) {
            (Some(g), Value::F32(a)) => {
                let axis = self.resolved(a.ndim())?;
                let mut out = ArrayD::<f32>::zeros(a.raw_dim());
                for (j, lane) in g.axis_iter(Axis(axis)).enumerate() {
                    let mut dst = out.index_axis_mut(Axis(axis), j / self.repeats.max(1));
                    dst += &lane;
                }
                Some(out)
            }
            _ => None,
        };
        Ok(LayerGrads::inputs(vec![grad]))
    }
}
