//! Keras' learning-rate schedules (`keras.optimizers.schedules`), evaluated in float32 exactly
//! as Keras 3.15.1 computes them from the optimizer's `iterations` (the number of steps
//! already applied).

use serde_json::{Map, Value};
use tensorweave_core::Result;

use crate::config::{identifier, num, serialized, ConfigReader, Identifier};
use crate::util::{config_err, f32_of, quote};

const MODULE: &str = "keras.optimizers.schedules";

/// A learning-rate schedule: the learning rate as a function of the step.
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    /// `ExponentialDecay`.
    Exponential(ExponentialDecay),
    /// `InverseTimeDecay`.
    InverseTime(InverseTimeDecay),
    /// `PiecewiseConstantDecay`.
    PiecewiseConstant(PiecewiseConstantDecay),
    /// `CosineDecay` (with its optional linear warmup).
    Cosine(CosineDecay),
}

impl Schedule {
    /// The learning rate at `step` (the optimizer's `iterations` before the update).
    pub fn value(&self, step: i64) -> f32 {
        match self {
            Schedule::Exponential(s) => s.value(step),
            Schedule::InverseTime(s) => s.value(step),
            Schedule::PiecewiseConstant(s) => s.value(step),
            Schedule::Cosine(s) => s.value(step),
        }
    }

    /// Keras' serialized schedule (`keras.optimizers.schedules.serialize`).
    pub fn config(&self) -> Value {
        let (class, cfg) = match self {
            Schedule::Exponential(s) => ("ExponentialDecay", s.config_map()),
            Schedule::InverseTime(s) => ("InverseTimeDecay", s.config_map()),
            Schedule::PiecewiseConstant(s) => ("PiecewiseConstantDecay", s.config_map()),
            Schedule::Cosine(s) => ("CosineDecay", s.config_map()),
        };
        serialized(MODULE, class, cfg)
    }

    /// Reads a serialized Keras schedule.
    pub fn from_config(v: &Value) -> Result<Schedule> {
        let Identifier::Object {
            class_name,
            mut config,
        } = identifier(v, "learning-rate schedule")?
        else {
            return Err(config_err(format!(
                "learning-rate schedule: expected a serialized schedule object, got the name {}",
                quote(v.as_str().unwrap_or_default())
            )));
        };
        let schedule = match class_name {
            "ExponentialDecay" => {
                Schedule::Exponential(ExponentialDecay::from_reader(&mut config)?)
            }
            "InverseTimeDecay" => {
                Schedule::InverseTime(InverseTimeDecay::from_reader(&mut config)?)
            }
            "PiecewiseConstantDecay" => {
                Schedule::PiecewiseConstant(PiecewiseConstantDecay::from_reader(&mut config)?)
            }
            "CosineDecay" => Schedule::Cosine(CosineDecay::from_reader(&mut config)?),
            other => {
                return Err(config_err(format!(
                    "learning-rate schedule {}: not supported; use ExponentialDecay, InverseTimeDecay, PiecewiseConstantDecay or CosineDecay",
                    quote(other)
                )))
            }
        };
        config.finish()?;
        Ok(schedule)
    }
}

fn required(config: &mut ConfigReader<'_>, key: &str) -> Result<f64> {
    config
        .opt_f64(key)?
        .ok_or_else(|| config_err(format!("{}: '{key}' is required", config.what())))
}

fn positive_steps(config: &mut ConfigReader<'_>, key: &str) -> Result<f64> {
    let steps = required(config, key)?;
    if steps <= 0.0 {
        return Err(config_err(format!(
            "{}: '{key}' must be > 0, got {steps}",
            config.what()
        )));
    }
    Ok(steps)
}

/// The config entries a decay from an initial rate starts with, in Keras' order.
fn initial_and_steps(initial_learning_rate: f64, decay_steps: f64) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("initial_learning_rate".into(), num(initial_learning_rate));
    m.insert("decay_steps".into(), steps_json(decay_steps));
    m
}

/// A step count as Keras echoes it: an integer when it is one.
fn steps_json(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9e15 {
        Value::from(x as i64)
    } else {
        num(x)
    }
}

