//! Categorical, sparse categorical and binary cross-entropy, computed as TensorFlow's kernels
//! compute them (and with TensorFlow's registered gradients).

use ndarray::{ArrayD, ArrayView1, ArrayViewMut1, Axis, IxDyn, Zip};
use tensorweave_core::Result;

use super::macros::loss;
use super::{per_lane, Aligned, Call, PerEntry, Wrt};
use crate::array::resolve_axis;
use crate::config::ConfigReader;
use crate::util::{f32_of, input_err, shape_str, sum_f32, EPSILON};

/// The clip bounds of the probability paths: `[epsilon, 1 - epsilon]` in float32.
fn clip_bounds() -> (f32, f32) {
    (f32_of(EPSILON), f32_of(1.0 - EPSILON))
}

fn same_shape(what: &str, target: &ArrayD<f32>, output: &ArrayD<f32>) -> Result<()> {
    if target.shape() != output.shape() {
        return Err(input_err(format!(
            "{what}: target {} and output {} must have the same shape (Keras raises the same)",
            shape_str(target.shape()),
            shape_str(output.shape())
        )));
    }
    if target.ndim() == 0 {
        return Err(input_err(format!("{what}: needs arrays of rank >= 1")));
    }
    Ok(())
}

/// TensorFlow's softmax cross-entropy on one lane: returns the loss and writes
/// `softmax(z) - labels` (the registered gradient, also when the labels do not sum to 1).
fn softmax_xent_lane(
    z: ArrayView1<'_, f32>,
    t: ArrayView1<'_, f32>,
    mut g: ArrayViewMut1<'_, f32>,
) -> f32 {
    let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum_exp = sum_f32(z.iter().map(|&x| (x - max).exp()));
    let log_sum = sum_exp.ln();
    let loss = sum_f32(
        z.iter()
            .zip(t.iter())
            .map(|(&x, &t)| t * (log_sum - (x - max))),
    );
    Zip::from(&mut g)
        .and(&z)
        .and(&t)
        .for_each(|g, &x, &t| *g = (x - max).exp() / sum_exp - t);
    loss
}

loss! {
    /// Categorical cross-entropy (`keras.losses.CategoricalCrossentropy`).
    pub struct CategoricalCrossentropy("CategoricalCrossentropy", "categorical_crossentropy");

    /// Binary cross-entropy (`keras.losses.BinaryCrossentropy`), averaged over `axis`.
    pub struct BinaryCrossentropy("BinaryCrossentropy", "binary_crossentropy");

    options {
        /// Whether the output is logits (the cached logits of a softmax or sigmoid output are
        /// used regardless).
        from_logits: bool = false,
        /// Label smoothing `s`: categorical targets become `t·(1 - s) + s / classes` (classes =
        /// the LAST axis' size, as in Keras, even when `axis` is another), binary ones
        /// `t·(1 - s) + s/2`.
        label_smoothing: f64 = 0.0,
        /// The class axis (categorical) or the axis the element losses are averaged over
        /// (binary); default -1.
        axis: i64 = -1,
    }
}

impl Call for CategoricalCrossentropy {
    fn call(&self, a: Aligned) -> Result<PerEntry> {
        let what = a.what;
        let mut target = a.y_true.clone();
        if self.label_smoothing != 0.0 {
            let classes = target.shape().last().copied().unwrap_or(1) as f32;
            let keep = f32_of(1.0 - self.label_smoothing);
            let add = f32_of(self.label_smoothing) / classes;
            target.mapv_inplace(|t| t * keep + add);
        }
        let (input, from_logits, wrt) = a.ce_input(self.from_logits);
        same_shape(what, &target, input)?;
        let axis = resolve_axis(self.axis, input.ndim(), what)?;
        if input.shape()[axis] == 0 {
            return Err(input_err(format!("{what}: the class axis is empty")));
        }
        let (values, grad) = if from_logits {
            per_lane(input, &target, axis, softmax_xent_lane)
        } else {
            let (lo, hi) = clip_bounds();
            per_lane(input, &target, axis, |o, t, mut g| {
                // output / sum(output), clipped, then -sum(t * log(q)).
                let s = sum_f32(o.iter().copied());
                let q: Vec<f32> = o.iter().map(|&x| x / s).collect();
                let c: Vec<f32> = q.iter().map(|&x| x.clamp(lo, hi)).collect();
                let loss = -sum_f32(t.iter().zip(&c).map(|(&t, &c)| t * c.ln()));
                // d/dq (clip passes the gradient where lo <= q <= hi), then through q = o / s.
                let dq: Vec<f32> = q
                    .iter()
                    .zip(&c)
                    .zip(t.iter())
                    .map(|((&q, &c), &t)| {
                        if (lo..=hi).contains(&q) {
                            -t * (1.0 / c)
                        } else {
                            0.0
                        }
                    })
                    .collect();
                let ds = sum_f32(dq.iter().zip(o.iter()).map(|(&d, &o)| d * ((-o / s) / s)));
                Zip::from(&mut g)
                    .and(&ndarray::ArrayView1::from(&dq))
                    .for_each(|g, &d| *g = d / s + ds);
                loss
            })
        };
        a.finish(values, grad, wrt, vec![axis], None)
    }
}

