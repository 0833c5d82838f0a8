//! Reductions on Keras tensors over some axes (`ops.sum`, `ops.mean`,
//! `ops.max`, `ops.min`, `ops.prod`, `ops.logsumexp`) and the index of the
//! extreme along one (`ops.argmax`, `ops.argmin`).

use ndarray::{ArrayD, IxDyn, Zip};
use serde_json::{json, Value as Json};
use tensorweave_core::{
    BackwardCall, CallContext, DType, Error, Inputs, Layer, LayerGrads, Result, TensorSpec, Value,
};

use super::operands::{config_axes, resolve_axes};
use super::NUMPY;

/// Which reduction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reduce {
    /// The sum.
    Sum,
    /// The mean.
    Mean,
    /// The maximum.
    Max,
    /// The minimum.
    Min,
    /// The product.
    Prod,
    /// `log(sum(exp(x)))`, computed stably.
    Logsumexp,
    /// The index of the first maximum (int32).
    Argmax,
    /// The index of the first minimum (int32).
    Argmin,
}

impl Reduce {
    /// Every reduction, for the registry.
    pub const ALL: [Reduce; 8] = [
        Reduce::Sum,
        Reduce::Mean,
        Reduce::Max,
        Reduce::Min,
        Reduce::Prod,
        Reduce::Logsumexp,
        Reduce::Argmax,
        Reduce::Argmin,
    ];

    /// The Keras op class.
    pub fn class_name(self) -> &'static str {
        match self {
            Reduce::Sum => "Sum",
            Reduce::Mean => "Mean",
            Reduce::Max => "Max",
            Reduce::Min => "Min",
            Reduce::Prod => "Prod",
            Reduce::Logsumexp => "Logsumexp",
            Reduce::Argmax => "Argmax",
            Reduce::Argmin => "Argmin",
        }
    }

    fn module(self) -> &'static str {
        match self {
            Reduce::Logsumexp => "keras.src.ops.math",
            _ => NUMPY,
        }
    }

    fn is_index(self) -> bool {
        matches!(self, Reduce::Argmax | Reduce::Argmin)
    }

    fn lane(self, v: &[f32]) -> f32 {
        match self {
            Reduce::Sum => v.iter().map(|&x| f64::from(x)).sum::<f64>() as f32,
            Reduce::Mean => (v.iter().map(|&x| f64::from(x)).sum::<f64>() / v.len() as f64) as f32,
            Reduce::Max => v.iter().copied().fold(f32::NEG_INFINITY, |m, x| {
                if x.is_nan() || m.is_nan() {
                    f32::NAN
                } else {
                    m.max(x)
                }
            }),
            Reduce::Min => v.iter().copied().fold(f32::INFINITY, |m, x| {
                if x.is_nan() || m.is_nan() {
                    f32::NAN
                } else {
                    m.min(x)
                }
            }),
            Reduce::Prod => v.iter().product(),
            Reduce::Logsumexp => {
                let m = Reduce::Max.lane(v);
                if !m.is_finite() {
                    return m;
                }
                let s: f64 = v.iter().map(|&x| f64::from(x - m).exp()).sum();
                m + s.ln() as f32
            }
            Reduce::Argmax | Reduce::Argmin => {
                let mut best = 0;
                for (i, &x) in v.iter().enumerate() {
                    let better = if self == Reduce::Argmax {
                        x > v[best]
                    } else {
                        x < v[best]
                    };
                    if better || (x.is_nan() && !v[best].is_nan()) {
                        best = i;
                    }
                }
                best as f32
            }
        }
    }
}

/// A reduction over some axes (all when `axes` is `None`), keeping them as
/// size-1 axes with `keepdims` (Keras' `ops.sum(x, axis, keepdims)`, …).
#[derive(Debug, Clone, PartialEq)]
pub struct ReduceOp {
    kind: Reduce,
    axes: Option<Vec<i64>>,
    keepdims: bool,
    name: Option<String>,
}

super::named_op!(ReduceOp, |op: &ReduceOp| op.kind.class_name());

impl ReduceOp {
    /// The reduction over `axes` (`None`: every axis, the batch's too).
    pub fn new(kind: Reduce, axes: Option<Vec<i64>>, keepdims: bool) -> Self {
        ReduceOp {
            kind,
            axes,
            keepdims,
            name: None,
        }
    }

