//! `keras.optimizers.Nadam`: Adam with Nesterov momentum and the momentum schedule
//! `u_t = beta_1·(1 - 0.5·0.96^t)`. Its running product of `u_t` (the "momentum cache") is a
//! float32 variable created after the slots, so it comes LAST in `optimizer.variables`, named
//! `<name>/variable`; it is advanced once per step before the per-variable updates.

use ndarray::{ArrayD, Zip};
use serde_json::{Map, Value};
use tensorweave_core::Result;

use super::adam::update_moments;
use super::base::{optimizer_common, Engine, Hyper, Rule};
use crate::config::{num, ConfigReader};
use crate::gradient::{segment_sum, Gradient};
use crate::util::{config_err, f32_of};

/// Nadam.
#[derive(Debug, Clone)]
pub struct Nadam {
    engine: Engine<NadamRule>,
}

#[derive(Debug, Clone)]
pub(crate) struct NadamRule {
    beta_1: f64,
    beta_2: f64,
    epsilon: f64,
    /// The product of the `u_t` so far (Keras' `_u_product`, 1.0 when built).
    u_product: f32,
}

impl Nadam {
    /// Nadam with this learning rate (Keras' default is 0.001).
    pub fn new(learning_rate: f64) -> Self {
        Nadam {
            engine: Engine::new(
                Hyper::new("nadam", learning_rate),
                NadamRule {
                    beta_1: 0.9,
                    beta_2: 0.999,
                    epsilon: 1e-7,
                    u_product: 1.0,
                },
            ),
        }
    }

    /// The decay of the first moment (default 0.9).
    pub fn beta_1(mut self, beta_1: f64) -> Self {
        self.engine.rule.beta_1 = beta_1;
        self
    }

    /// The decay of the second moment (default 0.999).
    pub fn beta_2(mut self, beta_2: f64) -> Self {
        self.engine.rule.beta_2 = beta_2;
        self
    }

    /// Added to `sqrt(v_hat)` (default 1e-7).
    pub fn epsilon(mut self, epsilon: f64) -> Self {
        self.engine.rule.epsilon = epsilon;
        self
    }

    pub(crate) fn from_reader(c: &mut ConfigReader<'_>) -> Result<Self> {
        let hyper = Hyper::from_reader(c, "nadam", 0.001)?;
        let rule = NadamRule {
            beta_1: c.f64_or("beta_1", 0.9)?,
            beta_2: c.f64_or("beta_2", 0.999)?,
            epsilon: c.f64_or("epsilon", 1e-7)?,
            u_product: 1.0,
        };
        Ok(Nadam {
            engine: Engine::new(hyper, rule),
        })
    }
}

impl Default for Nadam {
    fn default() -> Self {
        Nadam::new(0.001)
    }
}

optimizer_common!(Nadam);

impl Rule for NadamRule {
    fn class_name(&self) -> &'static str {
        "Nadam"
    }

    fn slot_groups(&self) -> Vec<&'static [&'static str]> {
        vec![&["momentum", "velocity"]]
    }

    fn extras(&self) -> Vec<(&'static str, f32)> {
        vec![("variable", self.u_product)]
    }

    fn set_extras(&mut self, values: &[f32]) {
        if let Some(&u) = values.first() {
            self.u_product = u;
        }
    }

    fn on_build(&mut self) {
        self.u_product = 1.0;
    }

    fn before_updates(&mut self, iterations: i64) {
        let t = (iterations + 1) as f32;
        self.u_product = self.u_product * f32_of(self.beta_1) * (1.0 - 0.5 * 0.96f32.powf(t));
    }

    fn update(
        &self,
        g: &Gradient,
        w: &mut ArrayD<f32>,
        slots: &mut [ArrayD<f32>],
        lr: f32,
        it: i64,
    ) -> Result<()> {
        // Unlike Adam, Nadam casts beta_1/beta_2 to float32 first, so 1 - beta is float32 math.
        let local_step = (it + 1) as f32;
        let next_step = (it + 2) as f32;
        let decay = 0.96f32;
        let beta_1 = f32_of(self.beta_1);
        let beta_2 = f32_of(self.beta_2);
        let eps = f32_of(self.epsilon);
        let u_t = beta_1 * (1.0 - 0.5 * decay.powf(local_step));
        let u_t_1 = beta_1 * (1.0 - 0.5 * decay.powf(next_step));
        let u_product_t = self.u_product;
        let u_product_t_1 = u_product_t * u_t_1;
        let beta_2_power = beta_2.powf(local_step);
        let [m, v] = slots else {
            return Err(config_err("Nadam: missing slots (internal)"));
        };
        update_moments(g, m, v, 1.0 - beta_1, 1.0 - beta_2);
        // The gradient term of m_hat, per occurrence for row gradients, then summed.
        let grad_term = match g {
            Gradient::Dense(g) => g.mapv(|x| ((1.0 - u_t) * x) / (1.0 - u_product_t)),
            Gradient::Rows {
                indices,
                values,
                shape,
            } => segment_sum(
                indices,
                values
                    .mapv(|x| ((1.0 - u_t) * x) / (1.0 - u_product_t))
                    .view(),
                shape[0],
            )
            .into_dyn(),
        };
        Zip::from(w)
            .and(&*m)
            .and(&*v)
            .and(&grad_term)
            .for_each(|w, &m, &v, &gt| {
                let m_hat = (u_t_1 * m) / (1.0 - u_product_t_1) + gt;
                let v_hat = v / (1.0 - beta_2_power);
                *w -= (m_hat * lr) / (v_hat.sqrt() + eps);
            });
        Ok(())
    }

    fn config_entries(&self, m: &mut Map<String, Value>) {
        m.insert("beta_1".into(), num(self.beta_1));
        m.insert("beta_2".into(), num(self.beta_2));
        m.insert("epsilon".into(), num(self.epsilon));
    }
}
