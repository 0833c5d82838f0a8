//! Keras' training loop on a [`Model`]: [`Trainer::train_on_batch`],
//! [`Trainer::fit`] / [`Trainer::fit_with`] (batches in order or shuffled by a
//! seed, a validation split or validation data, class weights, callbacks,
//! running logs per epoch as Keras reports them), [`Trainer::evaluate`],
//! [`Trainer::test_on_batch`] and [`Trainer::predict`], with the losses,
//! metrics and optimizer of this crate.
//!
//! A step is Keras' `train_step`: the loss and gradients of the batch in
//! training mode ([`loss_and_gradients`]), the metrics on that forward's
//! outputs, the optimizer's update of the trainable weights, then the state
//! updates of the forward (BatchNormalization's moving statistics) written
//! into the model. Logged values are running means within the epoch, weighted
//! by batch size, under Keras' names (`loss`, `accuracy`; with several
//! outputs `a_loss`, `b_accuracy`, `b_weighted_accuracy`).

use std::collections::{BTreeMap, HashMap};

use ndarray::{ArrayD, Axis};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde_json::Value as Json;
use tensorweave_core::{CallContext, Error, Gradient, Model, Result, Value};

use crate::callbacks::{Callback, Control};
use crate::losses::{Loss, Prediction};
use crate::metrics::{metric_from_config, Mean, Metric};
use crate::optimizers::{Optimizer, Var};
use crate::progress::{Progress, Verbosity};
use crate::step::{loss_and_gradients, regularization_penalty, OutputLoss};

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

/// Inputs, targets and optional sample weights (one per row), as `fit`,
/// `evaluate` and validation take them.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// One array per model input.
    pub x: Vec<Value>,
    /// One target array per model output.
    pub y: Vec<ArrayD<f32>>,
    /// One weight per row, for every output's loss.
    pub sample_weight: Option<ArrayD<f32>>,
}

impl Dataset {
    /// Inputs and targets without sample weights.
    pub fn new(x: Vec<Value>, y: Vec<ArrayD<f32>>) -> Self {
        Dataset {
            x,
            y,
            sample_weight: None,
        }
    }

    /// The number of rows, checked to agree across inputs, targets and weights.
    pub fn rows(&self) -> Result<usize> {
        let first =
            self.x.first().and_then(Value::rows).ok_or_else(|| {
                Error::Input("no input rows: give every input a batch axis".into())
            })?;
        let counts = self
            .x
            .iter()
            .map(|v| ("input", v.rows().unwrap_or(0)))
            .chain(
                self.y
                    .iter()
                    .map(|a| ("target", a.shape().first().copied().unwrap_or(0))),
            )
            .chain(
                self.sample_weight
                    .iter()
                    .map(|w| ("sample weight", w.shape().first().copied().unwrap_or(0))),
            );
        for (what, n) in counts {
            if n != first {
                return Err(Error::Input(format!(
                    "the inputs have {first} rows but a {what} array has {n}: give every input,                      target and sample weight array the same number of rows"
                )));
            }
        }
        Ok(first)
    }

    /// The rows `start..end`.
    fn slice(&self, start: usize, end: usize) -> Result<Dataset> {
        let range = |a: &ArrayD<f32>| a.slice_axis(Axis(0), (start..end).into()).to_owned();
        Ok(Dataset {
            x: self
                .x
                .iter()
                .map(|v| v.slice_rows(start, end))
                .collect::<Result<_>>()?,
            y: self.y.iter().map(range).collect(),
            sample_weight: self.sample_weight.as_ref().map(range),
        })
    }

    /// The rows `rows`, in that order.
    fn take(&self, rows: &[usize]) -> Dataset {
        let pick = |a: &ArrayD<f32>| a.select(Axis(0), rows);
        Dataset {
            x: self
                .x
                .iter()
                .map(|v| match v {
                    Value::F32(a) => Value::F32(a.select(Axis(0), rows)),
                    Value::I32(a) => Value::I32(a.select(Axis(0), rows)),
                    Value::Bool(a) => Value::Bool(a.select(Axis(0), rows)),
                    Value::Str(a) => Value::Str(a.select(Axis(0), rows)),
                })
                .collect(),
            y: self.y.iter().map(pick).collect(),
            sample_weight: self.sample_weight.as_ref().map(pick),
        }
    }
}

