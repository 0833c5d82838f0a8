//! `keras.metrics.AUC`: the area under the ROC or precision-recall curve, approximated over
//! thresholds (200 by default: `-1e-7`, `1/199`, …, `198/199`, `1 + 1e-7`), with Keras'
//! interpolation (trapezoids for ROC; Davis & Goadrich's interpolation for PR) or minoring /
//! majoring Riemann sums. The output's mask is ignored, as in Keras.

use tensorweave_core::{Error, Result};

use super::confusion::{evenly_distributed, Confusion};
use super::{Batch, State};
use crate::config::ConfigReader;
use crate::util::{config_err, div_no_nan, quote, sum_f32, EPSILON};

/// The curve whose area [`Auc`] measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    /// Receiver operating characteristic: recall against false-positive rate.
    Roc,
    /// Precision against recall.
    Pr,
}

/// How [`Auc`] sums the area between thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Summation {
    /// Trapezoids for ROC; Davis & Goadrich's interpolation for PR (Keras' default).
    Interpolation,
    /// Rectangles of the lower height.
    Minoring,
    /// Rectangles of the higher height.
    Majoring,
}

/// Area under the curve (`keras.metrics.AUC`), single-label.
#[derive(Debug, Clone)]
pub struct Auc {
    name: String,
    curve: Curve,
    summation: Summation,
    from_logits: bool,
    confusion: Confusion,
}

impl Auc {
    /// Keras' default: ROC, interpolation, 200 thresholds, on probabilities.
    pub fn new() -> Self {
        Auc {
            name: "auc".into(),
            curve: Curve::Roc,
            summation: Summation::Interpolation,
            from_logits: false,
            confusion: Confusion::new(&default_thresholds(200), true),
        }
    }

    /// Renames the metric.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The curve (default ROC).
    pub fn curve(mut self, curve: Curve) -> Self {
        self.curve = curve;
        self
    }

    /// The summation method (default interpolation).
    pub fn summation(mut self, summation: Summation) -> Self {
        self.summation = summation;
        self
    }

    /// Applies a sigmoid to the predictions first.
    pub fn from_logits(mut self, from_logits: bool) -> Self {
        self.from_logits = from_logits;
        self
    }

    /// Evenly spaced thresholds, `num_thresholds` of them including the two outside [0, 1]
    /// (must be > 1).
    pub fn num_thresholds(mut self, num_thresholds: usize) -> Result<Self> {
        if num_thresholds <= 1 {
            return Err(config_err(format!(
                "{}: num_thresholds must be > 1, got {num_thresholds}",
                self.name
            )));
        }
        self.confusion = Confusion::new(&default_thresholds(num_thresholds), true);
        Ok(self)
    }

    /// Explicit thresholds (sorted; `-1e-7` and `1 + 1e-7` are added around them). Evenly
    /// spaced ones take the bucketed path, others are compared one by one, as in Keras.
    pub fn thresholds(mut self, thresholds: &[f64]) -> Result<Self> {
        if thresholds.iter().any(|t| !(0.0..=1.0).contains(t)) {
            return Err(config_err(format!(
                "{}: threshold values must be in [0, 1], got {thresholds:?}",
                self.name
            )));
        }
        let mut sorted = thresholds.to_vec();
        sorted.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        let mut check = vec![0.0];
        check.extend_from_slice(&sorted);
        check.push(1.0);
        let evenly = evenly_distributed(&check);
        self.confusion = Confusion::new(&with_epsilon(&sorted), evenly);
        Ok(self)
    }

    /// Applies the options of a Keras config.
    pub(crate) fn read(mut self, c: &mut ConfigReader<'_>) -> Result<Self> {
        let curve = match c.opt_str("curve")?.as_deref() {
            None | Some("ROC") | Some("roc") => Curve::Roc,
            Some("PR") | Some("pr") => Curve::Pr,
            Some(other) => return Err(unsupported_choice(c, "curve", other, "ROC or PR")),
        };
        let summation = match c.opt_str("summation_method")?.as_deref() {
            None | Some("interpolation") | Some("Interpolation") => Summation::Interpolation,
            Some("minoring") | Some("Minoring") => Summation::Minoring,
            Some("majoring") | Some("Majoring") => Summation::Majoring,
            Some(other) => {
                let choices = "interpolation, minoring or majoring";
                return Err(unsupported_choice(c, "summation_method", other, choices));
            }
        };
        self = self
            .curve(curve)
            .summation(summation)
            .from_logits(c.bool_or("from_logits", false)?);
        let num_thresholds = c.i64_or("num_thresholds", 200)?;
        self = match c.f64_list("thresholds")? {
            Some(t) => self.thresholds(&t)?,
            None => self.num_thresholds(usize::try_from(num_thresholds).unwrap_or(0))?,
        };
        let unsupported = [
            (
                c.bool_or("multi_label", false)?,
                "multi_label=true is not supported",
            ),
            (
                c.opt_i64("num_labels")?.is_some(),
                "num_labels is not supported (single-label AUC only)",
            ),
            (
                c.raw("label_weights").is_some(),
                "label_weights is not supported",
            ),
        ];
        if let Some((_, problem)) = unsupported.iter().find(|(given, _)| *given) {
            return Err(config_err(format!("{}: {problem}", c.what())));
        }
        Ok(self)
    }

