//! What every Keras optimizer shares (`BaseOptimizer`): the learning rate, clipping, weight
//! decay, the step counter, slot creation and Keras' variable order.

use std::borrow::Cow;

use ndarray::{arr0, ArrayD, IxDyn};
use serde_json::{Map, Value};
use tensorweave_core::Result;

use super::clip::clip_gradients;
use super::schedules::Schedule;
use super::{OptimizerVariable, Var, VarSpec, VariableValue};
use crate::config::{num, opt_num, serialized, ConfigReader};
use crate::gradient::Gradient;
use crate::util::{config_err, input_err, quote, shape_str};

/// A constant (float32 variable) or scheduled learning rate.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum LearningRate {
    Constant(f32),
    Schedule(Schedule),
}

/// The options of `BaseOptimizer.__init__` that tensorweave supports.
#[derive(Debug, Clone)]
pub(crate) struct Hyper {
    pub name: String,
    pub learning_rate: LearningRate,
    pub weight_decay: Option<f64>,
    pub clipnorm: Option<f64>,
    pub clipvalue: Option<f64>,
    pub global_clipnorm: Option<f64>,
    /// Echoed in the config only (EMA itself is not supported).
    pub ema_momentum: f64,
}

impl Hyper {
    /// Keras' defaults for an optimizer called `name`.
    pub(crate) fn new(name: &str, learning_rate: f64) -> Hyper {
        Hyper {
            name: name.to_string(),
            learning_rate: LearningRate::Constant(learning_rate as f32),
            weight_decay: None,
            clipnorm: None,
            clipvalue: None,
            global_clipnorm: None,
            ema_momentum: 0.99,
        }
    }

    /// Reads the base options from a Keras config; unsupported ones are errors naming them.
    pub(crate) fn from_reader(
        c: &mut ConfigReader<'_>,
        default_name: &str,
        default_lr: f64,
    ) -> Result<Hyper> {
        let mut h = Hyper::new(default_name, default_lr);
        if let Some(name) = c.opt_str("name")? {
            h.name = name;
        }
        match c.raw("learning_rate") {
            None => {}
            Some(Value::Number(n)) => {
                h.learning_rate = LearningRate::Constant(n.as_f64().unwrap_or(default_lr) as f32);
            }
            Some(v @ Value::Object(_)) => {
                h.learning_rate = LearningRate::Schedule(Schedule::from_config(v)?)
            }
            Some(v) => {
                return Err(config_err(format!(
                    "{}: 'learning_rate' must be a number or a serialized schedule, got {}",
                    c.what(),
                    crate::util::quote_json(v)
                )))
            }
        }
        h.weight_decay = c.opt_f64("weight_decay")?;
        h.clipnorm = c.opt_f64("clipnorm")?;
        h.clipvalue = c.opt_f64("clipvalue")?;
        h.global_clipnorm = c.opt_f64("global_clipnorm")?;
        h.ema_momentum = c.f64_or("ema_momentum", 0.99)?;
        if c.bool_or("use_ema", false)? {
            return Err(unsupported(
                c.what(),
                "use_ema=true (an exponential moving average of the weights)",
                "set it to false",
            ));
        }
        if c.opt_i64("ema_overwrite_frequency")?.is_some() {
            return Err(unsupported(
                c.what(),
                "ema_overwrite_frequency",
                "set it to null",
            ));
        }
        if c.opt_f64("loss_scale_factor")?.is_some() {
            return Err(unsupported(c.what(), "loss_scale_factor", "set it to null"));
        }
        if c.opt_i64("gradient_accumulation_steps")?.is_some() {
            return Err(unsupported(
                c.what(),
                "gradient_accumulation_steps",
                "set it to null",
            ));
        }
        // Keras 3 warns that `decay` is no longer supported and ignores it.
        c.ignore(&["decay"]);
        h.check(c.what())?;
        Ok(h)
    }

