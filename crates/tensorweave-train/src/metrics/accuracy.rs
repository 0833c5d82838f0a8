//! The `MeanMetricWrapper` metrics: accuracies and mean errors. Each computes one value per
//! sample, weights it by the sample weight and the output's mask (0/1), and keeps a float32
//! [`Mean`].

use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn, Zip};
use tensorweave_core::Result;

use super::mean::{masked_weights, Mean};
use super::{Batch, State};
use crate::array::{apply_change, broadcast_both, squeeze_or_expand};
use crate::losses::{Loss, Prediction};
use crate::util::{input_err, shape_str};

/// The per-sample function of a wrapped metric.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SampleFn {
    Accuracy,
    Binary { threshold: f64 },
    Categorical,
    SparseCategorical,
    TopK { k: usize },
    SparseTopK { k: usize },
    MeanSquaredError,
    MeanAbsoluteError,
}

/// Element-wise `a == b` (with broadcasting) as 1.0/0.0.
fn equal(a: &ArrayD<f32>, b: &ArrayD<f32>, what: &str) -> Result<ArrayD<f32>> {
    let (a, b) = broadcast_both(a.view(), b.view(), what)?;
    Ok(Zip::from(&a)
        .and(&b)
        .map_collect(|&x, &y| if x == y { 1.0 } else { 0.0 }))
}

/// `argmax` over the last axis, the first index among equal maxima (as TensorFlow).
fn argmax_last(a: &ArrayD<f32>, what: &str) -> Result<ArrayD<f32>> {
    if a.ndim() == 0 || a.shape()[a.ndim() - 1] == 0 {
        return Err(input_err(format!(
            "{what}: argmax needs a non-empty last axis, got shape {}",
            shape_str(a.shape())
        )));
    }
    Ok(a.map_axis(Axis(a.ndim() - 1), |lane| {
        let mut best = 0;
        for (j, &x) in lane.iter().enumerate() {
            if x > lane[best] {
                best = j;
            }
        }
        best as f32
    }))
}

/// TensorFlow's `in_top_k`: the target is in the top k when fewer than k classes score
/// strictly higher (ties at the boundary count as in); false for out-of-range targets and
/// non-finite scores.
fn in_top_k(targets: &[i64], preds: &ArrayD<f32>, k: usize, what: &str) -> Result<Vec<f32>> {
    let classes = preds.shape().last().copied().unwrap_or(0);
    let rows = preds.len().checked_div(classes).unwrap_or(0);
    if rows != targets.len() {
        return Err(input_err(format!(
            "{what}: {} targets for {rows} rows of predictions {}",
            targets.len(),
            shape_str(preds.shape())
        )));
    }
    let data: Vec<f32> = preds.iter().copied().collect();
    Ok(targets
        .iter()
        .enumerate()
        .map(|(r, &t)| {
            let row = &data[r * classes..(r + 1) * classes];
            if t < 0
                || t as usize >= classes
                || !row[t as usize].is_finite()
                || row.iter().any(|x| !x.is_finite())
            {
                return 0.0;
            }
            let target = row[t as usize];
            let higher = row.iter().filter(|&&x| x > target).count();
            if higher < k {
                1.0
            } else {
                0.0
            }
        })
        .collect())
}

/// Top-k matches for class targets `labels` against `y_pred` rows, reshaped as Keras does.
fn top_k_matches(
    labels: ArrayD<f32>,
    y_pred: &ArrayD<f32>,
    k: usize,
    what: &str,
) -> Result<ArrayD<f32>> {
    let label_shape = labels.shape().to_vec();
    let targets: Vec<i64> = labels.iter().map(|&l| l as i64).collect();
    let matches = in_top_k(&targets, y_pred, k, what)?;
    let shape = if label_shape.len() > 1 {
        label_shape
    } else {
        vec![matches.len()]
    };
    ArrayD::from_shape_vec(IxDyn(&shape), matches).map_err(|e| input_err(format!("{what}: {e}")))
}

