//! Keras 3.15.1's metrics with float32 state, sample weights and masks as Keras applies them.
//!
//! The accuracies and mean errors are `MeanMetricWrapper`s: one value per sample, weighted by
//! the sample weight times the output's mask (as 0/1), accumulated in a float32 [`Mean`].
//! `Precision`, `Recall` and `AUC` accumulate confusion counts and ignore the mask, as Keras
//! does. In `compile`, Keras passes sample weights only to `weighted_metrics`; [`Metric::update`]
//! uses whatever it is given.

mod accuracy;
mod auc;
mod confusion;
mod mean;

use ndarray::ArrayViewD;
use serde_json::Value;
use tensorweave_core::Result;

pub use self::accuracy::{
    Accuracy, BinaryAccuracy, CategoricalAccuracy, MeanAbsoluteError, MeanSquaredError,
    SparseCategoricalAccuracy, SparseTopKCategoricalAccuracy, TopKCategoricalAccuracy,
};
pub use self::auc::{Auc, Curve, Summation};
pub use self::confusion::{Precision, Recall};
pub use self::mean::Mean;

use crate::config::{identifier, ConfigReader, Identifier};
use crate::losses::binary_or_sparse;
use crate::util::{config_err, quote};

/// A Keras metric: accumulates over batches, [`Metric::result`] reports the running value.
pub trait Metric: Send + std::fmt::Debug {
    /// The name Keras logs it under (`accuracy`, `acc`, `auc`, …).
    fn name(&self) -> &str;

    /// Adds one batch. `mask` is the output's Keras mask (ignored by Precision, Recall and
    /// AUC, as in Keras).
    fn update(
        &mut self,
        y_true: ArrayViewD<'_, f32>,
        y_pred: ArrayViewD<'_, f32>,
        sample_weight: Option<ArrayViewD<'_, f32>>,
        mask: Option<ArrayViewD<'_, bool>>,
    ) -> Result<()>;

    /// The value so far (float32, as Keras' variables).
    fn result(&self) -> f32;

    /// Back to the empty state.
    fn reset(&mut self);
}

/// One batch given to [`Metric::update`].
pub(crate) struct Batch<'a> {
    pub y_true: ArrayViewD<'a, f32>,
    pub y_pred: ArrayViewD<'a, f32>,
    pub sample_weight: Option<ArrayViewD<'a, f32>>,
    /// The output's Keras mask.
    pub mask: Option<ArrayViewD<'a, bool>>,
}

