//! Keras' confusion-matrix accumulation (`update_confusion_matrix_variables`) and the
//! `Precision` and `Recall` metrics built on it. These metrics ignore the output's mask, as in
//! Keras.

use ndarray::{ArrayD, ArrayViewD, Axis, Slice};
use serde_json::Value;
use tensorweave_core::Result;

use super::{Batch, State};
use crate::array::{apply_change, broadcast_to, squeeze_or_expand, RankChange};
use crate::config::ConfigReader;
use crate::util::{config_err, div_no_nan, input_err, shape_str, sum_f32};

/// Keras' `NEG_INF` for `top_k` filtering.
const NEG_INF: f32 = -1e10;

/// Accumulated true/false positives/negatives per threshold (float32, as Keras' variables).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Confusion {
    /// The thresholds as float32 (what Keras compares against).
    pub thresholds: Vec<f32>,
    /// Keras' `thresholds_distributed_evenly`: buckets instead of comparisons.
    pub evenly: bool,
    pub tp: Vec<f32>,
    pub fp: Vec<f32>,
    pub tn: Vec<f32>,
    pub fn_: Vec<f32>,
}

/// NumPy's `allclose(thresholds, arange(n, float32) / (n - 1), atol=1e-7)`.
pub(crate) fn evenly_distributed(thresholds: &[f64]) -> bool {
    let n = thresholds.len();
    if n < 3 {
        return false;
    }
    thresholds.iter().enumerate().all(|(i, &t)| {
        let even = f64::from(i as f32 / (n - 1) as f32);
        (t - even).abs() <= 1e-7 + 1e-5 * even.abs()
    })
}

impl Confusion {
    pub(crate) fn new(thresholds: &[f64], evenly: bool) -> Self {
        let n = thresholds.len();
        Confusion {
            thresholds: thresholds.iter().map(|&t| t as f32).collect(),
            evenly,
            tp: vec![0.0; n],
            fp: vec![0.0; n],
            tn: vec![0.0; n],
            fn_: vec![0.0; n],
        }
    }

    pub(crate) fn reset(&mut self) {
        for v in [&mut self.tp, &mut self.fp, &mut self.tn, &mut self.fn_] {
            v.iter_mut().for_each(|x| *x = 0.0);
        }
    }

    /// Adds one batch. `top_k` keeps only each row's k highest scores; `class_id` looks at one
    /// class column.
    pub(crate) fn update(
        &mut self,
        y_true: ArrayViewD<'_, f32>,
        y_pred: ArrayViewD<'_, f32>,
        sample_weight: Option<ArrayViewD<'_, f32>>,
        top_k: Option<usize>,
        class_id: Option<usize>,
        what: &str,
    ) -> Result<()> {
        let (cp, ct) = squeeze_or_expand(y_pred.shape(), y_true.shape(), true);
        let mut y_pred = apply_change(y_pred.to_owned(), cp);
        let mut y_true = apply_change(y_true.to_owned(), ct);
        let sw = match sample_weight {
            Some(sw) => {
                let sw = apply_change(sw.to_owned(), RankChange::ExpandedLast);
                let (_, cs) = squeeze_or_expand(y_true.shape(), sw.shape(), false);
                Some(apply_change(sw, cs))
            }
            None => None,
        };
        if let Some(k) = top_k {
            y_pred = filter_top_k(y_pred, k, what)?;
        }
        let sw = match class_id {
            Some(c) => {
                if y_pred.ndim() < 2 {
                    return Err(input_err(format!(
                        "{what}: class_id needs y_pred of shape (samples, classes), got {}",
                        shape_str(y_pred.shape())
                    )));
                }
                y_true = class_column(y_true, c, what)?;
                y_pred = class_column(y_pred, c, what)?;
                sw
            }
            None => sw,
        };
        if y_true.len() != y_pred.len() {
            return Err(input_err(format!(
                "{what}: y_true {} and y_pred {} have different sizes",
                shape_str(y_true.shape()),
                shape_str(y_pred.shape())
            )));
        }
        let weights: Option<Vec<f32>> = match sw {
            Some(s) => Some(
                broadcast_to(s.view(), y_pred.shape(), what)?
                    .iter()
                    .copied()
                    .collect(),
            ),
            None => None,
        };
        let labels: Vec<f32> = y_true.iter().copied().collect();
        let preds: Vec<f32> = y_pred.iter().copied().collect();
        if self.evenly {
            self.update_buckets(&labels, &preds, weights.as_deref());
        } else {
            self.update_compare(&labels, &preds, weights.as_deref());
        }
        Ok(())
    }