impl SampleFn {
    /// The per-sample values (Keras' metric function result).
    pub(crate) fn values(
        &self,
        y_true: ArrayViewD<'_, f32>,
        y_pred: ArrayViewD<'_, f32>,
        what: &str,
    ) -> Result<ArrayD<f32>> {
        let y_true = y_true.to_owned();
        let y_pred = y_pred.to_owned();
        match self {
            SampleFn::Accuracy => {
                let (ct, cp) = squeeze_or_expand(y_true.shape(), y_pred.shape(), true);
                equal(&apply_change(y_true, ct), &apply_change(y_pred, cp), what)
            }
            SampleFn::Binary { threshold } => {
                let (ct, cp) = squeeze_or_expand(y_true.shape(), y_pred.shape(), true);
                let t = apply_change(y_true, ct);
                let thr = *threshold as f32;
                let p = apply_change(y_pred, cp).mapv(|x| if x > thr { 1.0 } else { 0.0 });
                equal(&t, &p, what)
            }
            SampleFn::Categorical => {
                let t = argmax_last(&y_true, what)?;
                let p = argmax_last(&y_pred, what)?;
                equal(&t, &p, what)
            }
            SampleFn::SparseCategorical => {
                let mut t = y_true;
                let org_shape = t.shape().to_vec();
                let reshape = t.ndim() == y_pred.ndim() && t.shape().last() == Some(&1);
                if reshape {
                    let last = t.ndim() - 1;
                    t = t.index_axis_move(Axis(last), 0);
                }
                let p = argmax_last(&y_pred, what)?;
                let mut m = equal(&t, &p, what)?;
                if reshape {
                    m = m
                        .into_shape_with_order(IxDyn(&org_shape))
                        .map_err(|e| input_err(format!("{what}: {e}")))?;
                }
                if m.ndim() > 1 && m.shape().last() == Some(&1) {
                    let last = m.ndim() - 1;
                    m = m.index_axis_move(Axis(last), 0);
                }
                Ok(m)
            }
            SampleFn::TopK { k } => {
                let t = argmax_last(&y_true, what)?;
                top_k_matches(t, &y_pred, *k, what)
            }
            SampleFn::SparseTopK { k } => top_k_matches(y_true, &y_pred, *k, what),
            SampleFn::MeanSquaredError => Ok(crate::losses::MeanSquaredError::new()
                .per_entry(y_true.view(), &Prediction::new(y_pred.view()))?
                .values),
            SampleFn::MeanAbsoluteError => Ok(crate::losses::MeanAbsoluteError::new()
                .per_entry(y_true.view(), &Prediction::new(y_pred.view()))?
                .values),
        }
    }
}

/// The state of a `MeanMetricWrapper` metric.
#[derive(Debug, Clone)]
pub(crate) struct Wrapped {
    pub f: SampleFn,
    pub mean: Mean,
}

impl Wrapped {
    fn update(&mut self, b: Batch<'_>) -> Result<()> {
        let what = format!("metric '{}'", self.mean.name());
        let values = self.f.values(b.y_true, b.y_pred, &what)?;
        let sw = masked_weights(b.sample_weight, b.mask)?;
        self.mean
            .update(values.view(), sw.as_ref().map(|s| s.view()))
    }
}

macro_rules! wrapped_metric {
    ($(#[$doc:meta])* $t:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $t {
            inner: Wrapped,
        }

        impl $t {
            /// Renames the metric (the name Keras logs it under).
            pub fn named(mut self, name: impl Into<String>) -> Self {
                self.inner.mean = Mean::new(name);
                self
            }
        }

        impl State for $t {
            fn name(&self) -> &str {
                self.inner.mean.name()
            }
            fn update_state(&mut self, b: Batch<'_>) -> Result<()> {
                self.inner.update(b)
            }
            fn result(&self) -> f32 {
                self.inner.mean.result()
            }
            fn reset_state(&mut self) {
                self.inner.mean.reset()
            }
        }
    };
}