/// Options of [`Trainer::fit`].
#[derive(Debug, Clone)]
pub struct FitOptions {
    /// Rows per batch (Keras' default 32); the last batch may be smaller.
    pub batch_size: usize,
    /// Passes over the data.
    pub epochs: usize,
    /// Shuffles the training rows before each epoch with this seed (Keras'
    /// `shuffle=True`, with a reproducible order instead of TensorFlow's);
    /// `None` keeps them in order (`shuffle=False`).
    pub shuffle: Option<u64>,
    /// Holds out this fraction of the rows for validation, taken from the end
    /// before any shuffling, as Keras' `validation_split` (0: none).
    pub validation_split: f64,
    /// Data evaluated after each epoch (`val_loss`, …); takes precedence over
    /// `validation_split`, as in Keras.
    pub validation_data: Option<Dataset>,
    /// Rows per validation batch (default: `batch_size`).
    pub validation_batch_size: Option<usize>,
    /// Keras' `class_weight`: each training row's sample weight becomes the
    /// weight of its class (the argmax of a one-hot target, or the integer of
    /// a sparse one), times its sample weight if any; classes up to the
    /// largest listed one that are not listed weigh 1. One output only.
    pub class_weight: Option<BTreeMap<usize, f32>>,
    /// What is printed.
    pub verbosity: Verbosity,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            batch_size: 32,
            epochs: 1,
            shuffle: None,
            validation_split: 0.0,
            validation_data: None,
            validation_batch_size: None,
            class_weight: None,
            verbosity: Verbosity::Auto,
        }
    }
}