    fn check(&self, what: &str) -> Result<()> {
        let set = [self.clipnorm, self.clipvalue, self.global_clipnorm]
            .iter()
            .filter(|x| x.is_some())
            .count();
        if set > 1 {
            return Err(config_err(format!(
                "{what}: only one of clipnorm, clipvalue and global_clipnorm can be set (got clipnorm={:?}, clipvalue={:?}, global_clipnorm={:?})",
                self.clipnorm, self.clipvalue, self.global_clipnorm
            )));
        }
        Ok(())
    }

    /// The base part of `get_config`, in Keras' key order.
    fn config_map(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("name".into(), Value::from(self.name.clone()));
        let lr = match &self.learning_rate {
            LearningRate::Constant(lr) => num(f64::from(*lr)),
            LearningRate::Schedule(s) => s.config(),
        };
        m.insert("learning_rate".into(), lr);
        m.insert("weight_decay".into(), opt_num(self.weight_decay));
        m.insert("clipnorm".into(), opt_num(self.clipnorm));
        m.insert("global_clipnorm".into(), opt_num(self.global_clipnorm));
        m.insert("clipvalue".into(), opt_num(self.clipvalue));
        m.insert("use_ema".into(), Value::from(false));
        m.insert("ema_momentum".into(), num(self.ema_momentum));
        m.insert("ema_overwrite_frequency".into(), Value::Null);
        m.insert("loss_scale_factor".into(), Value::Null);
        m.insert("gradient_accumulation_steps".into(), Value::Null);
        m
    }
}

fn unsupported(what: &str, option: &str, fix: &str) -> tensorweave_core::Error {
    config_err(format!(
        "{what}: {option} is not supported by tensorweave-train; {fix}"
    ))
}

/// An optimizer's own update rule (`update_step`) and slot layout.
pub(crate) trait Rule: std::fmt::Debug + Send + Clone {
    /// The Keras class name.
    fn class_name(&self) -> &'static str;
    /// The slot names of each `add_optimizer_variables` call, in call order.
    fn slot_groups(&self) -> Vec<&'static [&'static str]>;
    /// The initial value of every slot.
    fn slot_initial(&self) -> f32 {
        0.0
    }
    /// Variables created in `build` after the slots (name, value), e.g. Nadam's `u_product`.
    fn extras(&self) -> Vec<(&'static str, f32)> {
        Vec::new()
    }
    /// Restores the extras' values (same order as [`Rule::extras`]).
    fn set_extras(&mut self, _values: &[f32]) {}
    /// Called when the slots are created.
    fn on_build(&mut self) {}
    /// Called once per step before the per-variable updates (Nadam's `_backend_update_step`).
    fn before_updates(&mut self, _iterations: i64) {}
    /// `update_step` for one variable; `slots` are this variable's slots in flattened
    /// [`Rule::slot_groups`] order.
    fn update(
        &self,
        g: &Gradient,
        w: &mut ArrayD<f32>,
        slots: &mut [ArrayD<f32>],
        lr: f32,
        iterations: i64,
    ) -> Result<()>;
    /// The optimizer-specific part of `get_config`.
    fn config_entries(&self, m: &mut Map<String, Value>);
}

/// The state machine every optimizer shares, parameterised by its [`Rule`].
#[derive(Debug, Clone)]
pub(crate) struct Engine<R: Rule> {
    pub hyper: Hyper,
    pub rule: R,
    iterations: i64,
    vars: Option<Vec<VarSpec>>,
    /// `slots[var][k]`, `k` over the flattened slot names.
    slots: Vec<Vec<ArrayD<f32>>>,
}

impl<R: Rule> Engine<R> {
    pub(crate) fn new(hyper: Hyper, rule: R) -> Self {
        Engine {
            hyper,
            rule,
            iterations: 0,
            vars: None,
            slots: Vec::new(),
        }
    }

