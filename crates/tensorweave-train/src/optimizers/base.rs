//! What every Keras optimizer shares (`BaseOptimizer`): the learning rate, clipping, weight
//! decay, the step counter, slot creation and Keras' variable order.

use std::borrow::Cow;

use ndarray::{arr0, ArrayD, IxDyn};
use serde_json::{Map, Value};
use tensorweave_core::Result;

use super::clip::clip_gradients;
use super::schedules::Schedule;
use super::{Optimizer, OptimizerVariable, Var, VarSpec, VariableValue};
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

/// What a Keras optimizer class fixes besides its options.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Class {
    /// The Keras class name (`RMSprop`).
    pub name: &'static str,
    /// The name an instance gets by default, Keras' snake case of the class (`rm_sprop`).
    pub auto_name: &'static str,
    /// Keras' default learning rate.
    pub learning_rate: f64,
    /// The default of a weight decay the class requires (AdamW's 0.004; a null one is an
    /// error, as in Keras), or `None` when weight decay is optional.
    pub required_weight_decay: Option<f64>,
}

/// A built-in optimizer type (written by [`optimizer!`](super::macros::optimizer)).
pub(crate) trait Builtin: Optimizer + Sized + 'static {
    /// Its Keras class.
    const CLASS: Class;
    /// Reads it from its Keras config.
    fn from_reader(c: &mut ConfigReader<'_>) -> Result<Self>;
}

/// An optimizer's own options as read from and written to a Keras config (written by
/// [`optimizer!`](super::macros::optimizer)).
pub(crate) trait Options: Sized {
    /// Reads the options; absent ones get Keras' defaults.
    fn read(c: &mut ConfigReader<'_>) -> Result<Self>;
    /// The options' part of `get_config`, in Keras' key order.
    fn config_entries(&self, m: &mut Map<String, Value>);
}

/// One variable's `update_step`.
pub(crate) struct Step<'a> {
    /// The gradient, after clipping.
    pub gradient: &'a Gradient,
    /// The variable, updated in place (weight decay already applied).
    pub value: &'a mut ArrayD<f32>,
    /// This variable's slots, in flattened [`Rule::slot_groups`] order.
    pub slots: &'a mut [ArrayD<f32>],
    /// The optimizer's extra variables ([`Rule::extras`]) after [`Rule::before_updates`].
    pub extras: &'a [f32],
    /// The learning rate of this step.
    pub lr: f32,
    /// The steps applied before this one (Keras' `iterations` during the update).
    pub iterations: i64,
}

/// An optimizer's update rule (`update_step`) and slot layout, over its [`Options`].
pub(crate) trait Rule: Options + std::fmt::Debug + Send + Clone {
    /// Checks the options' values (when read from a config and before every step).
    fn check(&self, _what: &str) -> Result<()> {
        Ok(())
    }
    /// The slot names of each `add_optimizer_variables` call, in call order.
    fn slot_groups(&self) -> Vec<&'static [&'static str]>;
    /// The initial value of every slot.
    fn slot_initial(&self) -> f32 {
        0.0
    }
    /// Float32 scalars created in `build` after the slots (name, initial value), e.g. Nadam's
    /// momentum cache.
    fn extras(&self) -> &'static [(&'static str, f32)] {
        &[]
    }
    /// Called once per step before the per-variable updates (Nadam's `_backend_update_step`).
    fn before_updates(&self, _iterations: i64, _extras: &mut [f32]) {}
    /// `update_step` for one variable.
    fn update(&self, step: Step<'_>) -> Result<()>;
}

/// The state machine every optimizer shares, parameterised by its [`Rule`]: the options of
/// `BaseOptimizer`, the step counter, the slots and extra variables, and Keras' variable order.
#[derive(Debug, Clone)]
pub(crate) struct Engine<R: Rule> {
    class: Class,
    pub hyper: Hyper,
    pub rule: R,
    iterations: i64,
    vars: Option<Vec<VarSpec>>,
    /// `slots[var][k]`, `k` over the flattened slot names.
    slots: Vec<Vec<ArrayD<f32>>>,
    /// The values of [`Rule::extras`].
    extras: Vec<f32>,
}

impl<R: Rule> Engine<R> {
    /// An optimizer of `class` with Keras' defaults but this learning rate and these options.
    pub(crate) fn new(class: Class, learning_rate: f64, rule: R) -> Self {
        let mut hyper = Hyper::new(class.auto_name, learning_rate);
        hyper.weight_decay = class.required_weight_decay;
        Self::with(class, hyper, rule)
    }

    fn with(class: Class, hyper: Hyper, rule: R) -> Self {
        let extras = rule.extras().iter().map(|&(_, init)| init).collect();
        Engine {
            class,
            hyper,
            rule,
            iterations: 0,
            vars: None,
            slots: Vec::new(),
            extras,
        }
    }

    /// Reads an optimizer of `class` from its Keras config.
    pub(crate) fn from_reader(class: Class, c: &mut ConfigReader<'_>) -> Result<Self> {
        let given = c.contains("weight_decay");
        let mut hyper = Hyper::from_reader(c, class.auto_name, class.learning_rate)?;
        if let (Some(default), None) = (class.required_weight_decay, hyper.weight_decay) {
            if given {
                return Err(config_err(format!(
                    "{}: 'weight_decay' must be a float for {}, got null (Keras raises the same)",
                    c.what(),
                    class.name
                )));
            }
            hyper.weight_decay = Some(default);
        }
        let rule = R::read(c)?;
        rule.check(c.what())?;
        Ok(Self::with(class, hyper, rule))
    }

