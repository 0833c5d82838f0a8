//! `keras.optimizers.Adam` and `AdamW`:
//! `m += (g - m)(1 - beta_1)`, `v += (g² - v)(1 - beta_2)`,
//! `w -= [lr·sqrt(1 - beta_2^t)/(1 - beta_1^t)]·m / (sqrt(v) + epsilon)` with `t = iterations + 1`
//! (epsilon added to the uncorrected `sqrt(v)`); amsgrad uses `max(v_hat, v)` for `v`.
//! AdamW is Adam whose weight decay (default 0.004) is mandatory.

use ndarray::{ArrayD, Zip};
use tensorweave_core::Result;

use super::base::{Rule, Step};
use super::macros::optimizer;
use crate::gradient::{Gradient, MapDense};
use crate::util::{config_err, f32_of};

optimizer! {
    /// Adam.
    pub struct Adam("Adam", "adam", 0.001);

    /// AdamW: Adam with decoupled weight decay applied to every variable first.
    pub struct AdamW("AdamW", "adam_w", 0.001, required_weight_decay = 0.004);

    options AdamOptions {
        /// The decay of the first moment (default 0.9).
        beta_1: f64 = 0.9,
        /// The decay of the second moment (default 0.999).
        beta_2: f64 = 0.999,
        /// Added to `sqrt(v)` (default 1e-7).
        epsilon: f64 = 1e-7,
        /// AMSGrad: divide by the running maximum of the second moment.
        amsgrad: bool = false,
    }
}

impl Rule for AdamOptions {
    fn slot_groups(&self) -> Vec<&'static [&'static str]> {
        let mut groups: Vec<&'static [&'static str]> = vec![&["momentum", "velocity"]];
        if self.amsgrad {
            groups.push(&["velocity_hat"]);
        }
        groups
    }

    fn update(&self, step: Step<'_>) -> Result<()> {
        let t = (step.iterations + 1) as f32;
        let beta_1_power = f32_of(self.beta_1).powf(t);
        let beta_2_power = f32_of(self.beta_2).powf(t);
        let alpha = step.lr * (1.0 - beta_2_power).sqrt() / (1.0 - beta_1_power);
        let c1 = f32_of(1.0 - self.beta_1);
        let c2 = f32_of(1.0 - self.beta_2);
        let eps = f32_of(self.epsilon);
        let [m, v, rest @ ..] = step.slots else {
            return Err(config_err("Adam: missing slots (internal)"));
        };
        update_moments(step.gradient, m, v, c1, c2);
        let v_used: &ArrayD<f32> = if self.amsgrad {
            let v_hat = rest
                .first_mut()
                .ok_or_else(|| config_err("Adam: missing velocity_hat (internal)"))?;
            Zip::from(&mut *v_hat)
                .and(&*v)
                .for_each(|h, &v| *h = h.max(v));
            v_hat
        } else {
            v
        };
        Zip::from(step.value)
            .and(&*m)
            .and(v_used)
            .for_each(|w, &m, &v| *w -= (m * alpha) / (v.sqrt() + eps));
        Ok(())
    }
}

/// `m += (g - m)·c1` and `v += (g² - v)·c2`. For row gradients `g` is the summed gradient and
/// `g²` the sum of the squared occurrences (TensorFlow squares the `IndexedSlices` values before
/// densifying them).
pub(crate) fn update_moments(
    g: &Gradient,
    m: &mut ArrayD<f32>,
    v: &mut ArrayD<f32>,
    c1: f32,
    c2: f32,
) {
    let step = |m: &mut f32, v: &mut f32, g: f32, g2: f32| {
        *m += (g - *m) * c1;
        *v += (g2 - *v) * c2;
    };
    match g {
        // Dense: fused, without copying the gradient.
        Gradient::Dense(g) => Zip::from(m)
            .and(v)
            .and(g)
            .for_each(|m, v, &g| step(m, v, g, g * g)),
        Gradient::Rows { .. } => {
            let sum = g.map_dense(|x| x);
            let sq = g.map_dense(|x| x * x);
            Zip::from(m)
                .and(v)
                .and(&sum)
                .and(&sq)
                .for_each(|m, v, &g, &g2| step(m, v, g, g2));
        }
    }
}