    fn what(&self) -> String {
        format!(
            "optimizer {} ({})",
            quote(&self.hyper.name),
            self.rule.class_name()
        )
    }

    pub(crate) fn build(&mut self, specs: &[VarSpec]) -> Result<()> {
        if let Some(existing) = &self.vars {
            if existing.as_slice() == specs {
                return Ok(());
            }
            return Err(config_err(format!(
                "{}: already built for {} variables; an optimizer serves the variables it was built with (create a new one for others)",
                self.what(),
                existing.len()
            )));
        }
        for (i, s) in specs.iter().enumerate() {
            if specs[..i].iter().any(|o| o.path == s.path) {
                return Err(input_err(format!(
                    "{}: variable path {} is given twice; every trainable variable needs a unique path",
                    self.what(),
                    quote(&s.path)
                )));
            }
        }
        let n_slots: usize = self.rule.slot_groups().iter().map(|g| g.len()).sum();
        let init = self.rule.slot_initial();
        self.slots = specs
            .iter()
            .map(|s| {
                (0..n_slots)
                    .map(|_| ArrayD::from_elem(IxDyn(&s.shape), init))
                    .collect()
            })
            .collect();
        self.vars = Some(specs.to_vec());
        self.rule.on_build();
        Ok(())
    }

    pub(crate) fn iterations(&self) -> i64 {
        self.iterations
    }

    pub(crate) fn current_learning_rate(&self) -> f32 {
        match &self.hyper.learning_rate {
            LearningRate::Constant(lr) => *lr,
            LearningRate::Schedule(s) => s.value(self.iterations),
        }
    }

    pub(crate) fn set_learning_rate(&mut self, lr: f32) -> Result<()> {
        match &mut self.hyper.learning_rate {
            LearningRate::Constant(v) => {
                *v = lr;
                Ok(())
            }
            LearningRate::Schedule(_) => Err(config_err(format!(
                "{}: was created with a learning-rate schedule, so its learning rate is not settable (Keras raises TypeError); use a float learning rate",
                self.what()
            ))),
        }
    }

    fn index_of(&self, path: &str) -> Result<usize> {
        let vars = self.vars.as_deref().unwrap_or_default();
        vars.iter().position(|s| s.path == path).ok_or_else(|| {
            input_err(format!(
                "{}: unknown variable {}; an optimizer only updates the variables it was built with (create a new optimizer for a new set)",
                self.what(),
                quote(path)
            ))
        })
    }