    /// The reduced axes of an input of rank `rank`, sorted.
    fn reduced(&self, rank: usize) -> Result<Vec<usize>> {
        let axes = match &self.axes {
            None => (0..rank).collect(),
            Some(a) => resolve_axes(a, rank)?,
        };
        if self.kind.is_index() && axes.len() > 1 && self.axes.is_some() {
            return Err(Error::invalid(format!(
                "{} takes one axis, got {:?}",
                self.kind.class_name(),
                self.axes
            )));
        }
        Ok(axes)
    }

    fn out_shape<T: Copy>(&self, shape: &[T], reduced: &[usize], one: T) -> Vec<T> {
        shape
            .iter()
            .enumerate()
            .filter_map(|(i, &d)| match (reduced.contains(&i), self.keepdims) {
                (false, _) => Some(d),
                (true, true) => Some(one),
                (true, false) => None,
            })
            .collect()
    }
}

/// Registers every reduction class.
pub(crate) fn register(registry: &mut tensorweave_core::LayerRegistry) {
    for kind in Reduce::ALL {
        registry.register_op(kind.class_name(), kind.module(), move |config, _| {
            let class = kind.class_name();
            let name = super::op_name(class, config)?;
            let axes = config_axes(class, config, "axis")?;
            let keepdims = config
                .get("keepdims")
                .and_then(Json::as_bool)
                .unwrap_or(false);
            if config.get("initial").is_some_and(|v| !v.is_null()) {
                return Err(Error::layer(
                    name.as_deref().unwrap_or("?"),
                    class,
                    "option `initial` is not supported; reduce first, then take the maximum \
                     or minimum with the initial value",
                ));
            }
            let mut op = ReduceOp::new(kind, axes, keepdims);
            op.name = name;
            Ok(op.into_op())
        });
    }
}

/// Applies `f` to every lane of `x` over the sorted `axes` (the lanes hold
/// the reduced axes' elements in row-major order); the result has the other
/// axes.
fn reduce_lanes(x: &ArrayD<f32>, axes: &[usize], f: impl Fn(&[f32]) -> f32) -> ArrayD<f32> {
    let kept: Vec<usize> = (0..x.ndim()).filter(|a| !axes.contains(a)).collect();
    let order: Vec<usize> = kept.iter().chain(axes).copied().collect();
    let permuted = x.view().permuted_axes(IxDyn(&order));
    let outer: Vec<usize> = kept.iter().map(|&a| x.shape()[a]).collect();
    let inner: usize = axes.iter().map(|&a| x.shape()[a]).product();
    let data: Vec<f32> = permuted.iter().copied().collect();
    let n: usize = outer.iter().product();
    let out: Vec<f32> = if inner == 0 {
        (0..n).map(|_| f(&[])).collect()
    } else {
        data.chunks(inner).map(&f).collect()
    };
    ArrayD::from_shape_vec(IxDyn(&outer), out).unwrap_or_else(|_| ArrayD::zeros(IxDyn(&outer)))
}

impl Layer for ReduceOp {
    fn is_op(&self) -> bool {
        true
    }

    fn class_name(&self) -> &str {
        self.kind.class_name()
    }

