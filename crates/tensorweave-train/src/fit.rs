//! Keras' training loop on a [`Model`]: [`Trainer::train_on_batch`] and
//! [`Trainer::fit`] (batches in order, running logs per epoch as Keras reports
//! them), with the losses, metrics and optimizer of this crate.
//!
//! A step is Keras' `train_step`: the loss and gradients of the batch in
//! training mode ([`loss_and_gradients`]), the metrics on that forward's
//! outputs, the optimizer's update of the trainable weights, then the state
//! updates of the forward (BatchNormalization's moving statistics) written
//! into the model. Logged values are running means within the epoch, weighted
//! by batch size, under Keras' names (`loss`, `accuracy`; with several
//! outputs `a_loss`, `b_accuracy`, `b_weighted_accuracy`).

use std::collections::HashMap;

use ndarray::{ArrayD, Axis};
use serde_json::Value as Json;
use tensorweave_core::{CallContext, Error, Gradient, Model, Result, Value};

use crate::losses::Loss;
use crate::metrics::{metric_from_config, Mean, Metric};
use crate::optimizers::{Optimizer, Var};
use crate::step::{loss_and_gradients, OutputLoss};

/// The logs of one epoch or batch: Keras' names and values, in Keras' order
/// (sorted by name, as `History` prints them).
pub type Logs = Vec<(String, f32)>;

/// What [`Trainer::fit`] returns: the logs at the end of every epoch and after
/// every batch (Keras' `History.history` and the per-batch callback logs).
#[derive(Debug, Clone, Default)]
pub struct History {
    /// One entry per epoch.
    pub epochs: Vec<Logs>,
    /// One entry per batch: `(epoch, batch, logs)`.
    pub batches: Vec<(usize, usize, Logs)>,
}

impl History {
    /// The values of one logged name over the epochs.
    pub fn epoch_values(&self, name: &str) -> Vec<f32> {
        self.epochs
            .iter()
            .filter_map(|logs| logs.iter().find(|(n, _)| n == name).map(|(_, v)| *v))
            .collect()
    }
}

/// Options of [`Trainer::fit`].
#[derive(Debug, Clone)]
pub struct FitOptions {
    /// Rows per batch (Keras' default 32); the last batch may be smaller.
    pub batch_size: usize,
    /// Passes over the data.
    pub epochs: usize,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            batch_size: 32,
            epochs: 1,
        }
    }
}

/// A metric of one output, and whether it takes the sample weights.
struct OutputMetric {
    output: usize,
    weighted: bool,
    metric: Box<dyn Metric>,
}

/// A model compiled for training: per-output losses and weights, metrics,
/// the optimizer (Keras' `model.compile`).
pub struct Trainer {
    model: Model,
    optimizer: Box<dyn Optimizer>,
    losses: Vec<Option<Box<dyn Loss>>>,
    loss_weights: Vec<f32>,
    metric_configs: Vec<(usize, bool, Json)>,
    metrics: Vec<OutputMetric>,
    steps: u64,
    ctx: CallContext,
}

impl std::fmt::Debug for Trainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trainer")
            .field("model", &self.model.name())
            .field("optimizer", &self.optimizer.name())
            .field("steps", &self.steps)
            .finish_non_exhaustive()
    }
}

impl Trainer {
    /// Compiles `model` with `optimizer` and one loss per output (`None` for an
    /// output without a loss).
    pub fn new(
        model: &Model,
        optimizer: Box<dyn Optimizer>,
        losses: Vec<Option<Box<dyn Loss>>>,
    ) -> Result<Trainer> {
        let n = model.outputs().len();
        if losses.len() != n {
            return Err(Error::Input(format!(
                "compile: model '{}' has {n} output(s), got {} losses",
                model.name(),
                losses.len()
            )));
        }
        Ok(Trainer {
            model: model.clone(),
            optimizer,
            losses,
            loss_weights: vec![1.0; n],
            metric_configs: Vec::new(),
            metrics: Vec::new(),
            steps: 0,
            ctx: CallContext::default(),
        })
    }

