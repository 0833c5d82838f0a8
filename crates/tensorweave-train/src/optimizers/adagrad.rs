//! `keras.optimizers.Adagrad`: `acc += g²` (from `initial_accumulator_value`),
//! `w -= lr·g / sqrt(acc + epsilon)`.

use ndarray::{ArrayD, Zip};
use serde_json::{Map, Value};
use tensorweave_core::Result;

use super::base::{optimizer_common, Engine, Hyper, Rule};
use super::sgd::not_a_table;
use crate::config::{num, ConfigReader};
use crate::gradient::{as_table, Gradient};
use crate::util::{config_err, f32_of};

/// Adagrad.
#[derive(Debug, Clone)]
pub struct Adagrad {
    engine: Engine<AdagradRule>,
}

#[derive(Debug, Clone)]
pub(crate) struct AdagradRule {
    initial_accumulator_value: f64,
    epsilon: f64,
}

impl Adagrad {
    /// Adagrad with this learning rate (Keras' default is 0.001).
    pub fn new(learning_rate: f64) -> Self {
        Adagrad {
            engine: Engine::new(
                Hyper::new("adagrad", learning_rate),
                AdagradRule {
                    initial_accumulator_value: 0.1,
                    epsilon: 1e-7,
                },
            ),
        }
    }

    /// The accumulators' starting value (default 0.1).
    pub fn initial_accumulator_value(mut self, value: f64) -> Self {
        self.engine.rule.initial_accumulator_value = value;
        self
    }

    /// Added to the accumulator inside the square root (default 1e-7).
    pub fn epsilon(mut self, epsilon: f64) -> Self {
        self.engine.rule.epsilon = epsilon;
        self
    }

    pub(crate) fn from_reader(c: &mut ConfigReader<'_>) -> Result<Self> {
        let hyper = Hyper::from_reader(c, "adagrad", 0.001)?;
        let rule = AdagradRule {
            initial_accumulator_value: c.f64_or("initial_accumulator_value", 0.1)?,
            epsilon: c.f64_or("epsilon", 1e-7)?,
        };
        Ok(Adagrad {
            engine: Engine::new(hyper, rule),
        })
    }
}

impl Default for Adagrad {
    fn default() -> Self {
        Adagrad::new(0.001)
    }
}

optimizer_common!(Adagrad);

impl Rule for AdagradRule {
    fn class_name(&self) -> &'static str {
        "Adagrad"
    }

    fn slot_groups(&self) -> Vec<&'static [&'static str]> {
        vec![&["accumulator"]]
    }

    fn slot_initial(&self) -> f32 {
        f32_of(self.initial_accumulator_value)
    }

    fn update(
        &self,
        g: &Gradient,
        w: &mut ArrayD<f32>,
        slots: &mut [ArrayD<f32>],
        lr: f32,
        _it: i64,
    ) -> Result<()> {
        let eps = f32_of(self.epsilon);
        let acc = slots
            .first_mut()
            .ok_or_else(|| config_err("Adagrad: missing accumulator (internal)"))?;
        match g {
            Gradient::Dense(g) => {
                Zip::from(&mut *acc).and(g).for_each(|a, &g| *a += g * g);
                Zip::from(w)
                    .and(g)
                    .and(&*acc)
                    .for_each(|w, &g, &a| *w -= (lr * g) / (a + eps).sqrt());
            }
            Gradient::Rows {
                indices, values, ..
            } => {
                // Both updates are scatters of the occurrences, in order; the step reads the
                // accumulator after all of this step's squares were added.
                let mut acc_t = as_table(acc).ok_or_else(not_a_table)?;
                for (occ, &row) in indices.iter().enumerate() {
                    Zip::from(acc_t.row_mut(row))
                        .and(values.row(occ))
                        .for_each(|a, &g| *a += g * g);
                }
                let mut table = as_table(w).ok_or_else(not_a_table)?;
                for (occ, &row) in indices.iter().enumerate() {
                    Zip::from(table.row_mut(row))
                        .and(values.row(occ))
                        .and(acc_t.row(row))
                        .for_each(|w, &g, &a| *w -= (lr * g) / (a + eps).sqrt());
                }
            }
        }
        Ok(())
    }

    fn config_entries(&self, m: &mut Map<String, Value>) {
        m.insert(
            "initial_accumulator_value".into(),
            num(self.initial_accumulator_value),
        );
        m.insert("epsilon".into(), num(self.epsilon));
    }
}
