//! `keras.optimizers.RMSprop`: `v = rho·v + (1 - rho)·g²`; centered: `a = rho·a + (1 - rho)·g`
//! and the denominator `v - a² + epsilon`, else `v + epsilon`; `inc = lr·g / sqrt(denominator)`
//! (epsilon inside the square root); with momentum `mom = momentum·mom + inc`, `w -= mom`,
//! else `w -= inc`.

use ndarray::{ArrayD, Zip};
use tensorweave_core::Result;

use super::base::{Rule, Step};
use super::macros::optimizer;
use crate::gradient::{as_table, scatter, segment_sum, Gradient, MapDense};
use crate::util::{config_err, f32_of};

optimizer! {
    /// RMSprop, with optional momentum and centering.
    pub struct RmsProp("RMSprop", "rm_sprop", 0.001);

    options RmsPropOptions {
        /// The decay of the squared-gradient average (default 0.9).
        rho: f64 = 0.9,
        /// Momentum (default 0: none).
        momentum: f64 = 0.0,
        /// Added to the denominator inside the square root (default 1e-7).
        epsilon: f64 = 1e-7,
        /// Centered RMSprop: normalise by the estimated variance of the gradient.
        centered: bool = false,
    }
}

impl Rule for RmsPropOptions {
    fn slot_groups(&self) -> Vec<&'static [&'static str]> {
        let mut groups: Vec<&'static [&'static str]> = vec![&["velocity"]];
        if self.momentum > 0.0 {
            groups.push(&["momentum"]);
        }
        if self.centered {
            groups.push(&["average_gradient"]);
        }
        groups
    }

    fn update(&self, step: Step<'_>) -> Result<()> {
        let (g, w, lr) = (step.gradient, step.value, step.lr);
        let rho = f32_of(self.rho);
        let one_minus_rho = f32_of(1.0 - self.rho);
        let eps = f32_of(self.epsilon);
        let use_momentum = self.momentum > 0.0;
        let (velocity, rest) = step
            .slots
            .split_first_mut()
            .ok_or_else(|| config_err("RMSprop: missing slots (internal)"))?;
        let (momentum, rest) = if use_momentum {
            let (m, r) = rest
                .split_first_mut()
                .ok_or_else(|| config_err("RMSprop: missing momentum (internal)"))?;
            (Some(m), r)
        } else {
            (None, rest)
        };
        let average = if self.centered {
            rest.first_mut()
        } else {
            None
        };

        // `(1 - rho)·g²` and `(1 - rho)·g` per occurrence, then summed into the table.
        let sq = g.map_dense(|x| one_minus_rho * (x * x));
        Zip::from(&mut *velocity)
            .and(&sq)
            .for_each(|v, &s| *v = rho * *v + s);
        let mut denominator: ArrayD<f32> = match average {
            Some(avg) => {
                let lin = g.map_dense(|x| one_minus_rho * x);
                Zip::from(&mut *avg)
                    .and(&lin)
                    .for_each(|a, &l| *a = rho * *a + l);
                let mut d = velocity.clone();
                Zip::from(&mut d)
                    .and(&*avg)
                    .for_each(|d, &a| *d = *d - a * a + eps);
                d
            }
            None => velocity.mapv(|v| v + eps),
        };
        match (g, momentum) {
            (Gradient::Dense(g), Some(mom)) => {
                let m = f32_of(self.momentum);
                Zip::from(&mut *mom)
                    .and(g)
                    .and(&denominator)
                    .for_each(|mo, &g, &d| *mo = m * *mo + (lr * g) / d.sqrt());
                Zip::from(w).and(&*mom).for_each(|w, &mo| *w -= mo);
            }
            (Gradient::Dense(g), None) => {
                Zip::from(w)
                    .and(g)
                    .and(&denominator)
                    .for_each(|w, &g, &d| *w -= (lr * g) / d.sqrt());
            }
            (
                Gradient::Rows {
                    indices,
                    values,
                    shape,
                },
                mom,
            ) => {
                // The increment stays an IndexedSlices: one row per occurrence, each divided by
                // the square root of its row's denominator.
                let den = as_table(&mut denominator)?;
                let mut inc = values.clone();
                for (occ, &row) in indices.iter().enumerate() {
                    Zip::from(inc.row_mut(occ))
                        .and(den.row(row))
                        .for_each(|x, &d| *x = (lr * *x) / d.sqrt());
                }
                match mom {
                    Some(mom) => {
                        let m = f32_of(self.momentum);
                        let summed = segment_sum(indices, inc.view(), shape[0]).into_dyn();
                        Zip::from(&mut *mom)
                            .and(&summed)
                            .for_each(|mo, &s| *mo = m * *mo + s);
                        Zip::from(w).and(&*mom).for_each(|w, &mo| *w -= mo);
                    }
                    None => scatter(w, indices, inc.view(), |mut w, inc, _| w -= &inc)?,
                }
            }
        }
        Ok(())
    }
}
