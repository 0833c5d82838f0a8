//! `GetItem`: NumPy basic indexing of a Keras tensor (`x[:, 0]`,
//! `x[:, -1, :]`, `x[..., 1:3]`, `x[:, None]`), as Keras records it: the key
//! is a constant argument of the call.

use ndarray::{ArrayD, Axis};
use serde_json::{json, Value as Json};
use tensorweave_core::registry::brief;
use tensorweave_core::{
    format_dims, format_shape, BackwardCall, CallArg, CallContext, Error, Inputs, Layer,
    LayerGrads, Result, TensorSpec, Value,
};

use crate::registry::OpClass;

/// One entry of an indexing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Index {
    /// One position (negative counts from the end); the axis goes away.
    At(i64),
    /// `start:stop:step`, each optional as in Python.
    Slice(Option<i64>, Option<i64>, Option<i64>),
    /// `None` / `np.newaxis`: a new axis of size 1.
    NewAxis,
    /// `...`: as many full slices as needed.
    Ellipsis,
}

impl Index {
    /// `:` (every position).
    pub const ALL: Index = Index::Slice(None, None, None);

    fn to_json(self) -> Json {
        match self {
            Index::At(i) => json!(i),
            Index::Slice(a, b, c) => json!({
                "class_name": "__slice__",
                "config": { "start": a, "stop": b, "step": c }
            }),
            Index::NewAxis => Json::Null,
            Index::Ellipsis => json!({ "class_name": "__ellipsis__", "config": {} }),
        }
    }

    fn from_json(v: &Json) -> Result<Index> {
        let bad = || Error::invalid(format!("unsupported index {} in a GetItem key", brief(v)));
        match v {
            Json::Null => Ok(Index::NewAxis),
            Json::Number(n) => n.as_i64().map(Index::At).ok_or_else(bad),
            Json::Object(map) => match map.get("class_name").and_then(Json::as_str) {
                Some("__ellipsis__") => Ok(Index::Ellipsis),
                Some("__slice__") => {
                    let c = map.get("config").ok_or_else(bad)?;
                    let part = |k: &str| -> Result<Option<i64>> {
                        match c.get(k) {
                            None | Some(Json::Null) => Ok(None),
                            Some(v) => v.as_i64().map(Some).ok_or_else(bad),
                        }
                    };
                    let step = part("step")?;
                    if step == Some(0) {
                        return Err(Error::invalid("a slice step cannot be 0"));
                    }
                    Ok(Index::Slice(part("start")?, part("stop")?, step))
                }
                _ => Err(bad()),
            },
            _ => Err(bad()),
        }
    }
}

/// What a key does to one input axis.
#[derive(Debug, Clone)]
struct AxisPick {
    /// The positions kept, in order (`None` while the size is unknown).
    positions: Option<Vec<usize>>,
    /// Whether the axis goes away (an integer index).
    dropped: bool,
    /// Whether it is a full `:` (the size passes through).
    full: bool,
}

/// NumPy basic indexing: `x[key]` (Keras' `GetItem` op).
#[derive(Debug, Clone, PartialEq)]
pub struct GetItem {
    key: Vec<Index>,
    name: Option<String>,
}

super::named_op!(GetItem, |_: &GetItem| "GetItem");

impl GetItem {
    /// `x[key]`.
    pub fn new(key: Vec<Index>) -> Self {
        GetItem { key, name: None }
    }