    /// The general path: compare every prediction with every threshold.
    fn update_compare(&mut self, labels: &[f32], preds: &[f32], weights: Option<&[f32]>) {
        for (i, &thr) in self.thresholds.iter().enumerate() {
            let (mut tp, mut fp, mut tn, mut fn_) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for (j, (&l, &p)) in labels.iter().zip(preds).enumerate() {
                let w = weights.map_or(1.0, |w| w[j]);
                let pos_label = l != 0.0;
                let pos_pred = p > thr;
                match (pos_label, pos_pred) {
                    (true, true) => tp.push(w),
                    (false, true) => fp.push(w),
                    (false, false) => tn.push(w),
                    (true, false) => fn_.push(w),
                }
            }
            self.tp[i] += sum_f32(tp);
            self.fp[i] += sum_f32(fp);
            self.tn[i] += sum_f32(tn);
            self.fn_[i] += sum_f32(fn_);
        }
    }

    /// The evenly-spaced path: bucket each prediction, then reverse cumulative sums.
    fn update_buckets(&mut self, labels: &[f32], preds: &[f32], weights: Option<&[f32]>) {
        let n = self.thresholds.len();
        let with_epsilon = self.thresholds.first().is_some_and(|&t| t < 0.0)
            || self.thresholds.last().is_some_and(|&t| t > 1.0);
        let mut tp_bucket = vec![0.0f32; n];
        let mut fp_bucket = vec![0.0f32; n];
        let mut true_labels = Vec::with_capacity(labels.len());
        let mut false_labels = Vec::with_capacity(labels.len());
        for (j, (&l, &p)) in labels.iter().zip(preds).enumerate() {
            let w = weights.map_or(1.0, |w| w[j]);
            let y = if l != 0.0 { 1.0f32 } else { 0.0 };
            let t = y * w;
            let f = (1.0 - y) * w;
            true_labels.push(t);
            false_labels.push(f);
            let p = p.clamp(0.0, 1.0);
            let mut bucket = (p * (n as f32 - 1.0)).ceil() - 1.0;
            if with_epsilon {
                bucket = bucket.max(0.0);
            }
            // unsorted_segment_sum drops negative segment ids.
            if bucket >= 0.0 && (bucket as usize) < n {
                tp_bucket[bucket as usize] += t;
                fp_bucket[bucket as usize] += f;
            }
        }
        let total_true = sum_f32(true_labels);
        let total_false = sum_f32(false_labels);
        let (mut acc_t, mut acc_f) = (0.0f32, 0.0f32);
        for i in (0..n).rev() {
            acc_t += tp_bucket[i];
            acc_f += fp_bucket[i];
            self.tp[i] += acc_t;
            self.fp[i] += acc_f;
            self.tn[i] += total_false - acc_f;
            self.fn_[i] += total_true - acc_t;
        }
    }
}

/// `x[..., c, None]`.
fn class_column(x: ArrayD<f32>, c: usize, what: &str) -> Result<ArrayD<f32>> {
    let Some(last) = x.ndim().checked_sub(1) else {
        return Err(input_err(format!(
            "{what}: class_id needs arrays with a class axis, got a scalar"
        )));
    };
    if c >= x.shape()[last] {
        return Err(input_err(format!(
            "{what}: class_id {c} is out of range for {} classes",
            x.shape()[last]
        )));
    }
    Ok(x.slice_axis(Axis(last), Slice::from(c..c + 1)).to_owned())
}