/// What each built-in metric type implements; its [`Metric`] implementation comes from it
/// (`impl_metric!`).
pub(crate) trait State {
    /// The name Keras logs it under.
    fn name(&self) -> &str;
    /// Keras' `update_state`.
    fn update_state(&mut self, batch: Batch<'_>) -> Result<()>;
    /// Keras' `result`.
    fn result(&self) -> f32;
    /// Keras' `reset_state`.
    fn reset_state(&mut self);
}

/// Implements [`Metric`] for built-in metric types through their [`State`].
macro_rules! impl_metric {
    ($($t:ty),* $(,)?) => {
        $(impl Metric for $t {
            fn name(&self) -> &str {
                State::name(self)
            }
            fn update(
                &mut self,
                y_true: ArrayViewD<'_, f32>,
                y_pred: ArrayViewD<'_, f32>,
                sample_weight: Option<ArrayViewD<'_, f32>>,
                mask: Option<ArrayViewD<'_, bool>>,
            ) -> Result<()> {
                self.update_state(Batch {
                    y_true,
                    y_pred,
                    sample_weight,
                    mask,
                })
            }
            fn result(&self) -> f32 {
                State::result(self)
            }
            fn reset(&mut self) {
                self.reset_state()
            }
        })*
    };
}

impl_metric!(
    Accuracy,
    BinaryAccuracy,
    CategoricalAccuracy,
    SparseCategoricalAccuracy,
    TopKCategoricalAccuracy,
    SparseTopKCategoricalAccuracy,
    MeanSquaredError,
    MeanAbsoluteError,
    Precision,
    Recall,
    Auc,
);

/// Builds a metric from a Keras identifier, resolved as `compile` does: `"accuracy"`/`"acc"`
/// (any case) become binary accuracy if `y_pred`'s last axis is 1, sparse categorical if
/// `y_true` has a lower rank (or a last axis of 1 against more classes), else categorical —
/// from the shapes only, whatever the loss. Other names (`"mae"`, `"auc"`,
/// `"binary_accuracy"`, class names, …) and serialized metrics are looked up like
/// `keras.metrics.get`; a string keeps the string as the metric's name.
pub fn metric_from_config(
    v: &Value,
    y_true_shape: &[usize],
    y_pred_shape: &[usize],
) -> Result<Box<dyn Metric>> {
    match identifier(v, "metric")? {
        Identifier::Name(name) => {
            if name.eq_ignore_ascii_case("accuracy") || name.eq_ignore_ascii_case("acc") {
                let (binary, sparse) = binary_or_sparse(y_true_shape, y_pred_shape);
                return Ok(if binary {
                    Box::new(BinaryAccuracy::new().named(name))
                } else if sparse {
                    Box::new(SparseCategoricalAccuracy::new().named(name))
                } else {
                    Box::new(CategoricalAccuracy::new().named(name))
                });
            }
            let mut empty = ConfigReader::new(format!("metric {}", quote(name)), None);
            let class = match name {
                "binary_accuracy" => "BinaryAccuracy",
                "categorical_accuracy" => "CategoricalAccuracy",
                "sparse_categorical_accuracy" => "SparseCategoricalAccuracy",
                "top_k_categorical_accuracy" => "TopKCategoricalAccuracy",
                "sparse_top_k_categorical_accuracy" => "SparseTopKCategoricalAccuracy",
                "precision" => "Precision",
                "recall" => "Recall",
                "auc" => "AUC",
                "mse" | "MSE" | "mean_squared_error" => "MeanSquaredError",
                "mae" | "MAE" | "mean_absolute_error" => "MeanAbsoluteError",
                other => other,
            };
            from_class(class, &mut empty, Some(name))
        }
        Identifier::Object {
            class_name,
            mut config,
        } => {
            let m = from_class(class_name, &mut config, None)?;
            config.finish()?;
            Ok(m)
        }
    }
}

fn from_class(
    class: &str,
    c: &mut ConfigReader<'_>,
    name: Option<&str>,
) -> Result<Box<dyn Metric>> {
    let config_name = c.opt_str("name")?;
    c.float32_dtype()?;
    let name = name.map(str::to_string).or(config_name);
    macro_rules! named {
        ($m:expr) => {{
            let m = $m;
            match &name {
                Some(n) => m.named(n.clone()),
                None => m,
            }
        }};
    }
    let metric: Box<dyn Metric> = match class {
        "Accuracy" => Box::new(named!(Accuracy::new())),
        "BinaryAccuracy" => Box::new(named!(BinaryAccuracy::new().threshold(c.f64_or("threshold", 0.5)?))),
        "CategoricalAccuracy" => Box::new(named!(CategoricalAccuracy::new())),
        "SparseCategoricalAccuracy" => Box::new(named!(SparseCategoricalAccuracy::new())),
        "TopKCategoricalAccuracy" => Box::new(named!(TopKCategoricalAccuracy::new(top_k(c)?))),
        "SparseTopKCategoricalAccuracy" => {
            let k = top_k(c)?;
            if c.bool_or("from_sorted_ids", false)? {
                return Err(config_err(format!("{}: from_sorted_ids=true is not supported", c.what())));
            }
            Box::new(named!(SparseTopKCategoricalAccuracy::new(k)))
        }
        "MeanSquaredError" => Box::new(named!(MeanSquaredError::new())),
        "MeanAbsoluteError" => Box::new(named!(MeanAbsoluteError::new())),
        "Precision" => Box::new(named!(Precision::new()).read(c)?),
        "Recall" => Box::new(named!(Recall::new()).read(c)?),
        "AUC" => Box::new(named!(Auc::new()).read(c)?),
        other => {
            return Err(config_err(format!(
                "metric {}: not supported; use accuracy, binary/categorical/sparse_categorical accuracy, (sparse_)top_k_categorical_accuracy, precision, recall, auc, mse or mae",
                quote(other)
            )))
        }
    };
    Ok(metric)
}

fn top_k(c: &mut ConfigReader<'_>) -> Result<usize> {
    let k = c.i64_or("k", 5)?;
    usize::try_from(k).map_err(|_| config_err(format!("{}: 'k' must be >= 0, got {k}", c.what())))
}