    /// The plan for an input of shape `shape`: the pick of each input axis,
    /// and where the new axes go among the output axes.
    fn plan(&self, shape: &[Option<usize>]) -> Result<(Vec<AxisPick>, Vec<usize>)> {
        let rank = shape.len();
        let ellipses = self.key.iter().filter(|k| **k == Index::Ellipsis).count();
        if ellipses > 1 {
            return Err(Error::invalid("an index can only have one ellipsis (...)"));
        }
        let consuming = self
            .key
            .iter()
            .filter(|k| matches!(k, Index::At(_) | Index::Slice(..)))
            .count();
        if consuming > rank {
            return Err(Error::invalid(format!(
                "too many indices ({consuming}) for a tensor of shape {}",
                format_shape(shape)
            )));
        }
        let mut expanded: Vec<Index> = Vec::new();
        for k in &self.key {
            if *k == Index::Ellipsis {
                expanded.extend(std::iter::repeat_n(Index::ALL, rank - consuming));
            } else {
                expanded.push(*k);
            }
        }
        if ellipses == 0 {
            expanded.extend(std::iter::repeat_n(Index::ALL, rank - consuming));
        }
        let (mut picks, mut new_axes, mut out_axis, mut axis) = (Vec::new(), Vec::new(), 0, 0);
        for k in expanded {
            match k {
                Index::NewAxis => {
                    new_axes.push(out_axis);
                    out_axis += 1;
                }
                Index::At(i) => {
                    let positions = match shape[axis] {
                        Some(n) => {
                            let j = if i < 0 { i + n as i64 } else { i };
                            if j < 0 || j >= n as i64 {
                                return Err(Error::invalid(format!(
                                    "index {i} is out of range for axis {axis} of size {n} \
                                     (shape {})",
                                    format_shape(shape)
                                )));
                            }
                            Some(vec![j as usize])
                        }
                        None => None,
                    };
                    picks.push(AxisPick {
                        positions,
                        dropped: true,
                        full: false,
                    });
                    axis += 1;
                }
                Index::Slice(a, b, c) => {
                    let full = a.is_none() && b.is_none() && c.unwrap_or(1) == 1;
                    let positions = shape[axis].map(|n| slice_positions(a, b, c, n));
                    picks.push(AxisPick {
                        positions,
                        dropped: false,
                        full,
                    });
                    axis += 1;
                    out_axis += 1;
                }
                Index::Ellipsis => {}
            }
        }
        Ok((picks, new_axes))
    }

    fn key_json(&self) -> Json {
        Json::Array(self.key.iter().map(|k| k.to_json()).collect())
    }
}

/// Python's `range(n)[start:stop:step]`.
fn slice_positions(
    start: Option<i64>,
    stop: Option<i64>,
    step: Option<i64>,
    n: usize,
) -> Vec<usize> {
    let n = n as i64;
    let step = step.unwrap_or(1);
    let norm = |v: i64, lo: i64, hi: i64| {
        let v = if v < 0 { v + n } else { v };
        v.clamp(lo, hi)
    };
    let (start, stop) = if step > 0 {
        (
            start.map_or(0, |s| norm(s, 0, n)),
            stop.map_or(n, |s| norm(s, 0, n)),
        )
    } else {
        (
            start.map_or(n - 1, |s| norm(s, -1, n - 1)),
            stop.map_or(-1, |s| norm(s, -1, n - 1)),
        )
    };
    let mut out = Vec::new();
    let mut i = start;
    while (step > 0 && i < stop) || (step < 0 && i > stop) {
        out.push(i as usize);
        i += step;
    }
    out
}

impl OpClass for GetItem {
    const CLASS_NAME: &'static str = "GetItem";

    /// The key comes with the call ([`Layer::set_call_args`]).
    fn read(_config: &Json) -> Result<Self> {
        Ok(GetItem::new(Vec::new()))
    }
}

macro_rules! on_value {
    ($x:expr, $a:ident => $body:expr) => {
        match $x {
            Value::F32($a) => Value::F32($body),
            Value::I32($a) => Value::I32($body),
            Value::Bool($a) => Value::Bool($body),
            Value::Str($a) => Value::Str($body),
        }
    };
}