    /// Keras' `loss_weights`, one per output.
    pub fn loss_weights(mut self, weights: Vec<f32>) -> Result<Self> {
        if weights.len() != self.losses.len() {
            return Err(Error::Input(format!(
                "compile: {} loss weights for {} outputs",
                weights.len(),
                self.losses.len()
            )));
        }
        self.loss_weights = weights;
        Ok(self)
    }

    /// Adds a metric of output `output` by its Keras identifier (`"accuracy"`);
    /// `weighted` makes it a weighted metric (Keras' `weighted_metrics`).
    pub fn metric(mut self, output: usize, config: Json, weighted: bool) -> Self {
        self.metric_configs.push((output, weighted, config));
        self
    }

    /// Runs on at most `threads` threads.
    pub fn threads(mut self, threads: usize) -> Self {
        self.ctx = CallContext::with_threads(threads);
        self
    }

    /// The optimizer (its state, iterations, learning rate).
    pub fn optimizer(&self) -> &dyn Optimizer {
        self.optimizer.as_ref()
    }

    fn output_name(&self, k: usize) -> String {
        self.model.outputs()[k].layer().name().to_string()
    }

    /// One training step on one batch; returns the step's loss, its outputs'
    /// losses (by output) and updates the metrics' state.
    fn step(
        &mut self,
        x: &[Value],
        y: &[ArrayD<f32>],
        sample_weight: Option<&ArrayD<f32>>,
    ) -> Result<(f32, Vec<Option<f32>>)> {
        let specs: Vec<Option<OutputLoss<'_>>> = self
            .losses
            .iter()
            .enumerate()
            .map(|(k, l)| {
                l.as_ref().map(|loss| OutputLoss {
                    loss: loss.as_ref(),
                    weight: self.loss_weights[k],
                    y_true: y[k].clone(),
                })
            })
            .collect();
        let mut ctx = self.ctx.clone();
        ctx.step_seed = self.steps;
        let step = loss_and_gradients(&self.model, x, &specs, sample_weight, &ctx)?;
        if self.metrics.is_empty() && !self.metric_configs.is_empty() {
            for (output, weighted, config) in &self.metric_configs {
                let pred = step.outputs[*output].shape().to_vec();
                self.metrics.push(OutputMetric {
                    output: *output,
                    weighted: *weighted,
                    metric: metric_from_config(config, y[*output].shape(), &pred)?,
                });
            }
        }
        for m in &mut self.metrics {
            let pred = step.outputs[m.output].as_f32()?;
            let mask = step.output_masks[m.output].as_ref();
            let sw = if m.weighted { sample_weight } else { None };
            m.metric.update(
                y[m.output].view(),
                pred.view(),
                sw.map(|w| w.view()),
                mask.map(|m| m.view()),
            )?;
        }
        self.apply(&step.gradients, &step.state_updates)?;
        self.steps += 1;
        Ok((step.loss, step.output_losses))
    }

    /// The optimizer's update of the trainable weights (in Keras'
    /// `trainable_weights` order), then the state updates.
    fn apply(
        &mut self,
        gradients: &tensorweave_core::Gradients,
        updates: &[(String, ArrayD<f32>)],
    ) -> Result<()> {
        let specs = self.model.weight_specs();
        let mut current: HashMap<String, ArrayD<f32>> = {
            let mut m = HashMap::new();
            self.model.as_layer().visit_params(&mut |path, p| {
                if p.trainable {
                    m.insert(path.to_string(), p.value.clone());
                }
            });
            m
        };
        let paths: Vec<String> = specs
            .into_iter()
            .filter(|(_, _, t)| *t)
            .map(|(p, _, _)| p)
            .collect();
        let mut values: Vec<ArrayD<f32>> = paths
            .iter()
            .map(|p| {
                current
                    .remove(p)
                    .ok_or_else(|| Error::Graph(format!("internal: weight {p} vanished")))
            })
            .collect::<Result<_>>()?;
        let grads: Vec<Option<&Gradient>> = paths.iter().map(|p| gradients.get(p)).collect();
        {
            let mut vars: Vec<Var<'_>> = paths
                .iter()
                .zip(values.iter_mut())
                .zip(&grads)
                .map(|((path, value), g)| Var {
                    path,
                    value,
                    gradient: *g,
                })
                .collect();
            self.optimizer.apply(&mut vars)?;
        }
        let mut new: HashMap<&str, ArrayD<f32>> =
            paths.iter().map(String::as_str).zip(values).collect();
        for (path, value) in updates {
            new.insert(path.as_str(), value.clone());
        }
        self.model.as_layer().visit_params_mut(&mut |path, p| {
            if let Some(v) = new.remove(path) {
                if v.shape() == p.value.shape() {
                    p.value = v;
                }
            }
        });
        Ok(())
    }

