//! Keras' progress output of `fit`, on standard error: `Epoch 1/3`, then a
//! bar redrawn after each batch (`3/8 ━━━━━━━━━━━━────────── 1s 12ms/step -
//! loss: 0.6931`, with the time left while the epoch runs and the time taken
//! at its end, validation values included), or one plain line per epoch when
//! standard error is not a terminal (Keras' `verbose=2`).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use crate::fit::Logs;

/// How much `fit` prints (Keras' `verbose`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Verbosity {
    /// Nothing (Keras' 0).
    Silent,
    /// The bar on a terminal, plain lines otherwise (Keras' `"auto"`).
    #[default]
    Auto,
    /// The bar, redrawn after each batch (Keras' 1).
    Bar,
    /// One line per epoch (Keras' 2).
    Lines,
}

impl Verbosity {
    fn resolved(self) -> Verbosity {
        match self {
            Verbosity::Auto if std::io::stderr().is_terminal() => Verbosity::Bar,
            Verbosity::Auto => Verbosity::Lines,
            other => other,
        }
    }
}

/// The progress of one `fit`.
#[derive(Debug)]
pub(crate) struct Progress {
    mode: Verbosity,
    epochs: usize,
    steps: usize,
    start: Instant,
}

const WIDTH: usize = 20;

impl Progress {
    pub(crate) fn new(verbosity: Verbosity, epochs: usize, steps: usize) -> Self {
        Progress {
            mode: verbosity.resolved(),
            epochs,
            steps,
            start: Instant::now(),
        }
    }

    /// Before epoch `epoch` (0-based).
    pub(crate) fn epoch_begin(&mut self, epoch: usize) {
        self.start = Instant::now();
        if self.mode != Verbosity::Silent {
            eprintln!("Epoch {}/{}", epoch + 1, self.epochs);
        }
    }

    /// After batch `batch` (0-based) with the running logs.
    pub(crate) fn batch_end(&self, batch: usize, logs: &Logs) {
        if self.mode != Verbosity::Bar {
            return;
        }
        let done = batch + 1;
        let per_step = self.start.elapsed() / done.max(1) as u32;
        let left = per_step * self.steps.saturating_sub(done) as u32;
        eprint!(
            "\r{} {} {} - {}\x1b[K",
            self.count(done),
            bar(done, self.steps),
            seconds(left),
            values(logs)
        );
    }

    /// After the epoch, with its logs (validation values included).
    pub(crate) fn epoch_end(&self, logs: &Logs) {
        let took = self.start.elapsed();
        let per_step = took / self.steps.max(1) as u32;
        match self.mode {
            Verbosity::Bar => eprintln!(
                "\r{} {} {} {}/step - {}\x1b[K",
                self.count(self.steps),
                bar(self.steps, self.steps),
                seconds(took),
                millis(per_step),
                values(logs)
            ),
            Verbosity::Lines => eprintln!(
                "{} - {} - {}/step - {}",
                self.count(self.steps),
                seconds(took),
                millis(per_step),
                values(logs)
            ),
            _ => {}
        }
    }

    fn count(&self, done: usize) -> String {
        let width = self.steps.to_string().len();
        format!("{done:>width$}/{}", self.steps)
    }
}

/// `━━━━━━────` for `done` of `total`.
fn bar(done: usize, total: usize) -> String {
    let full = (done * WIDTH)
        .checked_div(total)
        .unwrap_or(WIDTH)
        .min(WIDTH);
    format!("{}{}", "━".repeat(full), "─".repeat(WIDTH - full))
}

fn seconds(d: Duration) -> String {
    format!("{}s", d.as_secs())
}

fn millis(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms >= 1.0 {
        format!("{}ms", ms.round() as u64)
    } else {
        format!("{}us", (ms * 1e3).round() as u64)
    }
}

/// `loss: 0.6931 - accuracy: 0.5000`, as Keras formats values (`%.4f`, or
/// `%.4e` below 1e-3).
fn values(logs: &Logs) -> String {
    logs.iter()
        .map(|(name, v)| {
            if v.abs() >= 1e-3 || *v == 0.0 || !v.is_finite() {
                format!("{name}: {v:.4}")
            } else {
                format!("{name}: {v:.4e}")
            }
        })
        .collect::<Vec<_>>()
        .join(" - ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_and_values_look_like_keras() {
        assert_eq!(bar(0, 4), "─".repeat(20));
        assert_eq!(bar(2, 4), format!("{}{}", "━".repeat(10), "─".repeat(10)));
        assert_eq!(bar(4, 4), "━".repeat(20));
        let logs = vec![
            ("accuracy".to_string(), 0.5),
            ("loss".to_string(), 0.000_12),
        ];
        assert_eq!(values(&logs), "accuracy: 0.5000 - loss: 1.2000e-4");
        assert_eq!(millis(Duration::from_micros(2500)), "3ms");
    }
}