    pub(crate) fn apply(&mut self, vars: &mut [Var<'_>]) -> Result<()> {
        if vars.is_empty() {
            // Keras returns before counting the step.
            return Ok(());
        }
        self.hyper.check(&self.what())?;
        if self.vars.is_none() {
            let specs: Vec<VarSpec> = vars
                .iter()
                .map(|v| VarSpec {
                    path: v.path.to_string(),
                    shape: v.value.shape().to_vec(),
                })
                .collect();
            self.build(&specs)?;
        }
        let mut index = Vec::with_capacity(vars.len());
        for v in vars.iter() {
            let i = self.index_of(v.path)?;
            if index.contains(&i) {
                return Err(input_err(format!(
                    "{}: variable {} is given twice in one step",
                    self.what(),
                    quote(v.path)
                )));
            }
            let built = &self.vars.as_deref().unwrap_or_default()[i].shape;
            if v.value.shape() != built.as_slice() {
                return Err(input_err(format!(
                    "{}: variable {} has shape {} but the optimizer was built for {}",
                    self.what(),
                    quote(v.path),
                    shape_str(v.value.shape()),
                    shape_str(built)
                )));
            }
            if let Some(g) = v.gradient {
                g.check()?;
                if g.shape() != v.value.shape() {
                    return Err(input_err(format!(
                        "{}: the gradient of {} has shape {} but the variable has shape {}",
                        self.what(),
                        quote(v.path),
                        shape_str(g.shape()),
                        shape_str(v.value.shape())
                    )));
                }
            }
            index.push(i);
        }
        if vars.iter().all(|v| v.gradient.is_none()) {
            return Err(input_err(format!(
                "{}: no gradients provided for any variable (Keras raises the same); check that the loss depends on the weights",
                self.what()
            )));
        }
        let lr = self.current_learning_rate();
        let grads: Vec<Option<Cow<'_, Gradient>>> =
            vars.iter().map(|v| v.gradient.map(Cow::Borrowed)).collect();
        let grads = clip_gradients(grads, &self.hyper);
        if let Some(wd) = self.hyper.weight_decay {
            let wd = wd as f32;
            for (v, g) in vars.iter_mut().zip(&grads) {
                if g.is_some() {
                    v.value.mapv_inplace(|w| w - w * wd * lr);
                }
            }
        }
        self.rule.before_updates(self.iterations);
        for ((v, g), &i) in vars.iter_mut().zip(&grads).zip(&index) {
            if let Some(g) = g {
                self.rule
                    .update(g, v.value, &mut self.slots[i], lr, self.iterations)?;
            }
        }
        self.iterations += 1;
        Ok(())
    }

    pub(crate) fn variables(&self) -> Vec<OptimizerVariable> {
        let name = &self.hyper.name;
        let mut out = vec![OptimizerVariable {
            path: format!("{name}/iteration"),
            value: VariableValue::Int64(self.iterations),
        }];
        if let LearningRate::Constant(lr) = self.hyper.learning_rate {
            out.push(OptimizerVariable {
                path: format!("{name}/learning_rate"),
                value: VariableValue::Float32(arr0(lr).into_dyn()),
            });
        }
        let Some(specs) = &self.vars else { return out };
        let mut offset = 0;
        for group in self.rule.slot_groups() {
            for (vi, spec) in specs.iter().enumerate() {
                for (k, slot) in group.iter().enumerate() {
                    out.push(OptimizerVariable {
                        path: format!("{name}/{}_{slot}", spec.path.replace('/', "_")),
                        value: VariableValue::Float32(self.slots[vi][offset + k].clone()),
                    });
                }
            }
            offset += group.len();
        }
        for (extra, value) in self.rule.extras() {
            out.push(OptimizerVariable {
                path: format!("{name}/{extra}"),
                value: VariableValue::Float32(arr0(value).into_dyn()),
            });
        }
        out
    }

    pub(crate) fn load_variables(&mut self, saved: &[OptimizerVariable]) -> Result<()> {
        let expected = self.variables();
        if saved.len() != expected.len() {
            let hint = if self.vars.is_none() {
                "build the optimizer with the model's trainable variables first"
            } else {
                "the saved optimizer served different variables or had a different learning-rate kind"
            };
            return Err(input_err(format!(
                "{}: the saved state has {} variables but this optimizer has {}; {hint}",
                self.what(),
                saved.len(),
                expected.len()
            )));
        }
        for (i, (e, s)) in expected.iter().zip(saved).enumerate() {
            if e.dtype() != s.dtype() || e.shape() != s.shape() {
                return Err(input_err(format!(
                    "{}: saved variable {i} ({}) is {} {} but {} expects {} {}",
                    self.what(),
                    quote(&s.path),
                    s.dtype(),
                    shape_str(&s.shape()),
                    quote(&e.path),
                    e.dtype(),
                    shape_str(&e.shape())
                )));
            }
        }
        let mut it = saved.iter();
        if let Some(OptimizerVariable {
            value: VariableValue::Int64(n),
            ..
        }) = it.next()
        {
            self.iterations = *n;
        }
        let scalar = |v: &OptimizerVariable| match &v.value {
            VariableValue::Float32(a) => a.iter().next().copied().unwrap_or(0.0),
            VariableValue::Int64(n) => *n as f32,
        };
        if let LearningRate::Constant(lr) = &mut self.hyper.learning_rate {
            if let Some(v) = it.next() {
                *lr = scalar(v);
            }
        }
        if let Some(specs) = &self.vars {
            let mut offset = 0;
            for group in self.rule.slot_groups() {
                for vi in 0..specs.len() {
                    for k in 0..group.len() {
                        if let Some(OptimizerVariable {
                            value: VariableValue::Float32(a),
                            ..
                        }) = it.next()
                        {
                            self.slots[vi][offset + k] = a.clone();
                        }
                    }
                }
                offset += group.len();
            }
        }
        let extras: Vec<f32> = it.map(scalar).collect();
        self.rule.set_extras(&extras);
        Ok(())
    }

    pub(crate) fn config(&self) -> Value {
        let mut m = self.hyper.config_map();
        self.rule.config_entries(&mut m);
        serialized("keras.optimizers", self.rule.class_name(), m)
    }
}

/// The builder methods and the [`Optimizer`](super::Optimizer) implementation shared by every
/// optimizer type (each wraps an `Engine` in a field `engine`).
macro_rules! optimizer_common {
    ($t:ident) => {
        impl $t {
            /// Renames the optimizer (the prefix of its variables' paths).
            pub fn named(mut self, name: impl Into<String>) -> Self {
                self.engine.hyper.name = name.into();
                self
            }

            /// Uses a learning-rate schedule instead of a constant rate.
            pub fn schedule(mut self, schedule: impl Into<$crate::optimizers::Schedule>) -> Self {
                self.engine.hyper.learning_rate =
                    $crate::optimizers::base::LearningRate::Schedule(schedule.into());
                self
            }

            /// Decoupled weight decay: `w -= w * weight_decay * lr` before each update.
            pub fn weight_decay(mut self, weight_decay: f64) -> Self {
                self.engine.hyper.weight_decay = Some(weight_decay);
                self
            }

            /// Clips each gradient tensor to this L2 norm (only one clipping option may be set).
            pub fn clipnorm(mut self, clipnorm: f64) -> Self {
                self.engine.hyper.clipnorm = Some(clipnorm);
                self
            }

            /// Clips every gradient entry to `[-clipvalue, clipvalue]`.
            pub fn clipvalue(mut self, clipvalue: f64) -> Self {
                self.engine.hyper.clipvalue = Some(clipvalue);
                self
            }

            /// Scales all gradients together so that their global L2 norm is at most this.
            pub fn global_clipnorm(mut self, global_clipnorm: f64) -> Self {
                self.engine.hyper.global_clipnorm = Some(global_clipnorm);
                self
            }
        }

        impl $crate::optimizers::Optimizer for $t {
            fn name(&self) -> &str {
                &self.engine.hyper.name
            }
            fn apply(
                &mut self,
                vars: &mut [$crate::optimizers::Var<'_>],
            ) -> tensorweave_core::Result<()> {
                self.engine.apply(vars)
            }
            fn build(
                &mut self,
                vars: &[$crate::optimizers::VarSpec],
            ) -> tensorweave_core::Result<()> {
                self.engine.build(vars)
            }
            fn iterations(&self) -> i64 {
                self.engine.iterations()
            }
            fn current_learning_rate(&self) -> f32 {
                self.engine.current_learning_rate()
            }
            fn set_learning_rate(&mut self, lr: f32) -> tensorweave_core::Result<()> {
                self.engine.set_learning_rate(lr)
            }
            fn variables(&self) -> Vec<$crate::optimizers::OptimizerVariable> {
                self.engine.variables()
            }
            fn load_variables(
                &mut self,
                vars: &[$crate::optimizers::OptimizerVariable],
            ) -> tensorweave_core::Result<()> {
                self.engine.load_variables(vars)
            }
            fn config(&self) -> serde_json::Value {
                self.engine.config()
            }
        }
    };
}
pub(crate) use optimizer_common;
