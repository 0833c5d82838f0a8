//! Keras' training callbacks: the [`Callback`] trait that [`crate::Trainer::fit_with`]
//! calls at the start and end of training, of each epoch and after each batch, and
//! the built-in ones with Keras 3.15.1's rules: [`EarlyStopping`],
//! [`ReduceLROnPlateau`], [`CsvLogger`], [`TerminateOnNaN`], [`ModelCheckpoint`].
//!
//! Callbacks run in the order given; the epoch's logs reach each in turn (so a
//! `CsvLogger` after a `ReduceLROnPlateau` sees its `learning_rate`), and the
//! [`crate::History`] records them after all callbacks, as Keras' `History`
//! comes last.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use ndarray::ArrayD;
use tensorweave_core::{Error, Model, Result};

use crate::fit::Logs;
use crate::optimizers::Optimizer;

/// What a callback may reach during training: the model (its weights), the
/// optimizer (its learning rate) and the request to stop.
pub struct Control<'a> {
    /// The model being trained.
    pub model: &'a Model,
    /// Its optimizer.
    pub optimizer: &'a mut dyn Optimizer,
    stop: bool,
}

impl<'a> Control<'a> {
    pub(crate) fn new(model: &'a Model, optimizer: &'a mut dyn Optimizer) -> Self {
        Control {
            model,
            optimizer,
            stop: false,
        }
    }

    /// Asks `fit` to stop after the current batch (Keras' `model.stop_training = True`).
    pub fn stop_training(&mut self) {
        self.stop = true;
    }

    /// Whether a callback asked to stop.
    pub fn stopping(&self) -> bool {
        self.stop
    }
}

/// A training callback (Keras' `keras.callbacks.Callback`). Every method has
/// an empty default; an error stops `fit` and is returned from it.
pub trait Callback {
    /// Before the first epoch.
    fn on_train_begin(&mut self, _ctl: &mut Control<'_>) -> Result<()> {
        Ok(())
    }

    /// Before epoch `epoch` (0-based).
    fn on_epoch_begin(&mut self, _epoch: usize, _ctl: &mut Control<'_>) -> Result<()> {
        Ok(())
    }

    /// After training batch `batch` of the epoch, with the epoch's running logs.
    fn on_train_batch_end(
        &mut self,
        _batch: usize,
        _logs: &Logs,
        _ctl: &mut Control<'_>,
    ) -> Result<()> {
        Ok(())
    }

    /// After epoch `epoch`, with its logs (training and `val_` values); a
    /// callback may add to them (ReduceLROnPlateau adds `learning_rate`).
    fn on_epoch_end(
        &mut self,
        _epoch: usize,
        _logs: &mut Logs,
        _ctl: &mut Control<'_>,
    ) -> Result<()> {
        Ok(())
    }

    /// After the last epoch, with its logs.
    fn on_train_end(&mut self, _logs: &Logs, _ctl: &mut Control<'_>) -> Result<()> {
        Ok(())
    }
}

/// The value of `name` in `logs`.
pub fn log_value(logs: &Logs, name: &str) -> Option<f32> {
    logs.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
}

/// Whether a monitored value should fall or rise (Keras' `mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// From the name: losses and errors fall; accuracies, AUC, precision and recall rise.
    Auto,
    /// Lower is better.
    Min,
    /// Higher is better.
    Max,
}

/// Keras' `MonitorCallback`: a monitored log value, its direction and the
/// smallest change that counts as an improvement.
#[derive(Debug, Clone)]
struct Monitor {
    name: String,
    mode: Mode,
    min_delta: f64,
}