    /// Keras' `train_on_batch`: one step; returns the step's logs (its own
    /// values, not running means).
    pub fn train_on_batch(
        &mut self,
        x: &[Value],
        y: &[ArrayD<f32>],
        sample_weight: Option<&ArrayD<f32>>,
    ) -> Result<Logs> {
        self.reset_metrics();
        let batch = x.first().and_then(Value::rows).unwrap_or(0) as f32;
        let mut means = self.loss_means();
        let (loss, per_output) = self.step(x, y, sample_weight)?;
        self.record(&mut means, loss, &per_output, batch);
        Ok(self.logs(&means))
    }

    /// Keras' `fit` with `shuffle=False`: `epochs` passes over the rows in
    /// order, `batch_size` at a time.
    pub fn fit(
        &mut self,
        x: &[Value],
        y: &[ArrayD<f32>],
        sample_weight: Option<&ArrayD<f32>>,
        options: &FitOptions,
    ) -> Result<History> {
        let rows = x
            .first()
            .and_then(Value::rows)
            .ok_or_else(|| Error::Input("fit: no input rows".into()))?;
        if options.batch_size == 0 {
            return Err(Error::Input("fit: batch_size must be positive".into()));
        }
        let mut history = History::default();
        for epoch in 0..options.epochs {
            self.reset_metrics();
            let mut means = self.loss_means();
            for (batch, start) in (0..rows).step_by(options.batch_size).enumerate() {
                let end = (start + options.batch_size).min(rows);
                let xb = x
                    .iter()
                    .map(|v| v.slice_rows(start, end))
                    .collect::<Result<Vec<_>>>()?;
                let yb: Vec<ArrayD<f32>> = y
                    .iter()
                    .map(|a| a.slice_axis(Axis(0), (start..end).into()).to_owned())
                    .collect();
                let sw =
                    sample_weight.map(|w| w.slice_axis(Axis(0), (start..end).into()).to_owned());
                let (loss, per_output) = self.step(&xb, &yb, sw.as_ref())?;
                self.record(&mut means, loss, &per_output, (end - start) as f32);
                history.batches.push((epoch, batch, self.logs(&means)));
            }
            history.epochs.push(self.logs(&means));
        }
        Ok(history)
    }

    fn reset_metrics(&mut self) {
        for m in &mut self.metrics {
            m.metric.reset();
        }
    }

    /// The running means of the total loss and of each output's loss.
    fn loss_means(&self) -> Vec<Mean> {
        (0..=self.losses.len()).map(|_| Mean::new("loss")).collect()
    }

    fn record(&self, means: &mut [Mean], loss: f32, per_output: &[Option<f32>], batch: f32) {
        means[0].update_scalar(loss, batch);
        for (k, l) in per_output.iter().enumerate() {
            if let Some(l) = l {
                means[k + 1].update_scalar(*l, batch);
            }
        }
    }

    fn logs(&self, means: &[Mean]) -> Logs {
        let several = self.losses.len() > 1;
        let mut logs: Logs = vec![("loss".to_string(), means[0].result())];
        if several {
            for (k, l) in self.losses.iter().enumerate() {
                if l.is_some() {
                    logs.push((
                        format!("{}_loss", self.output_name(k)),
                        means[k + 1].result(),
                    ));
                }
            }
        }
        for m in &self.metrics {
            let name = m.metric.name().to_string();
            let name = match (several, m.weighted) {
                (false, false) => name,
                (false, true) => format!("weighted_{name}"),
                (true, false) => format!("{}_{name}", self.output_name(m.output)),
                (true, true) => format!("{}_weighted_{name}", self.output_name(m.output)),
            };
            logs.push((name, m.metric.result()));
        }
        logs.sort_by(|a, b| a.0.cmp(&b.0));
        logs
    }
}
