//! Mean squared / absolute error, Huber, KL divergence, hinge and cosine similarity.

use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn, Zip};
use serde_json::{Map, Value};
use tensorweave_core::Result;

use super::crossentropy::shape_without;
use super::{align, loss_common, Aligned, Loss, LossBase, PerEntry, Prediction, Reduction, Wrt};
use crate::array::resolve_axis;
use crate::config::ConfigReader;
use crate::util::{f32_of, input_err, sum_f32, tf_sign, EPSILON};

/// Element losses and gradients averaged over the last axis (Keras' `ops.mean(…, axis=-1)`).
fn mean_last(a: &Aligned, elem: ArrayD<f32>, grad: ArrayD<f32>, what: &str) -> Result<PerEntry> {
    if elem.ndim() == 0 {
        return Err(input_err(format!("{what}: needs arrays of rank >= 1")));
    }
    let axis = elem.ndim() - 1;
    let n = elem.shape()[axis] as f32;
    let values = elem.map_axis(Axis(axis), |lane| sum_f32(lane.iter().copied()) / n);
    let grad = grad.mapv(|g| g * (1.0 / n));
    a.finish(values, grad, Wrt::Output, vec![axis], None)
}

/// Elementwise loss/gradient pairs over aligned `y_true` and `y_pred`.
fn elementwise(
    a: &Aligned,
    what: &str,
    f: impl Fn(f32, f32) -> (f32, f32),
) -> Result<(ArrayD<f32>, ArrayD<f32>)> {
    let t = a.y_true_like_pred(what)?;
    let mut elem = ArrayD::<f32>::zeros(IxDyn(a.y_pred.shape()));
    let mut grad = ArrayD::<f32>::zeros(IxDyn(a.y_pred.shape()));
    Zip::from(&mut elem)
        .and(&mut grad)
        .and(&t)
        .and(&a.y_pred)
        .for_each(|e, g, &t, &p| {
            let (le, lg) = f(t, p);
            *e = le;
            *g = lg;
        });
    Ok((elem, grad))
}

macro_rules! simple_loss {
    ($(#[$doc:meta])* $t:ident, $default:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $t {
            base: LossBase,
        }

        impl $t {
            /// With Keras' defaults.
            pub fn new() -> Self {
                Self::with_base(LossBase::new($default))
            }

            pub(crate) fn with_base(base: LossBase) -> Self {
                $t { base }
            }

            pub(crate) fn from_reader(c: &mut ConfigReader<'_>) -> Result<Self> {
                let mut l = Self::new();
                l.base.read(c)?;
                Ok(l)
            }
        }

        impl Default for $t {
            fn default() -> Self {
                Self::new()
            }
        }

        loss_common!($t);
    };
}

simple_loss!(
    /// Mean squared error over the last axis.
    MeanSquaredError,
    "mean_squared_error"
);
simple_loss!(
    /// Mean absolute error over the last axis.
    MeanAbsoluteError,
    "mean_absolute_error"
);
simple_loss!(
    /// KL divergence `sum(t·log(t/p))` over the last axis, both clipped to `[1e-7, 1]`.
    KlDivergence,
    "kl_divergence"
);
simple_loss!(
    /// Hinge `mean(max(1 - t·p, 0))` over the last axis; labels that are all 0/1 become -1/1.
    Hinge,
    "hinge"
);

impl Loss for MeanSquaredError {
    fn name(&self) -> &str {
        &self.base.name
    }
    fn config(&self) -> Value {
        self.base.config("MeanSquaredError", Map::new())
    }
    fn reduction(&self) -> Reduction {
        self.base.reduction
    }
    fn per_entry(&self, y_true: ArrayViewD<'_, f32>, pred: &Prediction<'_>) -> Result<PerEntry> {
        let what = "mean_squared_error";
        let a = align(y_true, pred, what)?;
        let (elem, grad) = elementwise(&a, what, |t, p| {
            let d = t - p;
            (d * d, -(2.0 * d))
        })?;
        mean_last(&a, elem, grad, what)
    }
}

