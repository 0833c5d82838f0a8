//! `keras.optimizers.Adagrad`: `acc += g²` (from `initial_accumulator_value`),
//! `w -= lr·g / sqrt(acc + epsilon)`.

use ndarray::Zip;
use tensorweave_core::Result;

use super::base::{Rule, Step};
use super::macros::optimizer;
use crate::gradient::{as_table, scatter, Gradient};
use crate::util::{config_err, f32_of};

optimizer! {
    /// Adagrad.
    pub struct Adagrad("Adagrad", "adagrad", 0.001);

    options AdagradOptions {
        /// The accumulators' starting value (default 0.1).
        initial_accumulator_value: f64 = 0.1,
        /// Added to the accumulator inside the square root (default 1e-7).
        epsilon: f64 = 1e-7,
    }
}

impl Rule for AdagradOptions {
    fn slot_groups(&self) -> Vec<&'static [&'static str]> {
        vec![&["accumulator"]]
    }

    fn slot_initial(&self) -> f32 {
        f32_of(self.initial_accumulator_value)
    }

    fn update(&self, step: Step<'_>) -> Result<()> {
        let (w, lr) = (step.value, step.lr);
        let eps = f32_of(self.epsilon);
        let acc = step
            .slots
            .first_mut()
            .ok_or_else(|| config_err("Adagrad: missing accumulator (internal)"))?;
        match step.gradient {
            Gradient::Dense(g) => {
                Zip::from(&mut *acc).and(g).for_each(|a, &g| *a += g * g);
                Zip::from(w)
                    .and(g)
                    .and(&*acc)
                    .for_each(|w, &g, &a| *w -= (lr * g) / (a + eps).sqrt());
                Ok(())
            }
            Gradient::Rows {
                indices, values, ..
            } => {
                // Both updates are scatters of the occurrences, in order; the step reads the
                // accumulator after all of this step's squares were added.
                scatter(acc, indices, values.view(), |mut a, g, _| {
                    a.zip_mut_with(&g, |a, &g| *a += g * g)
                })?;
                let acc = as_table(acc)?;
                scatter(w, indices, values.view(), |w, g, row| {
                    Zip::from(w)
                        .and(g)
                        .and(acc.row(row))
                        .for_each(|w, &g, &a| *w -= (lr * g) / (a + eps).sqrt())
                })
            }
        }
    }
}