/// Keras' `_filter_top_k`: each row's k highest scores kept, the others set to -1e10.
fn filter_top_k(x: ArrayD<f32>, k: usize, what: &str) -> Result<ArrayD<f32>> {
    if x.ndim() == 0 || x.shape()[x.ndim() - 1] < k {
        return Err(input_err(format!(
            "{what}: top_k={k} needs at least {k} classes, got shape {}",
            shape_str(x.shape())
        )));
    }
    let last = x.ndim() - 1;
    let mut out = x.clone();
    for mut lane in out.lanes_mut(Axis(last)) {
        // tf.math.top_k: descending, ties by lower index.
        let mut order: Vec<usize> = (0..lane.len()).collect();
        order.sort_by(|&a, &b| {
            lane[b]
                .partial_cmp(&lane[a])
                .unwrap_or(std::cmp::Ordering::Equal)
                .then(a.cmp(&b))
        });
        let mut keep = vec![0.0f32; lane.len()];
        for &i in order.iter().take(k) {
            keep[i] = 1.0;
        }
        for (v, m) in lane.iter_mut().zip(keep) {
            *v = *v * m + NEG_INF * (1.0 - m);
        }
    }
    Ok(out)
}

/// Which ratio a [`ConfusionRatio`] metric reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ratio {
    Precision,
    Recall,
}

/// Shared state of `Precision` and `Recall`.
#[derive(Debug, Clone)]
struct ConfusionRatio {
    name: String,
    ratio: Ratio,
    /// The threshold given (the default depends on `top_k`).
    threshold: Option<f64>,
    top_k: Option<usize>,
    class_id: Option<usize>,
    confusion: Confusion,
}

impl ConfusionRatio {
    fn new(name: &str, ratio: Ratio) -> Self {
        ConfusionRatio {
            name: name.into(),
            ratio,
            threshold: None,
            top_k: None,
            class_id: None,
            confusion: Confusion::new(&[0.5], false),
        }
    }

    /// Rebuilds the confusion counts for the threshold given or Keras' default: 0.5, or
    /// NEG_INF with top_k.
    fn set_thresholds(&mut self) -> Result<()> {
        let t = match self.threshold {
            Some(t) => {
                if !(0.0..=1.0).contains(&t) {
                    return Err(config_err(format!(
                        "{}: threshold values must be in [0, 1], got {t}",
                        self.name
                    )));
                }
                t
            }
            None if self.top_k.is_some() => f64::from(NEG_INF),
            None => 0.5,
        };
        self.confusion = Confusion::new(&[t], false);
        Ok(())
    }

    /// Reads `thresholds`, `top_k` and `class_id` from a Keras config.
    fn read(&mut self, c: &mut ConfigReader<'_>) -> Result<()> {
        let non_negative = |x: i64, key: &str, c: &ConfigReader<'_>| {
            usize::try_from(x)
                .map_err(|_| config_err(format!("{}: '{key}' must be >= 0, got {x}", c.what())))
        };
        self.threshold = single_threshold(c)?;
        if let Some(k) = c.opt_i64("top_k")? {
            self.top_k = Some(non_negative(k, "top_k", c)?);
        }
        if let Some(id) = c.opt_i64("class_id")? {
            self.class_id = Some(non_negative(id, "class_id", c)?);
        }
        self.set_thresholds()
    }

    fn update(&mut self, b: Batch<'_>) -> Result<()> {
        let what = format!("metric '{}'", self.name);
        let (top_k, class_id) = (self.top_k, self.class_id);
        self.confusion
            .update(b.y_true, b.y_pred, b.sample_weight, top_k, class_id, &what)
    }

    fn result(&self) -> f32 {
        let c = &self.confusion;
        match self.ratio {
            Ratio::Precision => div_no_nan(c.tp[0], c.tp[0] + c.fp[0]),
            Ratio::Recall => div_no_nan(c.tp[0], c.tp[0] + c.fn_[0]),
        }
    }
}