    fn what(&self) -> String {
        format!(
            "optimizer {} ({})",
            quote(&self.hyper.name),
            self.class.name
        )
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

    /// The index of each variable among those built, after checking its shapes.
    fn indices(&self, vars: &[Var<'_>]) -> Result<Vec<usize>> {
        let mut index = Vec::with_capacity(vars.len());
        for v in vars {
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
        Ok(index)
    }

    /// The slot variables in Keras' order (one `add_optimizer_variables` call per group,
    /// variables in order within it) as (variable index, slot index, slot name).
    fn slot_order(&self) -> Vec<(usize, usize, &'static str)> {
        let n_vars = self.vars.as_ref().map_or(0, Vec::len);
        let mut order = Vec::new();
        let mut offset = 0;
        for group in self.rule.slot_groups() {
            for vi in 0..n_vars {
                for (k, &slot) in group.iter().enumerate() {
                    order.push((vi, offset + k, slot));
                }
            }
            offset += group.len();
        }
        order
    }
}

impl<R: Rule> Optimizer for Engine<R> {
    fn name(&self) -> &str {
        &self.hyper.name
    }

    fn apply(&mut self, vars: &mut [Var<'_>]) -> Result<()> {
        if vars.is_empty() {
            // Keras returns before counting the step.
            return Ok(());
        }
        let what = self.what();
        self.hyper.check(&what)?;
        self.rule.check(&what)?;
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
        let index = self.indices(vars)?;
        if vars.iter().all(|v| v.gradient.is_none()) {
            return Err(input_err(format!(
                "{what}: no gradients provided for any variable (Keras raises the same); check that the loss depends on the weights"
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
        self.rule.before_updates(self.iterations, &mut self.extras);
        for ((v, g), &i) in vars.iter_mut().zip(&grads).zip(&index) {
            if let Some(g) = g {
                self.rule.update(Step {
                    gradient: g,
                    value: v.value,
                    slots: &mut self.slots[i],
                    extras: &self.extras,
                    lr,
                    iterations: self.iterations,
                })?;
            }
        }
        self.iterations += 1;
        Ok(())
    }

    fn build(&mut self, specs: &[VarSpec]) -> Result<()> {
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
        self.extras = self.rule.extras().iter().map(|&(_, init)| init).collect();
        self.vars = Some(specs.to_vec());
        Ok(())
    }

    fn iterations(&self) -> i64 {
        self.iterations
    }

    fn current_learning_rate(&self) -> f32 {
        match &self.hyper.learning_rate {
            LearningRate::Constant(lr) => *lr,
            LearningRate::Schedule(s) => s.value(self.iterations),
        }
    }

    fn set_learning_rate(&mut self, lr: f32) -> Result<()> {
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

    fn variables(&self) -> Vec<OptimizerVariable> {
        let name = &self.hyper.name;
        let scalar = |path: String, value: f32| OptimizerVariable {
            path,
            value: VariableValue::Float32(arr0(value).into_dyn()),
        };
        let mut out = vec![OptimizerVariable {
            path: format!("{name}/iteration"),
            value: VariableValue::Int64(self.iterations),
        }];
        if let LearningRate::Constant(lr) = self.hyper.learning_rate {
            out.push(scalar(format!("{name}/learning_rate"), lr));
        }
        let Some(specs) = &self.vars else { return out };
        for (vi, k, slot) in self.slot_order() {
            out.push(OptimizerVariable {
                path: format!("{name}/{}_{slot}", specs[vi].path.replace('/', "_")),
                value: VariableValue::Float32(self.slots[vi][k].clone()),
            });
        }
        for (&(extra, _), &value) in self.rule.extras().iter().zip(&self.extras) {
            out.push(scalar(format!("{name}/{extra}"), value));
        }
        out
    }

    fn load_variables(&mut self, saved: &[OptimizerVariable]) -> Result<()> {
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
        let mut it = saved.iter().map(|v| &v.value);
        if let Some(VariableValue::Int64(n)) = it.next() {
            self.iterations = *n;
        }
        let scalar = |v: &VariableValue| match v {
            VariableValue::Float32(a) => a.iter().next().copied().unwrap_or(0.0),
            VariableValue::Int64(n) => *n as f32,
        };
        if let LearningRate::Constant(lr) = &mut self.hyper.learning_rate {
            if let Some(v) = it.next() {
                *lr = scalar(v);
            }
        }
        if self.vars.is_some() {
            for (vi, k, _) in self.slot_order() {
                if let Some(VariableValue::Float32(a)) = it.next() {
                    self.slots[vi][k] = a.clone();
                }
            }
        }
        for (extra, v) in self.extras.iter_mut().zip(it) {
            *extra = scalar(v);
        }
        Ok(())
    }

    fn config(&self) -> Value {
        let mut m = self.hyper.config_map();
        self.rule.config_entries(&mut m);
        serialized("keras.optimizers", self.class.name, m)
    }
}