impl Monitor {
    /// Whether lower is better, resolved as Keras resolves `mode="auto"`.
    fn lower_is_better(&self) -> Result<bool> {
        match self.mode {
            Mode::Min => Ok(true),
            Mode::Max => Ok(false),
            Mode::Auto => {
                let metric = self.name.strip_prefix("val_").unwrap_or(&self.name);
                let rising = ["accuracy", "acc", "auc", "precision", "recall"];
                let falling = [
                    "loss",
                    "mae",
                    "mse",
                    "mean_absolute_error",
                    "mean_squared_error",
                ];
                let ends = |names: &[&str]| {
                    names
                        .iter()
                        .any(|n| metric == *n || metric.ends_with(&format!("_{n}")))
                };
                if ends(&falling) {
                    Ok(true)
                } else if ends(&rising) {
                    Ok(false)
                } else {
                    Err(Error::Input(format!(
                        "cannot tell whether the monitored value '{}' should be minimized or \
                         maximized; set the mode to Mode::Min or Mode::Max",
                        self.name
                    )))
                }
            }
        }
    }

    /// Keras' `_is_improvement`: `current - min_delta` (the delta signed by
    /// the direction, in float32 as Keras' ops compare) beats `best`.
    fn improves(&self, current: f32, best: Option<f32>) -> Result<bool> {
        let Some(best) = best else {
            return Ok(true);
        };
        let lower = self.lower_is_better()?;
        let delta = if lower {
            -self.min_delta
        } else {
            self.min_delta
        };
        let shifted = (f64::from(current) - delta) as f32;
        Ok(if lower {
            shifted < best
        } else {
            shifted > best
        })
    }
}

/// Keras' `EarlyStopping`: stops when the monitored value has not improved
/// for `patience` epochs; with `restore_best_weights` the model ends with the
/// weights of its best epoch.
#[derive(Debug, Clone)]
pub struct EarlyStopping {
    monitor: Monitor,
    patience: usize,
    baseline: Option<f32>,
    restore_best_weights: bool,
    start_from_epoch: usize,
    wait: usize,
    best: Option<f32>,
    best_weights: Option<Vec<ArrayD<f32>>>,
    /// The epoch (0-based) training stopped at, or 0 if it ran to the end.
    pub stopped_epoch: usize,
    /// The epoch (0-based) of the best value.
    pub best_epoch: usize,
}

impl EarlyStopping {
    /// Monitors `monitor` (Keras' default `val_loss`) with patience 0.
    pub fn new(monitor: &str) -> Self {
        EarlyStopping {
            monitor: Monitor {
                name: monitor.to_string(),
                mode: Mode::Auto,
                min_delta: 0.0,
            },
            patience: 0,
            baseline: None,
            restore_best_weights: false,
            start_from_epoch: 0,
            wait: 0,
            best: None,
            best_weights: None,
            stopped_epoch: 0,
            best_epoch: 0,
        }
    }

    /// Epochs without improvement before stopping.
    pub fn patience(mut self, patience: usize) -> Self {
        self.patience = patience;
        self
    }

    /// The smallest change that counts as an improvement.
    pub fn min_delta(mut self, delta: f64) -> Self {
        self.monitor.min_delta = delta.abs();
        self
    }

    /// Whether lower or higher is better.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.monitor.mode = mode;
        self
    }

    /// A value the monitored one must beat before patience starts counting.
    pub fn baseline(mut self, baseline: f32) -> Self {
        self.baseline = Some(baseline);
        self
    }

    /// Ends training with the best epoch's weights.
    pub fn restore_best_weights(mut self, restore: bool) -> Self {
        self.restore_best_weights = restore;
        self
    }

    /// Epochs to wait before monitoring at all.
    pub fn start_from_epoch(mut self, epoch: usize) -> Self {
        self.start_from_epoch = epoch;
        self
    }

    /// The best monitored value so far.
    pub fn best(&self) -> Option<f32> {
        self.best
    }
}

impl Callback for EarlyStopping {
    fn on_train_begin(&mut self, _ctl: &mut Control<'_>) -> Result<()> {
        self.wait = 0;
        self.stopped_epoch = 0;
        self.best = None;
        self.best_weights = None;
        self.best_epoch = 0;
        self.monitor.lower_is_better().map(|_| ())
    }

