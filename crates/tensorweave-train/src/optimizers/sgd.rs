//! `keras.optimizers.SGD`: `w -= lr * g`, or with momentum `m = momentum*m - lr*g`,
//! `w += m` (nesterov: `w += momentum*m - lr*g`).

use ndarray::{ArrayD, Zip};
use serde_json::{Map, Value};
use tensorweave_core::Result;

use super::base::{optimizer_common, Engine, Hyper, Rule};
use crate::config::{num, ConfigReader};
use crate::gradient::{as_table, segment_sum, Gradient};
use crate::util::config_err;

/// Stochastic gradient descent, with optional (Nesterov) momentum.
#[derive(Debug, Clone)]
pub struct Sgd {
    engine: Engine<SgdRule>,
}

#[derive(Debug, Clone)]
pub(crate) struct SgdRule {
    momentum: f64,
    nesterov: bool,
}

impl Sgd {
    /// SGD with this learning rate (Keras' default is 0.01), no momentum.
    pub fn new(learning_rate: f64) -> Self {
        Sgd {
            engine: Engine::new(
                Hyper::new("sgd", learning_rate),
                SgdRule {
                    momentum: 0.0,
                    nesterov: false,
                },
            ),
        }
    }

    /// The momentum, in `[0, 1]` (checked when the optimizer runs).
    pub fn momentum(mut self, momentum: f64) -> Self {
        self.engine.rule.momentum = momentum;
        self
    }

    /// Nesterov momentum.
    pub fn nesterov(mut self, nesterov: bool) -> Self {
        self.engine.rule.nesterov = nesterov;
        self
    }

    pub(crate) fn from_reader(c: &mut ConfigReader<'_>) -> Result<Self> {
        let hyper = Hyper::from_reader(c, "sgd", 0.01)?;
        let momentum = c.f64_or("momentum", 0.0)?;
        if !(0.0..=1.0).contains(&momentum) {
            return Err(config_err(format!(
                "{}: 'momentum' must be a float in [0, 1], got {momentum}",
                c.what()
            )));
        }
        let nesterov = c.bool_or("nesterov", false)?;
        Ok(Sgd {
            engine: Engine::new(hyper, SgdRule { momentum, nesterov }),
        })
    }
}

impl Default for Sgd {
    fn default() -> Self {
        Sgd::new(0.01)
    }
}

optimizer_common!(Sgd);

impl Rule for SgdRule {
    fn class_name(&self) -> &'static str {
        "SGD"
    }

    fn slot_groups(&self) -> Vec<&'static [&'static str]> {
        if self.momentum != 0.0 {
            vec![&["momentum"]]
        } else {
            Vec::new()
        }
    }

    fn update(
        &self,
        g: &Gradient,
        w: &mut ArrayD<f32>,
        slots: &mut [ArrayD<f32>],
        lr: f32,
        _it: i64,
    ) -> Result<()> {
        if !(0.0..=1.0).contains(&self.momentum) {
            return Err(config_err(format!(
                "SGD: 'momentum' must be in [0, 1], got {}",
                self.momentum
            )));
        }
        let Some(m) = slots.first_mut() else {
            // No momentum: w -= g * lr (row gradients scatter each occurrence in turn).
            match g {
                Gradient::Dense(g) => Zip::from(w).and(g).for_each(|w, &g| *w -= g * lr),
                Gradient::Rows {
                    indices, values, ..
                } => {
                    let mut table = as_table(w).ok_or_else(not_a_table)?;
                    for (occ, &row) in indices.iter().enumerate() {
                        let mut dst = table.row_mut(row);
                        Zip::from(&mut dst)
                            .and(&values.row(occ))
                            .for_each(|w, &g| *w -= g * lr);
                    }
                }
            }
            return Ok(());
        };
        let momentum = self.momentum as f32;
        // The momentum terms are dense: g * lr per occurrence, then summed.
        let step = match g {
            Gradient::Dense(g) => g.mapv(|g| g * lr),
            Gradient::Rows {
                indices,
                values,
                shape,
            } => segment_sum(indices, values.mapv(|g| g * lr).view(), shape[0]).into_dyn(),
        };
        Zip::from(&mut *m)
            .and(&step)
            .for_each(|m, &s| *m = *m * momentum - s);
        if self.nesterov {
            Zip::from(w)
                .and(&*m)
                .and(&step)
                .for_each(|w, &m, &s| *w += m * momentum - s);
        } else {
            Zip::from(w).and(&*m).for_each(|w, &m| *w += m);
        }
        Ok(())
    }

    fn config_entries(&self, m: &mut Map<String, Value>) {
        m.insert("momentum".into(), num(self.momentum));
        m.insert("nesterov".into(), Value::from(self.nesterov));
    }
}

pub(crate) fn not_a_table() -> tensorweave_core::Error {
    crate::util::input_err("a row gradient needs a 2-D [rows, dim] variable")
}