loss! {
    /// Sparse categorical cross-entropy (`keras.losses.SparseCategoricalCrossentropy`): integer
    /// class labels (given as floats, truncated like TensorFlow's cast), classes on the last axis.
    pub struct SparseCategoricalCrossentropy(
        "SparseCategoricalCrossentropy",
        "sparse_categorical_crossentropy"
    );

    options {
        /// Whether the output is logits (cached logits of a softmax output are used regardless,
        /// unless `ignore_class` is set).
        from_logits: bool = false,
        /// A label value whose entries are masked out. Keras then replaces `y_pred`, which drops
        /// the cached logits: the clipped-probability path runs even on a softmax output.
        ignore_class: Option<i64> = None,
    }
}

impl Call for SparseCategoricalCrossentropy {
    fn check_config(c: &mut ConfigReader<'_>) -> Result<()> {
        let axis = c.i64_or("axis", -1)?;
        if axis != -1 {
            return Err(input_err(format!(
                "{}: only axis=-1 is supported (as with Keras' TensorFlow backend), got {axis}",
                c.what()
            )));
        }
        Ok(())
    }

    fn call(&self, a: Aligned) -> Result<PerEntry> {
        let what = a.what;
        let out_rank = a.y_pred.ndim();
        if out_rank == 0 {
            return Err(input_err(format!("{what}: the output must have rank >= 1")));
        }
        let mut labels = a.y_true.clone();
        if labels.ndim() == out_rank && labels.shape()[out_rank - 1] == 1 {
            labels = labels.index_axis_move(Axis(out_rank - 1), 0);
        }
        let class_shape = &a.y_pred.shape()[..out_rank - 1];
        if labels.shape() != class_shape {
            return Err(input_err(format!(
                "{what}: labels {} must have the output's shape {} without its class axis (Keras raises the same)",
                shape_str(labels.shape()),
                shape_str(a.y_pred.shape())
            )));
        }
        // ignore_class replaces y_pred (losing the cached logits) and zeroes the ignored rows.
        let (mut input, from_logits, wrt, valid) = match self.ignore_class {
            Some(ignore) => {
                let ignore = ignore as f32;
                let valid = labels.mapv(|l| l != ignore);
                Zip::from(&mut labels).and(&valid).for_each(|l, &v| {
                    if !v {
                        *l = 0.0
                    }
                });
                let mut input = a.y_pred.clone();
                Zip::from(input.lanes_mut(Axis(out_rank - 1)))
                    .and(&valid)
                    .for_each(|mut lane, &v| {
                        if !v {
                            lane.fill(0.0)
                        }
                    });
                (input, self.from_logits, Wrt::Output, Some(valid))
            }
            None => {
                let (input, from_logits, wrt) = a.ce_input(self.from_logits);
                (input.clone(), from_logits, wrt, None)
            }
        };
        let classes = input.shape()[out_rank - 1];
        let mut idx = Vec::with_capacity(labels.len());
        for &l in labels.iter() {
            let i = l as i64; // TensorFlow's float -> int64 cast truncates
            if l.is_nan() || i < 0 || i as usize >= classes {
                return Err(input_err(format!(
                    "{what}: received a label value of {l} which is outside the valid range of [0, {classes})"
                )));
            }
            idx.push(i as usize);
        }
        let (lo, hi) = clip_bounds();
        let probs = if from_logits {
            None
        } else {
            let p = input.clone();
            input.mapv_inplace(|x| x.clamp(lo, hi).ln());
            Some(p)
        };
        let idx = ArrayD::from_shape_vec(IxDyn(labels.shape()), idx)
            .map_err(|e| input_err(format!("{what}: {e}")))?;
        let mut values = ArrayD::<f32>::zeros(IxDyn(labels.shape()));
        let mut grad = ArrayD::<f32>::zeros(IxDyn(input.shape()));
        Zip::from(&mut values)
            .and(input.lanes(Axis(out_rank - 1)))
            .and(&idx)
            .and(grad.lanes_mut(Axis(out_rank - 1)))
            .for_each(|v, z, &label, mut g| {
                let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let sum_exp = sum_f32(z.iter().map(|&x| (x - max).exp()));
                *v = sum_exp.ln() - (z[label] - max);
                Zip::indexed(&mut g).and(&z).for_each(|j, g, &x| {
                    *g = (x - max).exp() / sum_exp - if j == label { 1.0 } else { 0.0 };
                });
            });
        if let Some(p) = probs {
            // Through log (grad / c) and the clip (passes where lo <= p <= hi).
            Zip::from(&mut grad).and(&p).for_each(|g, &p| {
                let c = p.clamp(lo, hi);
                *g = if (lo..=hi).contains(&p) {
                    *g * (1.0 / c)
                } else {
                    0.0
                };
            });
        }
        if let Some(valid) = &valid {
            Zip::from(&mut values).and(valid).for_each(|v, &ok| {
                if !ok {
                    *v = 0.0
                }
            });
            Zip::from(grad.lanes_mut(Axis(out_rank - 1)))
                .and(valid)
                .for_each(|mut lane, &ok| {
                    if !ok {
                        lane.fill(0.0)
                    }
                });
        }
        // Entries are the output's positions without its class axis; a (B, 1) label column
        // does not add an axis.
        a.finish(values, grad, wrt, vec![out_rank - 1], valid)
    }
}