fn pick<A: Clone>(a: &ArrayD<A>, picks: &[AxisPick], new_axes: &[usize]) -> Result<ArrayD<A>> {
    let mut out = a.clone();
    for (axis, p) in picks.iter().enumerate() {
        let positions = p
            .positions
            .as_ref()
            .ok_or_else(|| Error::invalid("internal: an index plan without sizes"))?;
        if !p.full {
            out = out.select(Axis(axis), positions);
        }
    }
    for (axis, p) in picks.iter().enumerate().rev() {
        if p.dropped {
            out = out.index_axis_move(Axis(axis), 0);
        }
    }
    for &axis in new_axes {
        out = out.insert_axis(Axis(axis));
    }
    Ok(out)
}

impl Layer for GetItem {
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
        vec![CallArg::Tensor, CallArg::Constant(self.key_json())]
    }

    fn set_call_args(&mut self, args: &[CallArg]) -> Result<()> {
        match args {
            [CallArg::Tensor, CallArg::Constant(key)] => {
                self.key = match key {
                    Json::Array(items) => {
                        items.iter().map(Index::from_json).collect::<Result<_>>()?
                    }
                    one => vec![Index::from_json(one)?],
                };
                Ok(())
            }
            [CallArg::Tensor, CallArg::Tensor] => Err(Error::invalid(
                "indexing with a tensor (x[idx]) is not supported; use ops.take(x, idx, axis)",
            )),
            _ => Err(Error::invalid("GetItem takes a tensor and a constant key")),
        }
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        let [x] = inputs else {
            return Err(Error::invalid(format!(
                "expects 1 input tensor, got {}",
                inputs.len()
            )));
        };
        let (picks, new_axes) = self.plan(&x.shape)?;
        let mut shape: Vec<Option<usize>> = picks
            .iter()
            .zip(x.shape.iter())
            .filter(|(p, _)| !p.dropped)
            .map(|(p, &d)| {
                if p.full {
                    d
                } else {
                    p.positions.as_ref().map(Vec::len)
                }
            })
            .collect();
        for &a in &new_axes {
            shape.insert(a, Some(1));
        }
        Ok(vec![TensorSpec::new(shape, x.dtype)])
    }

    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        let x = inputs.one()?;
        let dims: Vec<Option<usize>> = x.shape().iter().map(|&d| Some(d)).collect();
        let (picks, new_axes) = self.plan(&dims)?;
        Ok(vec![on_value!(x, a => pick(a, &picks, &new_axes)?)])
    }

    fn has_backward(&self) -> bool {
        true
    }

    /// The gradient scattered back to the picked positions.
    fn backward(&self, call: &BackwardCall<'_>) -> Result<LayerGrads> {
        let (Some(g), Value::F32(x)) = (call.value_grad(0)?, call.inputs.value(0)?) else {
            return Ok(LayerGrads::inputs(vec![None]));
        };
        let dims: Vec<Option<usize>> = x.shape().iter().map(|&d| Some(d)).collect();
        let (picks, new_axes) = self.plan(&dims)?;
        let mut g = g.clone();
        for &axis in new_axes.iter().rev() {
            g = g.index_axis_move(Axis(axis), 0);
        }
        for (axis, p) in picks.iter().enumerate() {
            if p.dropped {
                g = g.insert_axis(Axis(axis));
            }
        }
        for (axis, p) in picks.iter().enumerate().rev() {
            if p.full {
                continue;
            }
            let positions = p
                .positions
                .as_ref()
                .ok_or_else(|| Error::invalid("internal: an index plan without sizes"))?;
            let mut shape = g.shape().to_vec();
            shape[axis] = x.shape()[axis];
            let mut wide = ArrayD::<f32>::zeros(shape);
            for (j, &pos) in positions.iter().enumerate() {
                let mut dst = wide.index_axis_mut(Axis(axis), pos);
                dst += &g.index_axis(Axis(axis), j);
            }
            g = wide;
        }
        if g.shape() != x.shape() {
            return Err(Error::invalid(format!(
                "internal: a GetItem gradient of shape {} for an input of shape {}",
                format_dims(g.shape()),
                format_dims(x.shape())
            )));
        }
        Ok(LayerGrads::inputs(vec![Some(g)]))
    }
}