    fn interpolate_pr(&self) -> f32 {
        let c = &self.confusion;
        let n = c.tp.len();
        let p: Vec<f32> = c.tp.iter().zip(&c.fp).map(|(a, b)| a + b).collect();
        let mut terms = Vec::with_capacity(n - 1);
        for i in 0..n - 1 {
            let dtp = c.tp[i] - c.tp[i + 1];
            let dp = p[i] - p[i + 1];
            let prec_slope = div_no_nan(dtp, dp.max(0.0));
            let intercept = c.tp[i + 1] - prec_slope * p[i + 1];
            let safe_p_ratio = if p[i] > 0.0 && p[i + 1] > 0.0 {
                div_no_nan(p[i], p[i + 1].max(0.0))
            } else {
                1.0
            };
            let num = prec_slope * (dtp + intercept * safe_p_ratio.ln());
            terms.push(div_no_nan(num, (c.tp[i + 1] + c.fn_[i + 1]).max(0.0)));
        }
        sum_f32(terms)
    }
}

impl Default for Auc {
    fn default() -> Self {
        Self::new()
    }
}

/// An error for an option value that is not one of `choices`.
fn unsupported_choice(c: &ConfigReader<'_>, key: &str, value: &str, choices: &str) -> Error {
    config_err(format!(
        "{}: {key} {} is not supported; use {choices}",
        c.what(),
        quote(value)
    ))
}

/// `[-eps, 1/(n-1), …, (n-2)/(n-1), 1 + eps]` as Keras builds them (float64, then float32).
fn default_thresholds(n: usize) -> Vec<f64> {
    let inner: Vec<f64> = (0..n - 2)
        .map(|i| (i + 1) as f64 * 1.0 / (n - 1) as f64)
        .collect();
    with_epsilon(&inner)
}

fn with_epsilon(inner: &[f64]) -> Vec<f64> {
    let mut t = vec![0.0 - EPSILON];
    t.extend_from_slice(inner);
    t.push(1.0 + EPSILON);
    t
}

impl State for Auc {
    fn name(&self) -> &str {
        &self.name
    }

    fn update_state(&mut self, b: Batch<'_>) -> Result<()> {
        let what = format!("metric '{}'", self.name);
        let sw = b.sample_weight;
        if self.from_logits {
            let p = b.y_pred.mapv(|x| 1.0 / (1.0 + (-x).exp()));
            self.confusion
                .update(b.y_true, p.view(), sw, None, None, &what)
        } else {
            self.confusion
                .update(b.y_true, b.y_pred, sw, None, None, &what)
        }
    }

    fn result(&self) -> f32 {
        let c = &self.confusion;
        if self.curve == Curve::Pr && self.summation == Summation::Interpolation {
            return self.interpolate_pr();
        }
        let n = c.tp.len();
        let recall: Vec<f32> = (0..n)
            .map(|i| div_no_nan(c.tp[i], c.tp[i] + c.fn_[i]))
            .collect();
        let (x, y): (Vec<f32>, Vec<f32>) = match self.curve {
            Curve::Roc => (
                (0..n)
                    .map(|i| div_no_nan(c.fp[i], c.fp[i] + c.tn[i]))
                    .collect(),
                recall,
            ),
            Curve::Pr => (
                recall,
                (0..n)
                    .map(|i| div_no_nan(c.tp[i], c.tp[i] + c.fp[i]))
                    .collect(),
            ),
        };
        let terms = (0..n - 1).map(|i| {
            let height = match self.summation {
                Summation::Interpolation => (y[i] + y[i + 1]) / 2.0,
                Summation::Minoring => y[i].min(y[i + 1]),
                Summation::Majoring => y[i].max(y[i + 1]),
            };
            (x[i] - x[i + 1]) * height
        });
        sum_f32(terms)
    }

    fn reset_state(&mut self) {
        self.confusion.reset()
    }
}