impl Loss for MeanAbsoluteError {
    fn name(&self) -> &str {
        &self.base.name
    }
    fn config(&self) -> Value {
        self.base.config("MeanAbsoluteError", Map::new())
    }
    fn reduction(&self) -> Reduction {
        self.base.reduction
    }
    fn per_entry(&self, y_true: ArrayViewD<'_, f32>, pred: &Prediction<'_>) -> Result<PerEntry> {
        let what = "mean_absolute_error";
        let a = align(y_true, pred, what)?;
        let (elem, grad) = elementwise(&a, what, |t, p| {
            let d = t - p;
            (d.abs(), -tf_sign(d))
        })?;
        mean_last(&a, elem, grad, what)
    }
}

impl Loss for KlDivergence {
    fn name(&self) -> &str {
        &self.base.name
    }
    fn config(&self) -> Value {
        self.base.config("KLDivergence", Map::new())
    }
    fn reduction(&self) -> Reduction {
        self.base.reduction
    }
    fn per_entry(&self, y_true: ArrayViewD<'_, f32>, pred: &Prediction<'_>) -> Result<PerEntry> {
        let what = "kl_divergence";
        let a = align(y_true, pred, what)?;
        let eps = f32_of(EPSILON);
        let (elem, grad) = elementwise(&a, what, |t, p| {
            let tc = t.clamp(eps, 1.0);
            let pc = p.clamp(eps, 1.0);
            let ratio = tc / pc;
            let g = if (eps..=1.0).contains(&p) {
                (tc * (1.0 / ratio)) * ((-tc / pc) / pc)
            } else {
                0.0
            };
            (tc * ratio.ln(), g)
        })?;
        if elem.ndim() == 0 {
            return Err(input_err(format!("{what}: needs arrays of rank >= 1")));
        }
        let axis = elem.ndim() - 1;
        let values = elem.map_axis(Axis(axis), |lane| sum_f32(lane.iter().copied()));
        a.finish(values, grad, Wrt::Output, vec![axis], None)
    }
}

impl Loss for Hinge {
    fn name(&self) -> &str {
        &self.base.name
    }
    fn config(&self) -> Value {
        self.base.config("Hinge", Map::new())
    }
    fn reduction(&self) -> Reduction {
        self.base.reduction
    }
    fn per_entry(&self, y_true: ArrayViewD<'_, f32>, pred: &Prediction<'_>) -> Result<PerEntry> {
        let what = "hinge";
        let mut a = align(y_true, pred, what)?;
        // Keras converts 0/1 labels to -1/1 only when ALL labels are 0 or 1.
        if a.y_true.iter().all(|&t| t == 0.0 || t == 1.0) {
            a.y_true.mapv_inplace(|t| 2.0 * t - 1.0);
        }
        let (elem, grad) = elementwise(&a, what, |t, p| {
            let margin = 1.0 - t * p;
            // Maximum passes the gradient to its first operand on ties.
            (margin.max(0.0), if margin >= 0.0 { -t } else { 0.0 })
        })?;
        mean_last(&a, elem, grad, what)
    }
}

/// Huber loss over the last axis: `0.5·e²` where `|e| <= delta`, else `delta·|e| - 0.5·delta²`.
///
/// Keras' `Huber.get_config` does not save `delta` (a loaded Huber loss has delta 1); this
/// crate's [`Loss::config`] mirrors that.
#[derive(Debug, Clone)]
pub struct Huber {
    base: LossBase,
    delta: f64,
}

impl Huber {
    /// With Keras' defaults (delta 1).
    pub fn new() -> Self {
        Self::with_base(LossBase::new("huber_loss"))
    }

    pub(crate) fn with_base(base: LossBase) -> Self {
        Huber { base, delta: 1.0 }
    }

    /// The threshold between the quadratic and linear parts.
    pub fn delta(mut self, delta: f64) -> Self {
        self.delta = delta;
        self
    }

    pub(crate) fn from_reader(c: &mut ConfigReader<'_>) -> Result<Self> {
        let mut l = Self::new();
        l.base.read(c)?;
        l.delta = c.f64_or("delta", 1.0)?;
        Ok(l)
    }
}

impl Default for Huber {
    fn default() -> Self {
        Self::new()
    }
}

loss_common!(Huber);

