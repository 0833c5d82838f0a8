//! `keras.optimizers.Nadam`: Adam with Nesterov momentum and the momentum schedule
//! `u_t = beta_1·(1 - 0.5·0.96^t)`. Its running product of `u_t` (the "momentum cache") is a
//! float32 variable created after the slots, so it comes LAST in `optimizer.variables`, named
//! `<name>/variable`; it is advanced once per step before the per-variable updates.

use ndarray::Zip;
use tensorweave_core::Result;

use super::adam::update_moments;
use super::base::{Rule, Step};
use super::macros::optimizer;
use crate::gradient::MapDense;
use crate::util::{config_err, f32_of};

optimizer! {
    /// Nadam.
    pub struct Nadam("Nadam", "nadam", 0.001);

    options NadamOptions {
        /// The decay of the first moment (default 0.9).
        beta_1: f64 = 0.9,
        /// The decay of the second moment (default 0.999).
        beta_2: f64 = 0.999,
        /// Added to `sqrt(v_hat)` (default 1e-7).
        epsilon: f64 = 1e-7,
    }
}

/// The decay of Nadam's momentum schedule.
const DECAY: f32 = 0.96;

impl Rule for NadamOptions {
    fn slot_groups(&self) -> Vec<&'static [&'static str]> {
        vec![&["momentum", "velocity"]]
    }

    /// The product of the `u_t` so far (Keras' `_u_product`, 1.0 when built).
    fn extras(&self) -> &'static [(&'static str, f32)] {
        &[("variable", 1.0)]
    }

    fn before_updates(&self, iterations: i64, extras: &mut [f32]) {
        let t = (iterations + 1) as f32;
        if let [u_product] = extras {
            *u_product = *u_product * f32_of(self.beta_1) * (1.0 - 0.5 * DECAY.powf(t));
        }
    }

    fn update(&self, step: Step<'_>) -> Result<()> {
        // Unlike Adam, Nadam casts beta_1/beta_2 to float32 first, so 1 - beta is float32 math.
        let local_step = (step.iterations + 1) as f32;
        let next_step = (step.iterations + 2) as f32;
        let beta_1 = f32_of(self.beta_1);
        let beta_2 = f32_of(self.beta_2);
        let eps = f32_of(self.epsilon);
        let u_t = beta_1 * (1.0 - 0.5 * DECAY.powf(local_step));
        let u_t_1 = beta_1 * (1.0 - 0.5 * DECAY.powf(next_step));
        let (&[u_product_t], [m, v]) = (step.extras, step.slots) else {
            return Err(config_err("Nadam: missing slots (internal)"));
        };
        let u_product_t_1 = u_product_t * u_t_1;
        let beta_2_power = beta_2.powf(local_step);
        update_moments(step.gradient, m, v, 1.0 - beta_1, 1.0 - beta_2);
        // The gradient term of m_hat, per occurrence for row gradients, then summed.
        let grad_term = step
            .gradient
            .map_dense(|x| ((1.0 - u_t) * x) / (1.0 - u_product_t));
        let lr = step.lr;
        Zip::from(step.value)
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
}
