//! `keras.optimizers.Adam` and `AdamW`:
//! `m += (g - m)(1 - beta_1)`, `v += (g² - v)(1 - beta_2)`,
//! `w -= [lr·sqrt(1 - beta_2^t)/(1 - beta_1^t)]·m / (sqrt(v) + epsilon)` with `t = iterations + 1`
//! (epsilon added to the uncorrected `sqrt(v)`); amsgrad uses `max(v_hat, v)` for `v`.
//! AdamW is Adam whose weight decay (default 0.004) is mandatory.

use ndarray::{ArrayD, Zip};
use serde_json::{Map, Value};
use tensorweave_core::Result;

use super::base::{optimizer_common, Engine, Hyper, Rule};
use crate::config::{num, ConfigReader};
use crate::gradient::{segment_sum, Gradient};
use crate::util::{config_err, f32_of};

/// Adam.
#[derive(Debug, Clone)]
pub struct Adam {
    engine: Engine<AdamRule>,
}

/// AdamW: Adam with decoupled weight decay applied to every variable first.
#[derive(Debug, Clone)]
pub struct AdamW {
    engine: Engine<AdamRule>,
}

#[derive(Debug, Clone)]
pub(crate) struct AdamRule {
    class_name: &'static str,
    beta_1: f64,
    beta_2: f64,
    epsilon: f64,
    amsgrad: bool,
}

impl AdamRule {
    fn new(class_name: &'static str) -> Self {
        AdamRule {
            class_name,
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-7,
            amsgrad: false,
        }
    }

    fn read(class_name: &'static str, c: &mut ConfigReader<'_>) -> Result<Self> {
        Ok(AdamRule {
            class_name,
            beta_1: c.f64_or("beta_1", 0.9)?,
            beta_2: c.f64_or("beta_2", 0.999)?,
            epsilon: c.f64_or("epsilon", 1e-7)?,
            amsgrad: c.bool_or("amsgrad", false)?,
        })
    }
}

macro_rules! adam_builders {
    ($t:ident) => {
        impl $t {
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

            /// Added to `sqrt(v)` (default 1e-7).
            pub fn epsilon(mut self, epsilon: f64) -> Self {
                self.engine.rule.epsilon = epsilon;
                self
            }

            /// AMSGrad: divide by the running maximum of the second moment.
            pub fn amsgrad(mut self, amsgrad: bool) -> Self {
                self.engine.rule.amsgrad = amsgrad;
                self
            }
        }
    };
}
adam_builders!(Adam);
adam_builders!(AdamW);
optimizer_common!(Adam);
optimizer_common!(AdamW);

impl Adam {
    /// Adam with this learning rate (Keras' default is 0.001).
    pub fn new(learning_rate: f64) -> Self {
        Adam {
            engine: Engine::new(Hyper::new("adam", learning_rate), AdamRule::new("Adam")),
        }
    }

    pub(crate) fn from_reader(c: &mut ConfigReader<'_>) -> Result<Self> {
        let hyper = Hyper::from_reader(c, "adam", 0.001)?;
        Ok(Adam {
            engine: Engine::new(hyper, AdamRule::read("Adam", c)?),
        })
    }
}

impl Default for Adam {
    fn default() -> Self {
        Adam::new(0.001)
    }
}

impl AdamW {
    /// AdamW with this learning rate (Keras' default is 0.001) and weight decay 0.004.
    pub fn new(learning_rate: f64) -> Self {
        let mut hyper = Hyper::new("adam_w", learning_rate);
        hyper.weight_decay = Some(0.004);
        AdamW {
            engine: Engine::new(hyper, AdamRule::new("AdamW")),
        }
    }

    pub(crate) fn from_reader(c: &mut ConfigReader<'_>) -> Result<Self> {
        let given = c.contains("weight_decay");
        let mut hyper = Hyper::from_reader(c, "adam_w", 0.001)?;
        if hyper.weight_decay.is_none() {
            if given {
                return Err(config_err(format!(
                    "{}: 'weight_decay' must be a float for AdamW, got null (Keras raises the same)",
                    c.what()
                )));
            }
            hyper.weight_decay = Some(0.004);
        }
        Ok(AdamW {
            engine: Engine::new(hyper, AdamRule::read("AdamW", c)?),
        })
    }
}

impl Default for AdamW {
    fn default() -> Self {
        AdamW::new(0.001)
    }
}

impl Rule for AdamRule {
    fn class_name(&self) -> &'static str {
        self.class_name
    }

    fn slot_groups(&self) -> Vec<&'static [&'static str]> {
        let mut groups: Vec<&'static [&'static str]> = vec![&["momentum", "velocity"]];
        if self.amsgrad {
            groups.push(&["velocity_hat"]);
        }
        groups
    }

    fn update(
        &self,
        g: &Gradient,
        w: &mut ArrayD<f32>,
        slots: &mut [ArrayD<f32>],
        lr: f32,
        it: i64,
    ) -> Result<()> {
        let t = (it + 1) as f32;
        let beta_1_power = f32_of(self.beta_1).powf(t);
        let beta_2_power = f32_of(self.beta_2).powf(t);
        let alpha = lr * (1.0 - beta_2_power).sqrt() / (1.0 - beta_1_power);
        let c1 = f32_of(1.0 - self.beta_1);
        let c2 = f32_of(1.0 - self.beta_2);
        let eps = f32_of(self.epsilon);
        let [m, v, rest @ ..] = slots else {
            return Err(config_err("Adam: missing slots (internal)"));
        };
        update_moments(g, m, v, c1, c2);
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
        Zip::from(w)
            .and(&*m)
            .and(v_used)
            .for_each(|w, &m, &v| *w -= (m * alpha) / (v.sqrt() + eps));
        Ok(())
    }

    fn config_entries(&self, m: &mut Map<String, Value>) {
        m.insert("beta_1".into(), num(self.beta_1));
        m.insert("beta_2".into(), num(self.beta_2));
        m.insert("epsilon".into(), num(self.epsilon));
        m.insert("amsgrad".into(), Value::from(self.amsgrad));
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
        Gradient::Dense(g) => Zip::from(m)
            .and(v)
            .and(g)
            .for_each(|m, v, &g| step(m, v, g, g * g)),
        Gradient::Rows {
            indices,
            values,
            shape,
        } => {
            let sum = segment_sum(indices, values.view(), shape[0]).into_dyn();
            let sq = segment_sum(indices, values.mapv(|x| x * x).view(), shape[0]).into_dyn();
            Zip::from(m)
                .and(v)
                .and(&sum)
                .and(&sq)
                .for_each(|m, v, &g, &g2| step(m, v, g, g2));
        }
    }
}
