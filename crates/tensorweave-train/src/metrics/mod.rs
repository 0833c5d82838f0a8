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
        "Precision" | "Recall" => {
            let threshold = single_threshold(c)?;
            let top_k = c.opt_i64("top_k")?;
            let class_id = c.opt_i64("class_id")?;
            if class == "Precision" {
                let mut m = named!(Precision::new());
                if let Some(k) = top_k {
                    m = m.top_k(non_negative(k, "top_k", c)?)?;
                }
                if let Some(t) = threshold {
                    m = m.threshold(t)?;
                }
                if let Some(id) = class_id {
                    m = m.class_id(non_negative(id, "class_id", c)?);
                }
                Box::new(m)
            } else {
                let mut m = named!(Recall::new());
                if let Some(k) = top_k {
                    m = m.top_k(non_negative(k, "top_k", c)?)?;
                }
                if let Some(t) = threshold {
                    m = m.threshold(t)?;
                }
                if let Some(id) = class_id {
                    m = m.class_id(non_negative(id, "class_id", c)?);
                }
                Box::new(m)
            }
        }
        "AUC" => Box::new(auc_from(c, name)?),
        other => {
            return Err(config_err(format!(
                "metric {}: not supported; use accuracy, binary/categorical/sparse_categorical accuracy, (sparse_)top_k_categorical_accuracy, precision, recall, auc, mse or mae",
                quote(other)
            )))
        }
    };
    Ok(metric)
}

fn non_negative(x: i64, key: &str, c: &ConfigReader<'_>) -> Result<usize> {
    usize::try_from(x)
        .map_err(|_| config_err(format!("{}: '{key}' must be >= 0, got {x}", c.what())))
}

fn top_k(c: &mut ConfigReader<'_>) -> Result<usize> {
    let k = c.i64_or("k", 5)?;
    usize::try_from(k).map_err(|_| config_err(format!("{}: 'k' must be >= 0, got {k}", c.what())))
}

/// `thresholds` as a single number (or a one-element list); several thresholds would make
/// the result a vector, which a [`Metric`] does not report.
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

fn auc_from(c: &mut ConfigReader<'_>, name: Option<String>) -> Result<Auc> {
    let mut m = Auc::new();
    if let Some(n) = name {
        m = m.named(n);
    }
    let curve = match c.opt_str("curve")?.as_deref() {
        None | Some("ROC") | Some("roc") => Curve::Roc,
        Some("PR") | Some("pr") => Curve::Pr,
        Some(other) => {
            return Err(config_err(format!(
                "{}: curve {} is not supported; use ROC or PR",
                c.what(),
                quote(other)
            )))
        }
    };
    let summation = match c.opt_str("summation_method")?.as_deref() {
        None | Some("interpolation") | Some("Interpolation") => Summation::Interpolation,
        Some("minoring") | Some("Minoring") => Summation::Minoring,
        Some("majoring") | Some("Majoring") => Summation::Majoring,
        Some(other) => {
            return Err(config_err(format!(
                "{}: summation_method {} is not supported; use interpolation, minoring or majoring",
                c.what(),
                quote(other)
            )))
        }
    };
    m = m
        .curve(curve)
        .summation(summation)
        .from_logits(c.bool_or("from_logits", false)?);
    let num_thresholds = c.i64_or("num_thresholds", 200)?;
    match c.f64_list("thresholds")? {
        Some(t) => m = m.thresholds(&t)?,
        None => m = m.num_thresholds(usize::try_from(num_thresholds).unwrap_or(0))?,
    }
    if c.bool_or("multi_label", false)? {
        return Err(config_err(format!(
            "{}: multi_label=true is not supported",
            c.what()
        )));
    }
    if c.opt_i64("num_labels")?.is_some() {
        return Err(config_err(format!(
            "{}: num_labels is not supported (single-label AUC only)",
            c.what()
        )));
    }
    if c.raw("label_weights").is_some() {
        return Err(config_err(format!(
            "{}: label_weights is not supported",
            c.what()
        )));
    }
    Ok(m)
}