impl Loss for Huber {
    fn name(&self) -> &str {
        &self.base.name
    }
    fn config(&self) -> Value {
        self.base.config("Huber", Map::new())
    }
    fn reduction(&self) -> Reduction {
        self.base.reduction
    }
    fn per_entry(&self, y_true: ArrayViewD<'_, f32>, pred: &Prediction<'_>) -> Result<PerEntry> {
        let what = "huber";
        let a = align(y_true, pred, what)?;
        let delta = f32_of(self.delta);
        let half = 0.5f32;
        let (elem, grad) = elementwise(&a, what, |t, p| {
            let err = p - t;
            let abs = err.abs();
            if abs <= delta {
                (half * (err * err), err)
            } else {
                (delta * abs - half * (delta * delta), delta * tf_sign(err))
            }
        })?;
        mean_last(&a, elem, grad, what)
    }
}

/// Cosine similarity loss `-sum(l2_normalize(t)·l2_normalize(p))` over `axis` (the inverse norm
/// is capped at `1/1e-7`, so an all-zero row gives 0).
///
/// Keras' `CosineSimilarity.get_config` does not save `axis`; [`Loss::config`] mirrors that.
#[derive(Debug, Clone)]
pub struct CosineSimilarity {
    base: LossBase,
    axis: i64,
}

impl CosineSimilarity {
    /// With Keras' defaults (axis -1).
    pub fn new() -> Self {
        Self::with_base(LossBase::new("cosine_similarity"))
    }

    pub(crate) fn with_base(base: LossBase) -> Self {
        CosineSimilarity { base, axis: -1 }
    }

    /// The axis the vectors lie along.
    pub fn axis(mut self, axis: i64) -> Self {
        self.axis = axis;
        self
    }

    pub(crate) fn from_reader(c: &mut ConfigReader<'_>) -> Result<Self> {
        let mut l = Self::new();
        l.base.read(c)?;
        l.axis = c.i64_or("axis", -1)?;
        Ok(l)
    }
}

impl Default for CosineSimilarity {
    fn default() -> Self {
        Self::new()
    }
}

loss_common!(CosineSimilarity);

impl Loss for CosineSimilarity {
    fn name(&self) -> &str {
        &self.base.name
    }
    fn config(&self) -> Value {
        self.base.config("CosineSimilarity", Map::new())
    }
    fn reduction(&self) -> Reduction {
        self.base.reduction
    }
    fn per_entry(&self, y_true: ArrayViewD<'_, f32>, pred: &Prediction<'_>) -> Result<PerEntry> {
        let what = "cosine_similarity";
        let a = align(y_true, pred, what)?;
        let t = a.y_true_like_pred(what)?;
        let p = &a.y_pred;
        let axis = resolve_axis(self.axis, p.ndim(), what)?;
        let cap = f32_of(1.0 / EPSILON);
        let inv_norm = |lane: ndarray::ArrayView1<'_, f32>| {
            let s = sum_f32(lane.iter().map(|&x| x * x));
            1.0 / s.sqrt()
        };
        let mut values = ArrayD::<f32>::zeros(IxDyn(&shape_without(p.shape(), axis)));
        let mut grad = ArrayD::<f32>::zeros(IxDyn(p.shape()));
        Zip::from(&mut values)
            .and(t.lanes(Axis(axis)))
            .and(p.lanes(Axis(axis)))
            .and(grad.lanes_mut(Axis(axis)))
            .for_each(|v, t, p, mut g| {
                let rt = inv_norm(t).min(cap);
                let rs = inv_norm(p);
                let rp = rs.min(cap);
                let tn: Vec<f32> = t.iter().map(|&x| x * rt).collect();
                *v = -sum_f32(tn.iter().zip(p.iter()).map(|(&a, &b)| a * (b * rp)));
                // pn = p * r: the direct part, and through r = rsqrt(sum p²) when it was not capped.
                let dr = -sum_f32(tn.iter().zip(p.iter()).map(|(&a, &b)| a * b));
                let ds = if rs <= cap {
                    dr * (-0.5 * (rp * rp * rp))
                } else {
                    0.0
                };
                Zip::from(&mut g)
                    .and(&ndarray::ArrayView1::from(&tn))
                    .and(&p)
                    .for_each(|g, &tn, &p| {
                        *g = -tn * rp + ds * (2.0 * p);
                    });
            });
        a.finish(values, grad, Wrt::Output, vec![axis], None)
    }
}
