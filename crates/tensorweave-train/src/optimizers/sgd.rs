//! `keras.optimizers.SGD`: `w -= lr * g`, or with momentum `m = momentum*m - lr*g`,
//! `w += m` (nesterov: `w += momentum*m - lr*g`).

use ndarray::Zip;
use tensorweave_core::Result;

use super::base::{Rule, Step};
use super::macros::optimizer;
use crate::gradient::{scatter, Gradient, MapDense};
use crate::util::config_err;

optimizer! {
    /// Stochastic gradient descent, with optional (Nesterov) momentum.
    pub struct Sgd("SGD", "sgd", 0.01);

    options SgdOptions {
        /// The momentum, in `[0, 1]` (checked when the optimizer runs).
        momentum: f64 = 0.0,
        /// Nesterov momentum.
        nesterov: bool = false,
    }
}

impl Rule for SgdOptions {
    fn check(&self, what: &str) -> Result<()> {
        if !(0.0..=1.0).contains(&self.momentum) {
            return Err(config_err(format!(
                "{what}: 'momentum' must be a float in [0, 1], got {}",
                self.momentum
            )));
        }
        Ok(())
    }

    fn slot_groups(&self) -> Vec<&'static [&'static str]> {
        if self.momentum != 0.0 {
            vec![&["momentum"]]
        } else {
            Vec::new()
        }
    }

    fn update(&self, step: Step<'_>) -> Result<()> {
        let (g, w, lr) = (step.gradient, step.value, step.lr);
        let Some(m) = step.slots.first_mut() else {
            // No momentum: w -= g * lr (row gradients scatter each occurrence in turn).
            return match g {
                Gradient::Dense(g) => {
                    Zip::from(w).and(g).for_each(|w, &g| *w -= g * lr);
                    Ok(())
                }
                Gradient::Rows {
                    indices, values, ..
                } => scatter(w, indices, values.view(), |mut w, g, _| {
                    w.zip_mut_with(&g, |w, &g| *w -= g * lr)
                }),
            };
        };
        let momentum = self.momentum as f32;
        // The momentum terms are dense: g * lr per occurrence, then summed.
        let step = g.map_dense(|g| g * lr);
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
}