/// Declares a schedule that decays by `decay_rate` every `decay_steps` (in whole periods with
/// `staircase`): `ExponentialDecay` and `InverseTimeDecay` have the same parameters and differ in
/// `formula(initial, rate, periods)` only.
macro_rules! rate_decay {
    (
        $(#[$doc:meta])*
        $t:ident, $class:literal, |$initial:ident, $rate:ident, $periods:ident| $formula:expr
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $t {
            /// The rate at step 0.
            pub initial_learning_rate: f64,
            /// Steps per decay period (> 0).
            pub decay_steps: f64,
            /// The decay per period (`decay_rate` in the formula).
            pub decay_rate: f64,
            /// Decay in whole periods.
            pub staircase: bool,
            #[doc = concat!("The schedule's name (`\"", $class, "\"`).")]
            pub name: String,
        }

        impl $t {
            /// A schedule with these parameters, not in whole periods; `decay_steps` must be > 0.
            pub fn new(initial_learning_rate: f64, decay_steps: f64, decay_rate: f64) -> Self {
                $t {
                    initial_learning_rate,
                    decay_steps,
                    decay_rate,
                    staircase: false,
                    name: $class.into(),
                }
            }

            /// Decays in whole periods.
            pub fn staircase(mut self, staircase: bool) -> Self {
                self.staircase = staircase;
                self
            }

            fn from_reader(config: &mut ConfigReader<'_>) -> Result<Self> {
                Ok($t {
                    initial_learning_rate: required(config, "initial_learning_rate")?,
                    decay_steps: positive_steps(config, "decay_steps")?,
                    decay_rate: required(config, "decay_rate")?,
                    staircase: config.bool_or("staircase", false)?,
                    name: config.opt_str("name")?.unwrap_or_else(|| $class.into()),
                })
            }

            fn value(&self, step: i64) -> f32 {
                let mut $periods = step as f32 / f32_of(self.decay_steps);
                if self.staircase {
                    $periods = $periods.floor();
                }
                let $initial = f32_of(self.initial_learning_rate);
                let $rate = f32_of(self.decay_rate);
                $formula
            }

            fn config_map(&self) -> Map<String, Value> {
                let mut m = initial_and_steps(self.initial_learning_rate, self.decay_steps);
                m.insert("decay_rate".into(), num(self.decay_rate));
                m.insert("staircase".into(), Value::from(self.staircase));
                m.insert("name".into(), Value::from(self.name.clone()));
                m
            }
        }
    };
}

rate_decay!(
    /// `initial_learning_rate * decay_rate ^ (step / decay_steps)`, the exponent floored when
    /// `staircase`.
    ExponentialDecay,
    "ExponentialDecay",
    |initial, rate, periods| initial * rate.powf(periods)
);

rate_decay!(
    /// `initial_learning_rate / (1 + decay_rate * step / decay_steps)`, the ratio floored when
    /// `staircase`.
    InverseTimeDecay,
    "InverseTimeDecay",
    |initial, rate, periods| initial / (1.0 + rate * periods)
);

/// `values[0]` while `step <= boundaries[0]`, `values[i]` while
/// `boundaries[i-1] < step <= boundaries[i]`, `values[last]` after the last boundary.
#[derive(Debug, Clone, PartialEq)]
pub struct PiecewiseConstantDecay {
    boundaries: Vec<f64>,
    values: Vec<f64>,
    name: String,
}

impl PiecewiseConstantDecay {
    /// A piecewise-constant schedule; needs one more value than boundaries.
    pub fn new(boundaries: Vec<f64>, values: Vec<f64>) -> Result<Self> {
        if boundaries.is_empty() || values.len() != boundaries.len() + 1 {
            return Err(config_err(format!(
                "PiecewiseConstantDecay: needs at least one boundary and one more value than boundaries; got {} boundaries and {} values",
                boundaries.len(),
                values.len()
            )));
        }
        Ok(PiecewiseConstantDecay {
            boundaries,
            values,
            name: "PiecewiseConstant".into(),
        })
    }

    /// Renames the schedule.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    fn from_reader(config: &mut ConfigReader<'_>) -> Result<Self> {
        let boundaries = config.f64_list("boundaries")?.unwrap_or_default();
        let values = config.f64_list("values")?.unwrap_or_default();
        let name = config.opt_str("name")?;
        let schedule = PiecewiseConstantDecay::new(boundaries, values)?;
        Ok(match name {
            Some(name) => schedule.named(name),
            None => schedule,
        })
    }

    fn value(&self, step: i64) -> f32 {
        // Keras casts the boundaries to the step's int64 (a float boundary is truncated) and
        // sums indicator * value over the pieces, in this order.
        let b: Vec<i64> = self
            .boundaries
            .iter()
            .map(|&x| {
                if x.fract() == 0.0 {
                    x as i64
                } else {
                    (x as f32).trunc() as i64
                }
            })
            .collect();
        let v: Vec<f32> = self.values.iter().map(|&x| f32_of(x)).collect();
        let ind = |c: bool| if c { 1.0f32 } else { 0.0 };
        let mut result = 0.0f32;
        result += ind(step <= b[0]) * v[0];
        result += ind(step > b[b.len() - 1]) * v[v.len() - 1];
        for i in 0..b.len() - 1 {
            result += ind(step > b[i] && step <= b[i + 1]) * v[i + 1];
        }
        result
    }

    fn config_map(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert(
            "boundaries".into(),
            Value::Array(self.boundaries.iter().map(|&b| steps_json(b)).collect()),
        );
        m.insert(
            "values".into(),
            Value::Array(self.values.iter().map(|&v| num(v)).collect()),
        );
        m.insert("name".into(), Value::from(self.name.clone()));
        m
    }
}

