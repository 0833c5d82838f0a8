//! Mean squared / absolute error, Huber, KL divergence, hinge and cosine similarity.

use ndarray::{ArrayD, Axis, IxDyn, Zip};
use tensorweave_core::Result;

use super::macros::loss;
use super::{per_lane, Aligned, Call, PerEntry, Wrt};
use crate::array::resolve_axis;
use crate::util::{f32_of, input_err, sum_f32, tf_sign, EPSILON};

impl Aligned {
    /// Element losses and gradients `f(t, p)` over `y_true` (broadcast to `y_pred`) and `y_pred`,
    /// and the last axis (which the regression losses reduce).
    fn elementwise(
        &self,
        f: impl Fn(f32, f32) -> (f32, f32),
    ) -> Result<(ArrayD<f32>, ArrayD<f32>, usize)> {
        let t = self.y_true_like_pred()?;
        let Some(last) = t.ndim().checked_sub(1) else {
            return Err(input_err(format!(
                "{}: needs arrays of rank >= 1",
                self.what
            )));
        };
        let mut elem = ArrayD::<f32>::zeros(IxDyn(self.y_pred.shape()));
        let mut grad = ArrayD::<f32>::zeros(IxDyn(self.y_pred.shape()));
        Zip::from(&mut elem)
            .and(&mut grad)
            .and(&t)
            .and(&self.y_pred)
            .for_each(|e, g, &t, &p| (*e, *g) = f(t, p));
        Ok((elem, grad, last))
    }

    /// Element losses and gradients `f(t, p)` averaged over the last axis (Keras'
    /// `ops.mean(…, axis=-1)`).
    fn mean_last(&self, f: impl Fn(f32, f32) -> (f32, f32)) -> Result<PerEntry> {
        let (elem, grad, last) = self.elementwise(f)?;
        self.mean_over(elem, grad, last, Wrt::Output)
    }
}

loss! {
    /// Mean squared error over the last axis.
    pub struct MeanSquaredError("MeanSquaredError", "mean_squared_error");

    /// Mean absolute error over the last axis.
    pub struct MeanAbsoluteError("MeanAbsoluteError", "mean_absolute_error");

    /// KL divergence `sum(t·log(t/p))` over the last axis, both clipped to `[1e-7, 1]`.
    pub struct KlDivergence("KLDivergence", "kl_divergence");

    /// Hinge `mean(max(1 - t·p, 0))` over the last axis; labels that are all 0/1 become -1/1.
    pub struct Hinge("Hinge", "hinge");
}

impl Call for MeanSquaredError {
    fn call(&self, a: Aligned) -> Result<PerEntry> {
        a.mean_last(|t, p| {
            let d = t - p;
            (d * d, -(2.0 * d))
        })
    }
}

impl Call for MeanAbsoluteError {
    fn call(&self, a: Aligned) -> Result<PerEntry> {
        a.mean_last(|t, p| {
            let d = t - p;
            (d.abs(), -tf_sign(d))
        })
    }
}

impl Call for KlDivergence {
    fn call(&self, a: Aligned) -> Result<PerEntry> {
        let eps = f32_of(EPSILON);
        let (elem, grad, last) = a.elementwise(|t, p| {
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
        let values = elem.map_axis(Axis(last), |lane| sum_f32(lane.iter().copied()));
        a.finish(values, grad, Wrt::Output, vec![last], None)
    }
}

impl Call for Hinge {
    fn call(&self, mut a: Aligned) -> Result<PerEntry> {
        // Keras converts 0/1 labels to -1/1 only when ALL labels are 0 or 1.
        if a.y_true.iter().all(|&t| t == 0.0 || t == 1.0) {
            a.y_true.mapv_inplace(|t| 2.0 * t - 1.0);
        }
        a.mean_last(|t, p| {
            let margin = 1.0 - t * p;
            // Maximum passes the gradient to its first operand on ties.
            (margin.max(0.0), if margin >= 0.0 { -t } else { 0.0 })
        })
    }
}

loss! {
    /// Huber loss over the last axis: `0.5·e²` where `|e| <= delta`, else `delta·|e| - 0.5·delta²`.
    ///
    /// Keras' `Huber.get_config` does not save `delta` (a loaded Huber loss has delta 1); this
    /// crate's [`Loss::config`](super::Loss::config) mirrors that.
    pub struct Huber("Huber", "huber_loss");

    unsaved options {
        /// The threshold between the quadratic and linear parts (default 1).
        delta: f64 = 1.0,
    }
}

impl Call for Huber {
    fn call(&self, a: Aligned) -> Result<PerEntry> {
        let delta = f32_of(self.delta);
        let half = 0.5f32;
        a.mean_last(|t, p| {
            let err = p - t;
            let abs = err.abs();
            if abs <= delta {
                (half * (err * err), err)
            } else {
                (delta * abs - half * (delta * delta), delta * tf_sign(err))
            }
        })
    }
}

loss! {
    /// Cosine similarity loss `-sum(l2_normalize(t)·l2_normalize(p))` over `axis` (the inverse
    /// norm is capped at `1/1e-7`, so an all-zero row gives 0).
    ///
    /// Keras' `CosineSimilarity.get_config` does not save `axis`;
    /// [`Loss::config`](super::Loss::config) mirrors that.
    pub struct CosineSimilarity("CosineSimilarity", "cosine_similarity");

    unsaved options {
        /// The axis the vectors lie along (default -1).
        axis: i64 = -1,
    }
}

impl Call for CosineSimilarity {
    fn call(&self, a: Aligned) -> Result<PerEntry> {
        let t = a.y_true_like_pred()?;
        let p = &a.y_pred;
        let axis = resolve_axis(self.axis, p.ndim(), a.what)?;
        let cap = f32_of(1.0 / EPSILON);
        let inv_norm = |lane: ndarray::ArrayView1<'_, f32>| {
            let s = sum_f32(lane.iter().map(|&x| x * x));
            1.0 / s.sqrt()
        };
        let (values, grad) = per_lane(p, &t, axis, |p, t, mut g| {
            let rt = inv_norm(t).min(cap);
            let rs = inv_norm(p);
            let rp = rs.min(cap);
            let tn: Vec<f32> = t.iter().map(|&x| x * rt).collect();
            let loss = -sum_f32(tn.iter().zip(p.iter()).map(|(&a, &b)| a * (b * rp)));
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
            loss
        });
        a.finish(values, grad, Wrt::Output, vec![axis], None)
    }
}