    fn on_epoch_end(&mut self, epoch: usize, logs: &mut Logs, ctl: &mut Control<'_>) -> Result<()> {
        let Some(current) = log_value(logs, &self.monitor.name) else {
            return Ok(());
        };
        if epoch < self.start_from_epoch {
            return Ok(());
        }
        if self.restore_best_weights && self.best_weights.is_none() {
            self.best_weights = Some(ctl.model.get_weights());
            self.best_epoch = epoch;
        }
        self.wait += 1;
        if self.monitor.improves(current, self.best)? {
            self.best = Some(current);
            self.best_epoch = epoch;
            if self.restore_best_weights {
                self.best_weights = Some(ctl.model.get_weights());
            }
            if self.baseline.is_none() || self.monitor.improves(current, self.baseline)? {
                self.wait = 0;
            }
            return Ok(());
        }
        if self.wait >= self.patience && epoch > 0 {
            self.stopped_epoch = epoch;
            ctl.stop_training();
        }
        Ok(())
    }

    fn on_train_end(&mut self, _logs: &Logs, ctl: &mut Control<'_>) -> Result<()> {
        if self.restore_best_weights {
            if let Some(w) = &self.best_weights {
                ctl.model.set_weights(w)?;
            }
        }
        Ok(())
    }
}

/// Keras' `ReduceLROnPlateau`: multiplies the learning rate by `factor` when
/// the monitored value has not improved for `patience` epochs (never below
/// `min_lr`), then waits `cooldown` epochs. Logs the learning rate each epoch
/// as `learning_rate` (the rate the epoch used, written before deciding).
#[derive(Debug, Clone)]
pub struct ReduceLROnPlateau {
    monitor: Monitor,
    factor: f64,
    patience: usize,
    cooldown: usize,
    min_lr: f64,
    wait: usize,
    cooldown_counter: usize,
    best: Option<f32>,
}

impl ReduceLROnPlateau {
    /// Monitors `monitor` with Keras' defaults: factor 0.1, patience 10,
    /// min_delta 1e-4, cooldown 0, min_lr 0.
    pub fn new(monitor: &str) -> Self {
        ReduceLROnPlateau {
            monitor: Monitor {
                name: monitor.to_string(),
                mode: Mode::Auto,
                min_delta: 1e-4,
            },
            factor: 0.1,
            patience: 10,
            cooldown: 0,
            min_lr: 0.0,
            wait: 0,
            cooldown_counter: 0,
            best: None,
        }
    }

    /// The factor the rate is multiplied by; must be below 1 (checked when training starts).
    pub fn factor(mut self, factor: f64) -> Self {
        self.factor = factor;
        self
    }

    /// Epochs without improvement before a reduction.
    pub fn patience(mut self, patience: usize) -> Self {
        self.patience = patience;
        self
    }

    /// Epochs to wait after a reduction.
    pub fn cooldown(mut self, cooldown: usize) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// The lowest rate.
    pub fn min_lr(mut self, min_lr: f64) -> Self {
        self.min_lr = min_lr;
        self
    }

    /// The smallest change that counts as an improvement.
    pub fn min_delta(mut self, delta: f64) -> Self {
        self.monitor.min_delta = delta.abs();
        self
    }

    /// Whether lower or higher is better.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.monitor.mode = mode;
        self
    }
}

impl Callback for ReduceLROnPlateau {
    fn on_train_begin(&mut self, _ctl: &mut Control<'_>) -> Result<()> {
        if self.factor >= 1.0 || self.factor.is_nan() {
            return Err(Error::Input(format!(
                "ReduceLROnPlateau does not support a factor >= 1.0, got {}",
                self.factor
            )));
        }
        self.best = None;
        self.cooldown_counter = 0;
        self.wait = 0;
        self.monitor.lower_is_better().map(|_| ())
    }