/// Cosine decay from `initial_learning_rate` to `alpha * initial_learning_rate` over
/// `decay_steps`, optionally after a linear warmup to `warmup_target`.
///
/// As in Keras 3.15.1, `warmup_steps` only has an effect when `warmup_target` is set; with a
/// warmup the cosine decays from `warmup_target`, and the step is capped at
/// `decay_steps + warmup_steps`.
#[derive(Debug, Clone, PartialEq)]
pub struct CosineDecay {
    /// The rate at step 0.
    pub initial_learning_rate: f64,
    /// Length of the cosine part (> 0).
    pub decay_steps: f64,
    /// The final rate as a fraction of the rate decayed from.
    pub alpha: f64,
    /// The schedule's name (`"CosineDecay"`).
    pub name: String,
    /// The rate reached at the end of the warmup; `None` = no warmup.
    pub warmup_target: Option<f64>,
    /// Length of the warmup.
    pub warmup_steps: f64,
}

impl CosineDecay {
    /// A cosine decay without warmup; `decay_steps` must be > 0.
    pub fn new(initial_learning_rate: f64, decay_steps: f64) -> Self {
        CosineDecay {
            initial_learning_rate,
            decay_steps,
            alpha: 0.0,
            name: "CosineDecay".into(),
            warmup_target: None,
            warmup_steps: 0.0,
        }
    }

    /// The final rate as a fraction of the rate decayed from.
    pub fn alpha(mut self, alpha: f64) -> Self {
        self.alpha = alpha;
        self
    }

    /// A linear warmup of `warmup_steps` to `warmup_target` before the cosine part.
    pub fn warmup(mut self, warmup_target: f64, warmup_steps: f64) -> Self {
        self.warmup_target = Some(warmup_target);
        self.warmup_steps = warmup_steps;
        self
    }

    fn from_reader(config: &mut ConfigReader<'_>) -> Result<Self> {
        Ok(CosineDecay {
            initial_learning_rate: required(config, "initial_learning_rate")?,
            decay_steps: positive_steps(config, "decay_steps")?,
            alpha: config.f64_or("alpha", 0.0)?,
            name: config
                .opt_str("name")?
                .unwrap_or_else(|| "CosineDecay".into()),
            warmup_target: config.opt_f64("warmup_target")?,
            warmup_steps: config.f64_or("warmup_steps", 0.0)?,
        })
    }

    fn decayed(&self, step: f32, decay_steps: f32, from: f32) -> f32 {
        let completed = step / decay_steps;
        let pi = std::f64::consts::PI as f32;
        let cosine = 0.5 * (1.0 + (pi * completed).cos());
        let decayed = f32_of(1.0 - self.alpha) * cosine + f32_of(self.alpha);
        from * decayed
    }

    fn value(&self, step: i64) -> f32 {
        let initial = f32_of(self.initial_learning_rate);
        let decay_steps = f32_of(self.decay_steps);
        let step = step as f32;
        match self.warmup_target {
            None => self.decayed(step.min(decay_steps), decay_steps, initial),
            Some(target) => {
                let target = f32_of(target);
                let warmup_steps = f32_of(self.warmup_steps);
                let step = step.min(decay_steps + warmup_steps);
                if step < warmup_steps {
                    (target - initial) * (step / warmup_steps) + initial
                } else {
                    self.decayed(step - warmup_steps, decay_steps, target)
                }
            }
        }
    }

    fn config_map(&self) -> Map<String, Value> {
        let mut m = initial_and_steps(self.initial_learning_rate, self.decay_steps);
        m.insert("alpha".into(), num(self.alpha));
        m.insert("name".into(), Value::from(self.name.clone()));
        m.insert(
            "warmup_target".into(),
            self.warmup_target.map(num).unwrap_or(Value::Null),
        );
        m.insert("warmup_steps".into(), steps_json(self.warmup_steps));
        m
    }
}

macro_rules! into_schedule {
    ($t:ty, $v:ident) => {
        impl From<$t> for Schedule {
            fn from(s: $t) -> Schedule {
                Schedule::$v(s)
            }
        }
    };
}
into_schedule!(ExponentialDecay, Exponential);
into_schedule!(InverseTimeDecay, InverseTime);
into_schedule!(PiecewiseConstantDecay, PiecewiseConstant);
into_schedule!(CosineDecay, Cosine);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn piecewise_boundaries_are_inclusive_on_the_left_piece() {
        let s = PiecewiseConstantDecay::new(vec![2.0, 5.0], vec![0.1, 0.05, 0.01]).unwrap();
        let v: Vec<f32> = (0..8).map(|i| s.value(i)).collect();
        assert_eq!(v, vec![0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.01, 0.01]);
    }

    #[test]
    fn unknown_schedule_is_an_error() {
        let v = serde_json::json!({"class_name": "PolynomialDecay", "config": {}});
        let e = Schedule::from_config(&v).unwrap_err().to_string();
        assert!(e.contains("PolynomialDecay"), "{e}");
    }
}
