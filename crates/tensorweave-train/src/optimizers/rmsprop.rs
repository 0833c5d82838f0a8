//! `keras.optimizers.RMSprop`: `v = rho·v + (1 - rho)·g²`; centered: `a = rho·a + (1 - rho)·g`
//! and the denominator `v - a² + epsilon`, else `v + epsilon`; `inc = lr·g / sqrt(denominator)`
//! (epsilon inside the square root); with momentum `mom = momentum·mom + inc`, `w -= mom`,
//! else `w -= inc`.

use ndarray::{ArrayD, Zip};
use serde_json::{Map, Value};
use tensorweave_core::Result;

use super::base::{optimizer_common, Engine, Hyper, Rule};
use super::sgd::not_a_table;
use crate::config::{num, ConfigReader};
use crate::gradient::{as_table, segment_sum, Gradient};
use crate::util::{config_err, f32_of};

/// RMSprop, with optional momentum and centering.
#[derive(Debug, Clone)]
pub struct RmsProp {
    engine: Engine<RmsPropRule>,
}

#[derive(Debug, Clone)]
pub(crate) struct RmsPropRule {
    rho: f64,
    momentum: f64,
    epsilon: f64,
    centered: bool,
}

impl RmsProp {
    /// RMSprop with this learning rate (Keras' default is 0.001).
    pub fn new(learning_rate: f64) -> Self {
        RmsProp {
            engine: Engine::new(
                Hyper::new("rm_sprop", learning_rate),
                RmsPropRule {
                    rho: 0.9,
                    momentum: 0.0,
                    epsilon: 1e-7,
                    centered: false,
                },
            ),
        }
    }

    /// The decay of the squared-gradient average (default 0.9).
    pub fn rho(mut self, rho: f64) -> Self {
        self.engine.rule.rho = rho;
        self
    }

    /// Momentum (default 0: none).
    pub fn momentum(mut self, momentum: f64) -> Self {
        self.engine.rule.momentum = momentum;
        self
    }

    /// Added to the denominator inside the square root (default 1e-7).
    pub fn epsilon(mut self, epsilon: f64) -> Self {
        self.engine.rule.epsilon = epsilon;
        self
    }

    /// Centered RMSprop: normalise by the estimated variance of the gradient.
    pub fn centered(mut self, centered: bool) -> Self {
        self.engine.rule.centered = centered;
        self
    }

    pub(crate) fn from_reader(c: &mut ConfigReader<'_>) -> Result<Self> {
        let hyper = Hyper::from_reader(c, "rm_sprop", 0.001)?;
        let rule = RmsPropRule {
            rho: c.f64_or("rho", 0.9)?,
            momentum: c.f64_or("momentum", 0.0)?,
            epsilon: c.f64_or("epsilon", 1e-7)?,
            centered: c.bool_or("centered", false)?,
        };
        Ok(RmsProp {
            engine: Engine::new(hyper, rule),
        })
    }
}

impl Default for RmsProp {
    fn default() -> Self {
        RmsProp::new(0.001)
    }
}

optimizer_common!(RmsProp);

/// `(1 - rho) * x` per occurrence, then summed into the table (or dense).
fn weighted_dense(g: &Gradient, f: impl Fn(f32) -> f32) -> ArrayD<f32> {
    match g {
        Gradient::Dense(g) => g.mapv(f),
        Gradient::Rows {
            indices,
            values,
            shape,
        } => segment_sum(indices, values.mapv(f).view(), shape[0]).into_dyn(),
    }
}

impl Rule for RmsPropRule {
    fn class_name(&self) -> &'static str {
        "RMSprop"
    }

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

    fn update(
        &self,
        g: &Gradient,
        w: &mut ArrayD<f32>,
        slots: &mut [ArrayD<f32>],
        lr: f32,
        _it: i64,
    ) -> Result<()> {
        let rho = f32_of(self.rho);
        let one_minus_rho = f32_of(1.0 - self.rho);
        let eps = f32_of(self.epsilon);
        let use_momentum = self.momentum > 0.0;
        let (velocity, rest) = slots
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

        let sq = weighted_dense(g, |x| one_minus_rho * (x * x));
        Zip::from(&mut *velocity)
            .and(&sq)
            .for_each(|v, &s| *v = rho * *v + s);
        let denominator: ArrayD<f32> = match average {
            Some(avg) => {
                let lin = weighted_dense(g, |x| one_minus_rho * x);
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
                let den = denominator
                    .view()
                    .into_dimensionality::<ndarray::Ix2>()
                    .map_err(|_| not_a_table())?;
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
                    None => {
                        let mut table = as_table(w).ok_or_else(not_a_table)?;
                        for (occ, &row) in indices.iter().enumerate() {
                            let mut dst = table.row_mut(row);
                            dst -= &inc.row(occ);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn config_entries(&self, m: &mut Map<String, Value>) {
        m.insert("rho".into(), num(self.rho));
        m.insert("momentum".into(), num(self.momentum));
        m.insert("epsilon".into(), num(self.epsilon));
        m.insert("centered".into(), Value::from(self.centered));
    }
}