    fn on_epoch_end(
        &mut self,
        _epoch: usize,
        logs: &mut Logs,
        ctl: &mut Control<'_>,
    ) -> Result<()> {
        let lr = ctl.optimizer.current_learning_rate();
        set_log(logs, "learning_rate", lr);
        let Some(current) = log_value(logs, &self.monitor.name) else {
            return Ok(());
        };
        if self.cooldown_counter > 0 {
            self.cooldown_counter -= 1;
            self.wait = 0;
        }
        if self.monitor.improves(current, self.best)? {
            self.best = Some(current);
            self.wait = 0;
        } else if self.cooldown_counter == 0 {
            self.wait += 1;
            if self.wait >= self.patience {
                let old = f64::from(lr);
                if old > f64::from(self.min_lr as f32) {
                    let new = (old * self.factor).max(self.min_lr);
                    ctl.optimizer.set_learning_rate(new as f32)?;
                    self.cooldown_counter = self.cooldown;
                    self.wait = 0;
                }
            }
        }
        Ok(())
    }
}

/// Sets `name` in `logs`, keeping them sorted by name.
pub(crate) fn set_log(logs: &mut Logs, name: &str, value: f32) {
    match logs.iter_mut().find(|(n, _)| n == name) {
        Some(entry) => entry.1 = value,
        None => {
            logs.push((name.to_string(), value));
            logs.sort_by(|a, b| a.0.cmp(&b.0));
        }
    }
}

/// Keras' `TerminateOnNaN`: stops training after a batch whose loss is NaN or infinite.
#[derive(Debug, Clone, Default)]
pub struct TerminateOnNaN {
    /// The batch (0-based, within its epoch) that stopped training, if any.
    pub stopped_at_batch: Option<usize>,
}

impl TerminateOnNaN {
    /// The callback.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Callback for TerminateOnNaN {
    fn on_train_batch_end(
        &mut self,
        batch: usize,
        logs: &Logs,
        ctl: &mut Control<'_>,
    ) -> Result<()> {
        if log_value(logs, "loss").is_some_and(|l| !l.is_finite()) {
            self.stopped_at_batch = Some(batch);
            ctl.stop_training();
        }
        Ok(())
    }
}

/// Keras' `CSVLogger`: one row per epoch (`epoch` then the logs' names, sorted,
/// fixed by the first epoch), values as Python prints floats, lines ended by
/// `\r\n` as Python's `csv` module ends them. The file is written when the
/// first epoch ends and flushed after each row.
#[derive(Debug)]
pub struct CsvLogger {
    path: PathBuf,
    separator: char,
    append: bool,
    keys: Option<Vec<String>>,
    file: Option<File>,
}

impl CsvLogger {
    /// Writes to `path` (replacing it), comma-separated.
    pub fn new(path: impl AsRef<Path>) -> Self {
        CsvLogger {
            path: path.as_ref().to_path_buf(),
            separator: ',',
            append: false,
            keys: None,
            file: None,
        }
    }

    /// The column separator.
    pub fn separator(mut self, separator: char) -> Self {
        self.separator = separator;
        self
    }

    /// Appends to an existing file (no header if it is not empty).
    pub fn append(mut self, append: bool) -> Self {
        self.append = append;
        self
    }

    fn io_error(&self, e: std::io::Error) -> Error {
        Error::Input(format!(
            "CSVLogger: cannot write '{}': {e}",
            self.path.display()
        ))
    }
}

impl Callback for CsvLogger {
    fn on_train_begin(&mut self, _ctl: &mut Control<'_>) -> Result<()> {
        let header = !(self.append && self.path.metadata().is_ok_and(|m| m.len() > 0));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(self.append)
            .write(true)
            .truncate(!self.append)
            .open(&self.path)
            .map_err(|e| self.io_error(e))?;
        self.file = Some(file);
        self.keys = None;
        if !header {
            self.keys = Some(Vec::new());
        }
        Ok(())
    }