wrapped_metric!(
    /// `Accuracy`: how often `y_true == y_pred` exactly.
    Accuracy
);
wrapped_metric!(
    /// `BinaryAccuracy`: how often `y_true == (y_pred > threshold)` (threshold 0.5, also on
    /// logits).
    BinaryAccuracy
);
wrapped_metric!(
    /// `CategoricalAccuracy`: `argmax(y_true) == argmax(y_pred)` over the last axis.
    CategoricalAccuracy
);
wrapped_metric!(
    /// `SparseCategoricalAccuracy`: class labels against `argmax(y_pred)`.
    SparseCategoricalAccuracy
);
wrapped_metric!(
    /// `TopKCategoricalAccuracy`: `argmax(y_true)` among the k highest scores (default k=5).
    TopKCategoricalAccuracy
);
wrapped_metric!(
    /// `SparseTopKCategoricalAccuracy`: class labels among the k highest scores (default k=5).
    SparseTopKCategoricalAccuracy
);
wrapped_metric!(
    /// `MeanSquaredError` as a metric: the mean over samples of the mean squared error.
    MeanSquaredError
);
wrapped_metric!(
    /// `MeanAbsoluteError` as a metric.
    MeanAbsoluteError
);

fn wrapped(name: &str, f: SampleFn) -> Wrapped {
    Wrapped {
        f,
        mean: Mean::new(name),
    }
}

impl Accuracy {
    /// Named `accuracy`.
    pub fn new() -> Self {
        Accuracy {
            inner: wrapped("accuracy", SampleFn::Accuracy),
        }
    }
}

impl BinaryAccuracy {
    /// Named `binary_accuracy`, threshold 0.5.
    pub fn new() -> Self {
        BinaryAccuracy {
            inner: wrapped("binary_accuracy", SampleFn::Binary { threshold: 0.5 }),
        }
    }

    /// Predictions above this count as 1.
    pub fn threshold(mut self, threshold: f64) -> Self {
        self.inner.f = SampleFn::Binary { threshold };
        self
    }
}

impl CategoricalAccuracy {
    /// Named `categorical_accuracy`.
    pub fn new() -> Self {
        CategoricalAccuracy {
            inner: wrapped("categorical_accuracy", SampleFn::Categorical),
        }
    }
}

impl SparseCategoricalAccuracy {
    /// Named `sparse_categorical_accuracy`.
    pub fn new() -> Self {
        SparseCategoricalAccuracy {
            inner: wrapped("sparse_categorical_accuracy", SampleFn::SparseCategorical),
        }
    }
}

impl TopKCategoricalAccuracy {
    /// Named `top_k_categorical_accuracy`.
    pub fn new(k: usize) -> Self {
        TopKCategoricalAccuracy {
            inner: wrapped("top_k_categorical_accuracy", SampleFn::TopK { k }),
        }
    }
}

impl SparseTopKCategoricalAccuracy {
    /// Named `sparse_top_k_categorical_accuracy`.
    pub fn new(k: usize) -> Self {
        SparseTopKCategoricalAccuracy {
            inner: wrapped(
                "sparse_top_k_categorical_accuracy",
                SampleFn::SparseTopK { k },
            ),
        }
    }
}

impl MeanSquaredError {
    /// Named `mean_squared_error`.
    pub fn new() -> Self {
        MeanSquaredError {
            inner: wrapped("mean_squared_error", SampleFn::MeanSquaredError),
        }
    }
}

impl MeanAbsoluteError {
    /// Named `mean_absolute_error`.
    pub fn new() -> Self {
        MeanAbsoluteError {
            inner: wrapped("mean_absolute_error", SampleFn::MeanAbsoluteError),
        }
    }
}

macro_rules! default_new {
    ($($t:ident),*) => {
        $(impl Default for $t {
            fn default() -> Self {
                Self::new()
            }
        })*
    };
}
default_new!(
    Accuracy,
    BinaryAccuracy,
    CategoricalAccuracy,
    SparseCategoricalAccuracy,
    MeanSquaredError,
    MeanAbsoluteError
);

impl Default for TopKCategoricalAccuracy {
    fn default() -> Self {
        Self::new(5)
    }
}

impl Default for SparseTopKCategoricalAccuracy {
    fn default() -> Self {
        Self::new(5)
    }
}