impl Call for BinaryCrossentropy {
    fn call(&self, a: Aligned) -> Result<PerEntry> {
        let what = a.what;
        let mut target = a.y_true.clone();
        if self.label_smoothing != 0.0 {
            let keep = f32_of(1.0 - self.label_smoothing);
            let add = f32_of(0.5 * self.label_smoothing);
            target.mapv_inplace(|t| t * keep + add);
        }
        let (input, from_logits, wrt) = a.ce_input(self.from_logits);
        same_shape(what, &target, input)?;
        let mut elem = ArrayD::<f32>::zeros(IxDyn(input.shape()));
        let mut grad = ArrayD::<f32>::zeros(IxDyn(input.shape()));
        if from_logits {
            // tf.nn.sigmoid_cross_entropy_with_logits and its autodiff gradient.
            Zip::from(&mut elem)
                .and(&mut grad)
                .and(input)
                .and(&target)
                .for_each(|e, g, &x, &t| {
                    let pos = x >= 0.0;
                    let relu = if pos { x } else { 0.0 };
                    let neg_abs = if pos { -x } else { x };
                    let ex = neg_abs.exp();
                    *e = relu - x * t + ex.ln_1p();
                    let dlog = (1.0 / (1.0 + ex)) * ex;
                    *g = if pos { 1.0 - t - dlog } else { -t + dlog };
                });
        } else {
            let (lo, hi) = clip_bounds();
            Zip::from(&mut elem)
                .and(&mut grad)
                .and(input)
                .and(&target)
                .for_each(|e, g, &o, &t| {
                    let c = o.clamp(lo, hi);
                    let bce = t * c.ln() + (1.0 - t) * (1.0 - c).ln();
                    *e = -bce;
                    *g = if (lo..=hi).contains(&o) {
                        -(t * (1.0 / c) - (1.0 - t) * (1.0 / (1.0 - c)))
                    } else {
                        0.0
                    };
                });
        }
        let axis = resolve_axis(self.axis, input.ndim(), what)?;
        a.mean_over(elem, grad, axis, wrt)
    }
}