    fn on_epoch_end(
        &mut self,
        epoch: usize,
        logs: &mut Logs,
        _ctl: &mut Control<'_>,
    ) -> Result<()> {
        let sep = self.separator.to_string();
        let mut text = String::new();
        if self.keys.as_ref().is_none_or(Vec::is_empty) {
            let mut keys: Vec<String> = logs.iter().map(|(n, _)| n.clone()).collect();
            keys.sort();
            if self.keys.is_none() {
                let header: Vec<&str> = std::iter::once("epoch")
                    .chain(keys.iter().map(String::as_str))
                    .collect();
                text.push_str(&header.join(&sep));
                text.push_str("\r\n");
            }
            self.keys = Some(keys);
        }
        let keys = self.keys.as_deref().unwrap_or_default();
        let mut row = vec![epoch.to_string()];
        row.extend(keys.iter().map(|k| match log_value(logs, k) {
            Some(v) => python_float(v),
            None => "NA".to_string(),
        }));
        text.push_str(&row.join(&sep));
        text.push_str("\r\n");
        let result = match self.file.as_mut() {
            Some(f) => f.write_all(text.as_bytes()).and_then(|()| f.flush()),
            None => Ok(()),
        };
        result.map_err(|e| self.io_error(e))
    }

    fn on_train_end(&mut self, _logs: &Logs, _ctl: &mut Control<'_>) -> Result<()> {
        self.file = None;
        Ok(())
    }
}

/// A float32 value as Python's `str(float(v))` prints it: the shortest
/// decimal that reads back as the same double, in exponent form below 1e-4
/// and from 1e16 (`1e-05`, `1.5e+16`).
pub fn python_float(v: f32) -> String {
    let d = f64::from(v);
    if d.is_nan() {
        return "nan".into();
    }
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let a = d.abs();
    if a != 0.0 && !(1e-4..1e16).contains(&a) {
        let s = format!("{d:e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.abs());
    }
    let s = format!("{d}");
    if s.contains('.') {
        s
    } else {
        format!("{s}.0")
    }
}

/// How [`ModelCheckpoint`] writes the model to a path.
pub type Saver = Box<dyn FnMut(&Model, &Path) -> Result<()>>;

/// Keras' `ModelCheckpoint` (saving every epoch): writes the model with its
/// `saver` at the end of each epoch, or with `save_best_only` only when the
/// monitored value improved. The path may hold Keras' placeholders:
/// `{epoch}` / `{epoch:02d}` (1-based) and any log value, `{val_loss:.4f}`.
pub struct ModelCheckpoint {
    path: String,
    monitor: Monitor,
    save_best_only: bool,
    best: Option<f32>,
    saver: Saver,
    /// The paths written, in order.
    pub saved: Vec<PathBuf>,
}

impl std::fmt::Debug for ModelCheckpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelCheckpoint")
            .field("path", &self.path)
            .field("monitor", &self.monitor.name)
            .field("save_best_only", &self.save_best_only)
            .field("saved", &self.saved)
            .finish_non_exhaustive()
    }
}

impl ModelCheckpoint {
    /// Writes to `path` with `saver` (for instance tensorweave's native save),
    /// monitoring `val_loss`.
    pub fn new(path: &str, saver: Saver) -> Self {
        ModelCheckpoint {
            path: path.to_string(),
            monitor: Monitor {
                name: "val_loss".into(),
                mode: Mode::Auto,
                min_delta: 0.0,
            },
            save_best_only: false,
            best: None,
            saver,
            saved: Vec::new(),
        }
    }

    /// The monitored value (for `save_best_only`).
    pub fn monitor(mut self, name: &str) -> Self {
        self.monitor.name = name.to_string();
        self
    }

    /// Saves only when the monitored value improved.
    pub fn save_best_only(mut self, best_only: bool) -> Self {
        self.save_best_only = best_only;
        self
    }

    /// Whether lower or higher is better.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.monitor.mode = mode;
        self
    }
}

impl Callback for ModelCheckpoint {
    fn on_train_begin(&mut self, _ctl: &mut Control<'_>) -> Result<()> {
        if self.save_best_only {
            self.monitor.lower_is_better()?;
        }
        Ok(())
    }

    fn on_epoch_end(&mut self, epoch: usize, logs: &mut Logs, ctl: &mut Control<'_>) -> Result<()> {
        if self.save_best_only {
            let Some(current) = log_value(logs, &self.monitor.name) else {
                return Ok(());
            };
            // Keras compares with its own operator, without min_delta.
            if !self.monitor.improves(current, self.best)? {
                return Ok(());
            }
            self.best = Some(current);
        }
        let path = PathBuf::from(format_path(&self.path, epoch + 1, logs)?);
        (self.saver)(ctl.model, &path)?;
        self.saved.push(path);
        Ok(())
    }
}