    fn config(&self) -> Json {
        let axis = match &self.axes {
            None => Json::Null,
            Some(a) if a.len() == 1 => json!(a[0]),
            Some(a) => json!(a),
        };
        match self.kind {
            Reduce::Max | Reduce::Min => {
                json!({ "axis": axis, "keepdims": self.keepdims, "initial": null })
            }
            _ => json!({ "axis": axis, "keepdims": self.keepdims }),
        }
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        super::numeric(inputs)?;
        let [x] = inputs else {
            return Err(Error::invalid(format!(
                "expects 1 input tensor, got {}",
                inputs.len()
            )));
        };
        if x.dtype == DType::Bool {
            return Err(Error::invalid(
                "takes numbers, got a bool tensor; cast it first (ops.cast)",
            ));
        }
        let reduced = self.reduced(x.rank())?;
        let shape = self.out_shape(&x.shape, &reduced, Some(1));
        let dtype = match self.kind {
            Reduce::Argmax | Reduce::Argmin => DType::I32,
            Reduce::Sum | Reduce::Max | Reduce::Min | Reduce::Prod => x.dtype,
            _ => DType::F32,
        };
        Ok(vec![TensorSpec::new(shape, dtype)])
    }

    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        let x = inputs.one()?;
        let a = x.to_f32();
        let reduced = self.reduced(a.ndim())?;
        let kind = self.kind;
        if kind.is_index() && reduced.iter().any(|&ax| a.shape()[ax] == 0) {
            return Err(Error::invalid(format!(
                "{} of an empty axis (shape {:?})",
                kind.class_name(),
                a.shape()
            )));
        }
        let r = reduce_lanes(&a, &reduced, |v| kind.lane(v));
        let shape = self.out_shape(a.shape(), &reduced, 1);
        let r = r
            .into_shape_with_order(IxDyn(&shape))
            .map_err(|e| Error::invalid(format!("internal: reduced shape: {e}")))?;
        let out = match (kind, x.dtype()) {
            (Reduce::Argmax | Reduce::Argmin, _) => Value::I32(r.mapv(|v| v as i32)),
            (Reduce::Sum | Reduce::Max | Reduce::Min | Reduce::Prod, DType::I32) => {
                Value::I32(r.mapv(|v| v as i32))
            }
            _ => Value::F32(r),
        };
        Ok(vec![out])
    }

    fn has_backward(&self) -> bool {
        true
    }

    /// Sum and mean spread the gradient over their lanes; max and min give
    /// it to the extremes, shared equally between ties (TensorFlow's rule);
    /// logsumexp by the softmax of the lane; prod by `y / x`.
    fn backward(&self, call: &BackwardCall<'_>) -> Result<LayerGrads> {
        let x = call.inputs.value(0)?;
        let (Some(gy), Value::F32(xa)) = (call.value_grad(0)?, x) else {
            return Ok(LayerGrads::inputs(vec![None]));
        };
        if self.kind.is_index() {
            return Ok(LayerGrads::inputs(vec![None]));
        }
        let reduced = self.reduced(xa.ndim())?;
        let with_ones: Vec<usize> = xa
            .shape()
            .iter()
            .enumerate()
            .map(|(i, &d)| if reduced.contains(&i) { 1 } else { d })
            .collect();
        let reshape = |a: &ArrayD<f32>| -> Result<ArrayD<f32>> {
            a.as_standard_layout()
                .into_owned()
                .into_shape_with_order(IxDyn(&with_ones))
                .map_err(|e| Error::invalid(format!("internal: gradient shape: {e}")))
        };
        let g = reshape(gy)?;
        let y = reshape(call.output(0)?)?;
        let g = g
            .broadcast(xa.raw_dim())
            .ok_or_else(|| Error::invalid("internal: reduction gradient does not broadcast"))?;
        let y = y
            .broadcast(xa.raw_dim())
            .ok_or_else(|| Error::invalid("internal: reduction output does not broadcast"))?;
        let count: usize = reduced.iter().map(|&a| xa.shape()[a]).product();
        let grad = match self.kind {
            Reduce::Sum => g.to_owned(),
            Reduce::Mean => g.mapv(|v| v / count.max(1) as f32),
            Reduce::Logsumexp => Zip::from(&g)
                .and(xa)
                .and(&y)
                .map_collect(|&g, &x, &y| g * (x - y).exp()),
            Reduce::Prod => Zip::from(&g)
                .and(xa)
                .and(&y)
                .map_collect(|&g, &x, &y| g * y / x),
            Reduce::Max | Reduce::Min => {
                let hits = Zip::from(xa)
                    .and(&y)
                    .map_collect(|&x, &y| f32::from(u8::from(x == y)));
                let counts = reduce_lanes(&hits, &reduced, |v| v.iter().sum());
                let counts = reshape(&counts)?;
                let counts = counts
                    .broadcast(xa.raw_dim())
                    .ok_or_else(|| Error::invalid("internal: tie counts do not broadcast"))?;
                Zip::from(&g)
                    .and(&hits)
                    .and(&counts)
                    .map_collect(|&g, &h, &c| if h > 0.0 { g / c } else { 0.0 })
            }
            Reduce::Argmax | Reduce::Argmin => return Ok(LayerGrads::inputs(vec![None])),
        };
        Ok(LayerGrads::inputs(vec![Some(grad)]))
    }
}