/// `thresholds` as a single number (or a one-element list); several thresholds would make
/// the result a vector, which a [`Metric`](super::Metric) does not report.
fn single_threshold(c: &mut ConfigReader<'_>) -> Result<Option<f64>> {
    match c.raw("thresholds") {
        None => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(Value::Array(items)) if items.len() == 1 => Ok(items[0].as_f64()),
        Some(other) => Err(config_err(format!(
            "{}: only a single threshold is supported (several give a vector result), got {}",
            c.what(),
            crate::util::quote_json(other)
        ))),
    }
}

macro_rules! ratio_metric {
    ($(#[$doc:meta])* $t:ident, $ratio:expr, $default:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $t {
            inner: ConfusionRatio,
        }

        impl $t {
            /// With Keras' defaults: threshold 0.5, all classes.
            pub fn new() -> Self {
                $t { inner: ConfusionRatio::new($default, $ratio) }
            }

            /// Renames the metric.
            pub fn named(mut self, name: impl Into<String>) -> Self {
                self.inner.name = name.into();
                self
            }

            /// The threshold a prediction must exceed to count as positive (in `[0, 1]`).
            pub fn threshold(mut self, threshold: f64) -> Result<Self> {
                self.inner.threshold = Some(threshold);
                self.inner.set_thresholds()?;
                Ok(self)
            }

            /// Only each row's `k` highest predictions can be positive (the default threshold
            /// then becomes -1e10).
            pub fn top_k(mut self, k: usize) -> Result<Self> {
                self.inner.top_k = Some(k);
                self.inner.set_thresholds()?;
                Ok(self)
            }

            /// Looks at one class column only.
            pub fn class_id(mut self, class_id: usize) -> Self {
                self.inner.class_id = Some(class_id);
                self
            }

            /// Applies the options of a Keras config.
            pub(crate) fn read(mut self, c: &mut ConfigReader<'_>) -> Result<Self> {
                self.inner.read(c)?;
                Ok(self)
            }
        }

        impl Default for $t {
            fn default() -> Self {
                Self::new()
            }
        }

        impl State for $t {
            fn name(&self) -> &str {
                &self.inner.name
            }
            fn update_state(&mut self, b: Batch<'_>) -> Result<()> {
                self.inner.update(b)
            }
            fn result(&self) -> f32 {
                self.inner.result()
            }
            fn reset_state(&mut self) {
                self.inner.confusion.reset()
            }
        }
    };
}

ratio_metric!(
    /// `Precision`: `tp / (tp + fp)`. The output's mask is ignored, as in Keras.
    Precision,
    Ratio::Precision,
    "precision"
);
ratio_metric!(
    /// `Recall`: `tp / (tp + fn)`. The output's mask is ignored, as in Keras.
    Recall,
    Ratio::Recall,
    "recall"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evenly_spaced_thresholds_are_recognised() {
        assert!(evenly_distributed(&[0.0, 0.25, 0.5, 0.75, 1.0]));
        assert!(!evenly_distributed(&[0.0, 0.2, 0.5, 0.9, 1.0]));
        assert!(!evenly_distributed(&[0.0, 1.0]));
    }

    #[test]
    fn top_k_filter_keeps_the_highest() {
        let x = ArrayD::from_shape_vec(ndarray::IxDyn(&[1, 4]), vec![0.1, 0.9, 0.5, 0.3]).unwrap();
        let f = filter_top_k(x, 2, "t").unwrap();
        assert_eq!(
            f.iter().copied().collect::<Vec<_>>(),
            vec![NEG_INF, 0.9, 0.5, NEG_INF]
        );
    }
}