/// A training or test step on one batch: its loss and each output's.
type StepFn = fn(
    &mut Trainer,
    &[Value],
    &[ArrayD<f32>],
    Option<&ArrayD<f32>>,
) -> Result<(f32, Vec<Option<f32>>)>;

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
        self.update_metrics(y, &step.outputs, &step.output_masks, sample_weight)?;
        self.apply(&step.gradients, &step.state_updates)?;
        self.steps += 1;
        Ok((step.loss, step.output_losses))
    }

    /// Adds a batch to the metrics, building them on the first batch (Keras
    /// resolves `"accuracy"` from the shapes).
    fn update_metrics(
        &mut self,
        y: &[ArrayD<f32>],
        outputs: &[Value],
        masks: &[Option<ArrayD<bool>>],
        sample_weight: Option<&ArrayD<f32>>,
    ) -> Result<()> {
        if self.metrics.is_empty() && !self.metric_configs.is_empty() {
            for (output, weighted, config) in &self.metric_configs {
                let pred = outputs[*output].shape().to_vec();
                self.metrics.push(OutputMetric {
                    output: *output,
                    weighted: *weighted,
                    metric: metric_from_config(config, y[*output].shape(), &pred)?,
                });
            }
        }
        for m in &mut self.metrics {
            let pred = outputs[m.output].as_f32()?;
            let mask = masks[m.output].as_ref();
            let sw = if m.weighted { sample_weight } else { None };
            m.metric.update(
                y[m.output].view(),
                pred.view(),
                sw.map(|w| w.view()),
                mask.map(|m| m.view()),
            )?;
        }
        Ok(())
    }

    /// Keras' `test_step` without the metrics' reset: the model in inference
    /// mode, each output's loss (from the outputs), the loss weights and the
    /// regularization penalties;
    /// updates the metrics. Returns the loss and each output's.
    fn test_step(
        &mut self,
        x: &[Value],
        y: &[ArrayD<f32>],
        sample_weight: Option<&ArrayD<f32>>,
    ) -> Result<(f32, Vec<Option<f32>>)> {
        self.check_targets(y)?;
        crate::step::check_activity_regularizers(&self.model)?;
        let mut run = self.model.forward_eval(x, &self.ctx)?;
        let activity = crate::step::activity_penalties(&mut run, false)?;
        let outputs: Vec<Value> = run.outputs()?.into_iter().cloned().collect();
        let masks = (0..outputs.len())
            .map(|k| match run.output_mask(k)? {
                Some(m) => Ok(Some(m.as_bool()?.clone())),
                None => Ok(None),
            })
            .collect::<Result<Vec<_>>>()?;
        let mut total = 0.0f32;
        let mut per_output = Vec::with_capacity(outputs.len());
        for (k, loss) in self.losses.iter().enumerate() {
            let Some(loss) = loss else {
                per_output.push(None);
                continue;
            };
            let out = outputs[k].as_f32()?;
            let pred = Prediction::new(out.view());
            let value = loss.compute(
                y[k].view(),
                &pred,
                sample_weight.map(|w| w.view()),
                masks[k].as_ref().map(|m| m.view()),
            )?;
            total += self.loss_weights[k] * value.value;
            per_output.push(Some(value.value));
        }
        total += regularization_penalty(&self.model)? + activity;
        self.update_metrics(y, &outputs, &masks, sample_weight)?;
        Ok((total, per_output))
    }

    /// One target per output.
    fn check_targets(&self, y: &[ArrayD<f32>]) -> Result<()> {
        if y.len() != self.losses.len() {
            return Err(Error::Input(format!(
                "model '{}' has {} output(s), got {} target array(s)",
                self.model.name(),
                self.losses.len(),
                y.len()
            )));
        }
        Ok(())
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
        // The optimizer is built after its first step: from then on the
        // model's summary counts its variables, as Keras' does.
        if self.steps > 0 {
            return self.write_back(&paths, values, updates);
        }
        let (mut params, mut bytes) = (0usize, 0usize);
        for v in self.optimizer.variables() {
            match v.value {
                crate::VariableValue::Int64(_) => {
                    params += 1;
                    bytes += 8;
                }
                crate::VariableValue::Float32(a) => {
                    params += a.len();
                    bytes += 4 * a.len();
                }
            }
        }
        self.model
            .set_optimizer_size(Some(tensorweave_core::OptimizerSize { params, bytes }));
        self.write_back(&paths, values, updates)
    }

    /// Writes the updated trainable weights and the state updates back.
    fn write_back(
        &mut self,
        paths: &[String],
        values: Vec<ArrayD<f32>>,
        updates: &[(String, ArrayD<f32>)],
    ) -> Result<()> {
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
        self.one_batch(x, y, sample_weight, Self::step)
    }

    /// The logs of one batch run by `run` (a training or a test step), the
    /// metrics reset before it.
    fn one_batch(
        &mut self,
        x: &[Value],
        y: &[ArrayD<f32>],
        sample_weight: Option<&ArrayD<f32>>,
        run: StepFn,
    ) -> Result<Logs> {
        self.reset_metrics();
        let batch = x.first().and_then(Value::rows).unwrap_or(0) as f32;
        let mut means = self.loss_means();
        let (loss, per_output) = run(self, x, y, sample_weight)?;
        self.record(&mut means, loss, &per_output, batch);
        Ok(self.logs(&means, ""))
    }

    /// Keras' `fit` without callbacks (see [`Trainer::fit_with`]).
    pub fn fit(
        &mut self,
        x: &[Value],
        y: &[ArrayD<f32>],
        sample_weight: Option<&ArrayD<f32>>,
        options: &FitOptions,
    ) -> Result<History> {
        self.fit_with(x, y, sample_weight, options, &mut [])
    }

    /// Keras' `fit`: `epochs` passes over the training rows (in order, or
    /// shuffled by `options.shuffle`), `batch_size` at a time, each batch a
    /// [`Trainer::train_on_batch`] step; after each epoch the validation data
    /// (or split) is evaluated into `val_` logs, then the callbacks run in
    /// order and the history records the epoch's logs. Stops early when a
    /// callback asks (checked after every batch).
    pub fn fit_with(
        &mut self,
        x: &[Value],
        y: &[ArrayD<f32>],
        sample_weight: Option<&ArrayD<f32>>,
        options: &FitOptions,
        callbacks: &mut [&mut dyn Callback],
    ) -> Result<History> {
        if options.batch_size == 0 {
            return Err(Error::Input("fit: batch_size must be positive".into()));
        }
        self.check_targets(y)?;
        let all = Dataset {
            x: x.to_vec(),
            y: y.to_vec(),
            sample_weight: sample_weight.cloned(),
        };
        let (mut train, validation) = split_validation(&all, options)?;
        if let Some(weights) = &options.class_weight {
            train.sample_weight = Some(self.class_sample_weights(&train, weights)?);
        }
        let rows = train.rows()?;
        let steps = rows.div_ceil(options.batch_size);
        let mut progress = Progress::new(options.verbosity, options.epochs, steps);
        let mut history = History::default();
        let mut order: Vec<usize> = (0..rows).collect();
        let mut rng = rand::rngs::StdRng::seed_from_u64(options.shuffle.unwrap_or(0));
        self.callbacks(callbacks, |c, ctl| c.on_train_begin(ctl))?;
        let mut last_logs = Logs::new();
        for epoch in 0..options.epochs {
            self.callbacks(callbacks, |c, ctl| c.on_epoch_begin(epoch, ctl))?;
            progress.epoch_begin(epoch);
            let data = match options.shuffle {
                Some(_) => {
                    order.shuffle(&mut rng);
                    train.take(&order)
                }
                None => train.clone(),
            };
            self.reset_metrics();
            let mut means = self.loss_means();
            let mut stop = false;
            for (batch, start) in (0..rows).step_by(options.batch_size).enumerate() {
                let end = (start + options.batch_size).min(rows);
                let b = data.slice(start, end)?;
                let (loss, per_output) = self.step(&b.x, &b.y, b.sample_weight.as_ref())?;
                self.record(&mut means, loss, &per_output, (end - start) as f32);
                let logs = self.logs(&means, "");
                progress.batch_end(batch, &logs);
                stop |=
                    self.callbacks(callbacks, |c, ctl| c.on_train_batch_end(batch, &logs, ctl))?;
                history.batches.push((epoch, batch, logs));
                if stop {
                    break;
                }
            }
            let mut logs = self.logs(&means, "");
            if let Some(v) = &validation {
                let batch = options.validation_batch_size.unwrap_or(options.batch_size);
                logs.extend(self.evaluate_logs(v, batch, "val_")?);
                logs.sort_by(|a, b| a.0.cmp(&b.0));
            }
            stop |= self.callbacks(callbacks, |c, ctl| c.on_epoch_end(epoch, &mut logs, ctl))?;
            progress.epoch_end(&logs);
            history.epochs.push(logs.clone());
            last_logs = logs;
            if stop {
                break;
            }
        }
        self.callbacks(callbacks, |c, ctl| c.on_train_end(&last_logs, ctl))?;
        Ok(history)
    }

    /// Runs `f` on every callback in order; returns whether one asked to stop.
    fn callbacks(
        &mut self,
        callbacks: &mut [&mut dyn Callback],
        mut f: impl FnMut(&mut dyn Callback, &mut Control<'_>) -> Result<()>,
    ) -> Result<bool> {
        let mut ctl = Control::new(&self.model, self.optimizer.as_mut());
        for c in callbacks.iter_mut() {
            f(&mut **c, &mut ctl)?;
        }
        Ok(ctl.stopping())
    }

    /// Keras' class weights as sample weights: `class_weight[class of row]`
    /// times the row's own weight.
    fn class_sample_weights(
        &self,
        data: &Dataset,
        weights: &BTreeMap<usize, f32>,
    ) -> Result<ArrayD<f32>> {
        let [y] = data.y.as_slice() else {
            return Err(Error::Input(format!(
                "class_weight is supported for models with one output; model '{}' has {}: give \
                 per-output sample weights instead",
                self.model.name(),
                data.y.len()
            )));
        };
        let rows = data.rows()?;
        let largest = weights.keys().next_back().copied().unwrap_or(0);
        let per_row = y.len() / rows.max(1);
        let mut out = Vec::with_capacity(rows);
        for row in y.outer_iter() {
            let values: Vec<f32> = row.iter().copied().collect();
            let class = if per_row > 1 {
                values
                    .iter()
                    .enumerate()
                    .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
                        if v > best.1 {
                            (i, v)
                        } else {
                            best
                        }
                    })
                    .0
            } else {
                let v = values.first().copied().unwrap_or(0.0);
                if v < 0.0 || v.fract() != 0.0 {
                    return Err(Error::Input(format!(
                        "class_weight: target {v} is not a class index"
                    )));
                }
                v as usize
            };
            if class > largest {
                return Err(Error::Input(format!(
                    "class_weight has no weight for class {class} (its largest class is \
                     {largest}); list every class that occurs"
                )));
            }
            out.push(weights.get(&class).copied().unwrap_or(1.0));
        }
        let mut w = ArrayD::from_shape_vec(vec![rows], out)
            .map_err(|e| Error::Input(format!("internal: class weights: {e}")))?;
        if let Some(sw) = &data.sample_weight {
            if sw.ndim() != 1 {
                return Err(Error::Input(format!(
                    "class_weight combines with one sample weight per row, got sample weights \
                     of shape {:?}",
                    sw.shape()
                )));
            }
            w *= sw;
        }
        Ok(w)
    }

    /// Keras' `evaluate`: the loss (regularization included) and metrics of
    /// the model in inference mode over `data`, `batch_size` rows at a time,
    /// as running means weighted by batch size.
    pub fn evaluate(&mut self, data: &Dataset, batch_size: usize) -> Result<Logs> {
        self.evaluate_logs(data, batch_size, "")
    }

    fn evaluate_logs(&mut self, data: &Dataset, batch_size: usize, prefix: &str) -> Result<Logs> {
        if batch_size == 0 {
            return Err(Error::Input("evaluate: batch_size must be positive".into()));
        }
        let rows = data.rows()?;
        self.reset_metrics();
        let mut means = self.loss_means();
        for start in (0..rows).step_by(batch_size) {
            let end = (start + batch_size).min(rows);
            let b = data.slice(start, end)?;
            let (loss, per_output) = self.test_step(&b.x, &b.y, b.sample_weight.as_ref())?;
            self.record(&mut means, loss, &per_output, (end - start) as f32);
        }
        Ok(self.logs(&means, prefix))
    }

    /// Keras' `test_on_batch`: the batch's loss and metrics in inference mode.
    pub fn test_on_batch(
        &mut self,
        x: &[Value],
        y: &[ArrayD<f32>],
        sample_weight: Option<&ArrayD<f32>>,
    ) -> Result<Logs> {
        self.one_batch(x, y, sample_weight, Self::test_step)
    }

    /// Keras' `predict` with a batch size: the model's outputs, `batch_size`
    /// rows at a time.
    pub fn predict(&self, x: &[Value], batch_size: usize) -> Result<Vec<Value>> {
        self.model
            .predict_in_batches_with(x, batch_size, &self.ctx, |_, _| {})
    }

    /// The compiled model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Keras' `compile_config`, as a `.keras` archive of the trained model
    /// stores it: the optimizer's config (its learning rate as it is now),
    /// the loss (one, or one per output name), loss weights, metrics and
    /// weighted metrics (a list, or lists per output name).
    pub fn compile_config(&self) -> Json {
        let names: Vec<String> = (0..self.losses.len())
            .map(|k| self.output_name(k))
            .collect();
        let several = names.len() > 1;
        let loss_of = |l: &Option<Box<dyn Loss>>| l.as_ref().map_or(Json::Null, |l| l.config());
        let loss = if several {
            Json::Object(
                names
                    .iter()
                    .zip(&self.losses)
                    .map(|(n, l)| (n.clone(), loss_of(l)))
                    .collect(),
            )
        } else {
            self.losses.first().map_or(Json::Null, loss_of)
        };
        let loss_weights = if self.loss_weights.iter().all(|&w| w == 1.0) {
            Json::Null
        } else {
            Json::Object(
                names
                    .iter()
                    .zip(&self.loss_weights)
                    .map(|(n, &w)| (n.clone(), Json::from(f64::from(w))))
                    .collect(),
            )
        };
        let metrics = |weighted: bool| -> Json {
            let of = |k: usize| -> Vec<Json> {
                self.metric_configs
                    .iter()
                    .filter(|(o, w, _)| *o == k && *w == weighted)
                    .map(|(_, _, c)| c.clone())
                    .collect()
            };
            if !self.metric_configs.iter().any(|(_, w, _)| *w == weighted) {
                Json::Null
            } else if several {
                Json::Object(
                    names
                        .iter()
                        .enumerate()
                        .map(|(k, n)| (n.clone(), Json::Array(of(k))))
                        .collect(),
                )
            } else {
                Json::Array(of(0))
            }
        };
        serde_json::json!({
            "optimizer": self.optimizer.config(),
            "loss": loss,
            "loss_weights": loss_weights,
            "metrics": metrics(false),
            "weighted_metrics": metrics(true),
            "run_eagerly": false,
            "steps_per_execution": 1,
            "jit_compile": false,
        })
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

    /// The logs under Keras' names, each after `prefix` (`val_`).
    fn logs(&self, means: &[Mean], prefix: &str) -> Logs {
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
        for entry in &mut logs {
            entry.0 = format!("{prefix}{}", entry.0);
        }
        logs.sort_by(|a, b| a.0.cmp(&b.0));
        logs
    }
}

/// The training rows and the validation data: `validation_data`, or the
/// last `validation_split` of the rows (Keras: the first
/// `floor(rows · (1 - split))` train).
fn split_validation(all: &Dataset, options: &FitOptions) -> Result<(Dataset, Option<Dataset>)> {
    if let Some(v) = &options.validation_data {
        v.rows()?;
        return Ok((all.clone(), Some(v.clone())));
    }
    let split = options.validation_split;
    if split == 0.0 {
        return Ok((all.clone(), None));
    }
    if !(0.0..1.0).contains(&split) {
        return Err(Error::Input(format!(
            "validation_split must lie in [0, 1), got {split}"
        )));
    }
    let rows = all.rows()?;
    let at = (rows as f64 * (1.0 - split)).floor() as usize;
    if at == 0 || at == rows {
        return Err(Error::Input(format!(
            "validation_split {split} of {rows} rows leaves an empty training or validation \
             set; give more rows or another split"
        )));
    }
    Ok((all.slice(0, at)?, Some(all.slice(at, rows)?)))
}