/// Fills `{epoch}`, `{epoch:02d}`, `{name}` and `{name:.4f}` in a checkpoint path.
fn format_path(template: &str, epoch: usize, logs: &Logs) -> Result<String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}').map(|c| open + c).ok_or_else(|| {
            Error::Input(format!(
                "ModelCheckpoint: unclosed '{{' in path '{template}'"
            ))
        })?;
        let field = &rest[open + 1..close];
        let (name, spec) = field.split_once(':').unwrap_or((field, ""));
        let value = if name == "epoch" {
            Some(epoch as f64)
        } else {
            log_value(logs, name).map(f64::from)
        };
        let value = value.ok_or_else(|| {
            Error::Input(format!(
                "ModelCheckpoint: the path '{template}' names '{name}', which is neither \
                 'epoch' nor in the logs"
            ))
        })?;
        out.push_str(&format_number(value, spec, name == "epoch").ok_or_else(|| {
            Error::Input(format!(
                "ModelCheckpoint: unsupported format '{spec}' in path '{template}' (use d, 0Nd or .Nf)"
            ))
        })?);
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A number formatted by a Python format spec of the kinds `""`, `d`, `0Nd`, `.Nf`.
fn format_number(v: f64, spec: &str, integer: bool) -> Option<String> {
    if spec.is_empty() {
        return Some(if integer {
            format!("{}", v as i64)
        } else {
            python_float(v as f32)
        });
    }
    if let Some(digits) = spec.strip_suffix('d') {
        let width: usize = if digits.is_empty() {
            0
        } else {
            digits.trim_start_matches('0').parse().ok()?
        };
        return Some(format!("{:0width$}", v as i64));
    }
    let precision: usize = spec.strip_prefix('.')?.strip_suffix('f')?.parse().ok()?;
    Some(format!("{v:.precision$}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_python_prints_them() {
        assert_eq!(python_float(0.3), "0.30000001192092896");
        assert_eq!(python_float(1.0), "1.0");
        assert_eq!(python_float(1e-5), "9.999999747378752e-06");
        assert_eq!(python_float(0.0), "0.0");
        assert_eq!(python_float(f32::NAN), "nan");
        // Values printed by Python 3 for float(np.float32(v)).
        assert_eq!(python_float(2.0e16), "2.000000054512845e+16");
        assert_eq!(python_float(1e-4), "9.999999747378752e-05");
        assert_eq!(python_float(-1.5), "-1.5");
    }

    #[test]
    fn checkpoint_paths_take_epoch_and_log_values() {
        let logs = vec![("val_loss".to_string(), 0.123_456_f32)];
        assert_eq!(
            format_path("ck-{epoch:02d}-{val_loss:.2f}.json", 3, &logs).unwrap(),
            "ck-03-0.12.json"
        );
        assert_eq!(format_path("m{epoch}", 12, &logs).unwrap(), "m12");
        assert!(format_path("m{nope}", 1, &logs).is_err());
        assert!(format_path("m{epoch", 1, &logs).is_err());
    }

    #[test]
    fn monitors_resolve_their_direction_like_keras() {
        let m = |name: &str| Monitor {
            name: name.into(),
            mode: Mode::Auto,
            min_delta: 0.0,
        };
        assert!(m("val_loss").lower_is_better().unwrap());
        assert!(m("dense_loss").lower_is_better().unwrap());
        assert!(!m("val_accuracy").lower_is_better().unwrap());
        assert!(m("val_mae").lower_is_better().unwrap());
        assert!(m("something").lower_is_better().is_err());
        let strict = Monitor {
            min_delta: 0.1,
            ..m("loss")
        };
        assert!(!strict.improves(0.95, Some(1.0)).unwrap());
        assert!(strict.improves(0.85, Some(1.0)).unwrap());
    }
}
