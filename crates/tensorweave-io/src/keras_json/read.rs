//! Keras functional configs to models: create the layers, replay the calls.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;
use tensorweave_core::registry::{brief, is_op_module};
use tensorweave_core::{
    input_tensor, unique_name, BuildContext, DType, Error, LayerRef, LayerRegistry, Model, Result,
    Tensor, TensorSpec,
};
use tensorweave_core::{CallArg, CallOptions, TENSOR_INPUT_KEY};
use tensorweave_layers::config::check_dtype_policy;
use tensorweave_layers::ops::NotEqual;

use super::{FORMAT_VERSION, FORMAT_VERSION_KEY, MASKS_KEY};

/// Builds a model from a Keras functional configuration: the top-level object of
/// `model.to_json()` / a `.keras` file's `config.json` / tensorweave's JSON, or
/// its `config` object. Layers are created by `registry` (see
/// [`crate::registry::default_registry`]), with initial weights drawn from
/// their initializers; loaders that read weights next use
/// [`model_from_keras_config_with`].
///
/// `input_layers` and `output_layers` may be one `[layer, node, tensor]`
/// triple, a list of them, or a dict (taken in sorted key order, as Keras
/// flattens dicts). A top-level `"Sequential"` model is read too.
///
/// The name counters of the calling thread for Keras' op names (`not_equal`,
/// `logical_or`, …) are moved past the names in the file, so that ops the
/// layers record while the graph is replayed never clash with the file's.
pub fn model_from_keras_config(json: &Value, registry: &LayerRegistry) -> Result<Model> {
    model_from_keras_config_with(json, registry, &mut BuildContext::new())
}

/// [`model_from_keras_config`], building every layer through `ctx`: with
/// [`tensorweave_core::WeightInit::Placeholder`] no initial weight is drawn (the
/// caller reads them from a file next), and every weight is checked against
/// the context's memory budget before it is allocated. Nested models are read
/// the same way.
pub fn model_from_keras_config_with(
    json: &Value,
    registry: &LayerRegistry,
    ctx: &mut BuildContext,
) -> Result<Model> {
    let (init, budget) = (ctx.init(), ctx.budget());
    let mut registry = registry.clone();
    registry.set_model_reader(move |config, registry| {
        let mut nested = BuildContext::with(init, budget);
        model_from_keras_config_with(config, registry, &mut nested).map(|m| m.as_layer().clone())
    });
    let registry = &registry;
    let keras2;
    let json = match keras2_meanings(json) {
        Some(translated) => {
            keras2 = translated;
            &keras2
        }
        None => json,
    };
    let Value::Object(map) = json else {
        return Err(Error::Config(format!(
            "a model configuration must be a JSON object, got {}",
            brief(json)
        )));
    };
    check_version(json)?;
    match (
        map.get("class_name").and_then(Value::as_str),
        map.get("config"),
    ) {
        (Some("Functional" | "Model"), Some(config)) => functional(config, registry, ctx),
        (Some("Sequential"), Some(config)) => sequential(config, registry, ctx),
        (Some(other), Some(_)) => Err(Error::Config(format!(
            "the top-level object is a '{other}'; only Functional and Sequential models can be \
             read from a configuration"
        ))),
        _ if map.contains_key("input_layers") => functional(json, registry, ctx),
        _ if map.contains_key("layers") => sequential(json, registry, ctx),
        _ => Err(Error::Config(format!(
            "not a Keras model configuration: expected {{\"class_name\": \"Functional\", \
             \"config\": {{...}}}} or a config with \"layers\", got {}",
            brief(json)
        ))),
    }
}

/// A configuration written by Keras 1 or 2 (its top-level `keras_version`)
/// with the names whose meaning changed in Keras 3 made explicit: Keras 2's
/// `"hard_sigmoid"` is `clip(0.2x + 0.5, 0, 1)`, read as
/// `keras2_hard_sigmoid` (Keras 3's is `clip(x/6 + 1/2, 0, 1)`). `None` for
/// any other configuration.
fn keras2_meanings(json: &Value) -> Option<Value> {
    let version = json.get("keras_version")?.as_str()?;
    if !(version.starts_with("1.") || version.starts_with("2.")) {
        return None;
    }
    fn rewrite(v: &mut Value) {
        match v {
            Value::Object(map) => {
                for (key, value) in map.iter_mut() {
                    let is_activation = key == "activation" || key == "recurrent_activation";
                    if is_activation && value.as_str() == Some("hard_sigmoid") {
                        *value = Value::String("keras2_hard_sigmoid".into());
                    } else {
                        rewrite(value);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(rewrite),
            _ => {}
        }
    }
    let mut translated = json.clone();
    rewrite(&mut translated);
    Some(translated)
}

/// Rejects files written by a newer tensorweave.
fn check_version(json: &Value) -> Result<()> {
    match json.get(FORMAT_VERSION_KEY) {
        None => Ok(()),
        Some(v) => match v.as_u64() {
            Some(n) if n <= FORMAT_VERSION => Ok(()),
            Some(n) => Err(Error::Config(format!(
                "this file has tensorweave format version {n}, written by a newer tensorweave; \
                 this version reads format version {FORMAT_VERSION} and older: upgrade tensorweave"
            ))),
            None => Err(Error::Config(format!(
                "`{FORMAT_VERSION_KEY}` must be a non-negative integer, got {}",
                brief(v)
            ))),
        },
    }
}

/// `[layer, node_index, tensor_index]` of a Keras tensor.
#[derive(Debug, Clone, PartialEq)]
struct History {
    layer: String,
    node: usize,
    tensor: usize,
}

impl History {
    fn parse(v: &Value, what: &str) -> Result<History> {
        let parts = v.as_array().map(Vec::as_slice).unwrap_or(&[]);
        match parts {
            [Value::String(layer), node, tensor, ..] => match (node.as_u64(), tensor.as_u64()) {
                (Some(node), Some(tensor)) => Ok(History {
                    layer: layer.clone(),
                    node: node as usize,
                    tensor: tensor as usize,
                }),
                _ => Err(bad_history(what, v)),
            },
            _ => Err(bad_history(what, v)),
        }
    }
}

fn bad_history(what: &str, v: &Value) -> Error {
    Error::Config(format!(
        "{what}: expected [layer_name, node_index, tensor_index], got {}",
        brief(v)
    ))
}

/// One argument of a recorded call.
#[derive(Debug, Clone)]
enum Arg {
    Tensor(History),
    List(Vec<Arg>),
    Other(Value),
}

impl Arg {
    fn parse(v: &Value, what: &str) -> Result<Arg> {
        match v {
            Value::Array(items) => {
                let items: Vec<Arg> = items
                    .iter()
                    .map(|i| Arg::parse(i, what))
                    .collect::<Result<_>>()?;
                // A list of constants (indices, a slicing key) is one constant.
                if items.iter().all(|i| matches!(i, Arg::Other(_))) && !items.is_empty() {
                    Ok(Arg::Other(v.clone()))
                } else {
                    Ok(Arg::List(items))
                }
            }
            Value::Object(map) => match map.get("class_name").and_then(Value::as_str) {
                // Slicing keys: Keras' `x[1:3, ...]`, kept by the GetItem op.
                Some("__slice__" | "__ellipsis__") => Ok(Arg::Other(v.clone())),
                Some("__keras_tensor__") => {
                    let history = map
                        .get("config")
                        .and_then(|c| c.get("keras_history"))
                        .unwrap_or(&Value::Null);
                    Ok(Arg::Tensor(History::parse(history, what)?))
                }
                Some(tag) if tag.starts_with("__") => Err(Error::Config(format!(
                    "{what}: arguments of type '{tag}' are not supported"
                ))),
                _ => Ok(Arg::Other(v.clone())),
            },
            other => Ok(Arg::Other(other.clone())),
        }
    }

    fn histories<'a>(&'a self, out: &mut Vec<&'a History>) {
        match self {
            Arg::Tensor(h) => out.push(h),
            Arg::List(items) => items.iter().for_each(|i| i.histories(out)),
            Arg::Other(_) => {}
        }
    }
}

/// A recorded call: positional arguments, if recorded the input masks, and
/// the initial states of a recurrent layer (`initial_state`).
#[derive(Debug, Clone)]
struct Call {
    args: Vec<Arg>,
    masks: Option<Arg>,
    states: Option<Arg>,
    /// Keyword arguments that are tensors (`key=…`, `attention_mask=…`), by name.
    tensor_kwargs: Vec<(String, History)>,
    /// Other keyword arguments (`return_attention_scores=True`).
    options: CallOptions,
}

impl Call {
    fn parse(v: &Value, what: &str) -> Result<Call> {
        match v {
            Value::Object(map) => {
                let args = match map.get("args") {
                    None | Some(Value::Null) => Vec::new(),
                    Some(Value::Array(a)) => a
                        .iter()
                        .map(|x| Arg::parse(x, what))
                        .collect::<Result<_>>()?,
                    Some(other) => {
                        return Err(Error::Config(format!(
                            "{what}: `args` must be a list, got {}",
                            brief(other)
                        )))
                    }
                };
                let (mut masks, mut states) = (None, None);
                let (mut tensor_kwargs, mut options) = (Vec::new(), CallOptions::new());
                match map.get("kwargs") {
                    None | Some(Value::Null) => {}
                    Some(Value::Object(kwargs)) => {
                        for (key, value) in kwargs {
                            match key.as_str() {
                                "mask" => masks = Some(Arg::parse(value, what)?),
                                "initial_state" if !value.is_null() => {
                                    states = Some(Arg::parse(value, what)?)
                                }
                                "training" => {}
                                _ if value.is_null() => {}
                                _ => match Arg::parse(value, what)? {
                                    Arg::Tensor(h) => tensor_kwargs.push((key.clone(), h)),
                                    Arg::Other(v) => {
                                        options.insert(key.clone(), v);
                                    }
                                    Arg::List(_) => {
                                        return Err(Error::Config(format!(
                                            "{what}: the call argument `{key}` = {} (a list of \
                                             tensors) is not supported",
                                            brief(value)
                                        )))
                                    }
                                },
                            }
                        }
                    }
                    Some(other) => {
                        return Err(Error::Config(format!(
                            "{what}: `kwargs` must be an object, got {}",
                            brief(other)
                        )))
                    }
                }
                if masks.is_none() {
                    if let Some(m) = map.get(MASKS_KEY) {
                        masks = Some(Arg::parse(m, what)?);
                    }
                }
                Ok(Call {
                    args,
                    masks,
                    states,
                    tensor_kwargs,
                    options,
                })
            }
            // Keras 2: [[layer, node, tensor, {kwargs}], ...]; several inputs form a list.
            Value::Array(inputs) => {
                let tensors = inputs
                    .iter()
                    .map(|i| History::parse(i, what).map(Arg::Tensor))
                    .collect::<Result<Vec<_>>>()?;
                let args = if tensors.len() == 1 {
                    tensors
                } else {
                    vec![Arg::List(tensors)]
                };
                Ok(Call {
                    args,
                    masks: None,
                    states: None,
                    tensor_kwargs: Vec::new(),
                    options: CallOptions::new(),
                })
            }
            other => Err(Error::Config(format!(
                "{what}: expected a call {{\"args\", \"kwargs\"}}, got {}",
                brief(other)
            ))),
        }
    }

    fn histories(&self) -> Vec<&History> {
        let mut out = Vec::new();
        self.args.iter().for_each(|a| a.histories(&mut out));
        for extra in [&self.masks, &self.states].into_iter().flatten() {
            extra.histories(&mut out);
        }
        out.extend(self.tensor_kwargs.iter().map(|(_, h)| h));
        out
    }
}

/// A created layer and its replay state.
struct Slot {
    name: String,
    layer: Option<LayerRef>,
    /// A nested Functional: `input_layers` / `output_layers` count its calls from 1.
    nested_functional: bool,
    calls: Vec<Call>,
    /// Outputs of the calls replayed so far (an input layer has one).
    outputs: Vec<Vec<Tensor>>,
}

/// The op names Keras gives the mask ops that layers record when called.
const OP_PREFIXES: &[&str] = &[
    "not_equal",
    "any",
    "logical_or",
    "expand_dims",
    "ones_like",
    "zeros_like",
    "concatenate",
];

/// Moves this thread's name counters of the op prefixes past the names in the
/// file, so that ops recorded during the replay get fresh names.
fn reserve_op_names<'a>(names: impl Iterator<Item = &'a str>) {
    for name in names {
        for prefix in OP_PREFIXES {
            let index = if name == *prefix {
                Some(0)
            } else {
                name.strip_prefix(prefix)
                    .and_then(|rest| rest.strip_prefix('_'))
                    .and_then(|digits| digits.parse::<usize>().ok())
            };
            let Some(index) = index.filter(|&i| i <= 100_000) else {
                continue;
            };
            loop {
                let got = unique_name(prefix);
                let got_index = got
                    .strip_prefix(prefix)
                    .and_then(|rest| rest.strip_prefix('_'))
                    .and_then(|digits| digits.parse::<usize>().ok())
                    .unwrap_or(0);
                if got_index >= index {
                    break;
                }
            }
        }
    }
}

fn layer_entries<'a>(config: &'a Value, model: &str) -> Result<&'a Vec<Value>> {
    config
        .get("layers")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            Error::Config(format!(
                "model '{model}': the config needs a list \"layers\", got {}",
                brief(config.get("layers").unwrap_or(&Value::Null))
            ))
        })
}

fn entry_name(entry: &Value, i: usize, model: &str) -> Result<String> {
    entry
        .get("name")
        .or_else(|| entry.get("config").and_then(|c| c.get("name")))
        .and_then(Value::as_str)
        .map(String::from)
        .ok_or_else(|| {
            Error::Config(format!(
                "model '{model}': layer entry {i} has no name: {}",
                brief(entry)
            ))
        })
}

fn model_name(config: &Value, default: &str) -> String {
    config
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or(default)
        .to_string()
}

/// A Functional model's `config`.
fn functional(config: &Value, registry: &LayerRegistry, ctx: &mut BuildContext) -> Result<Model> {
    let model = model_name(config, "functional");
    let entries = layer_entries(config, &model)?;
    let mut names = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        names.push(entry_name(entry, i, &model)?);
    }
    reserve_op_names(names.iter().map(String::as_str));

    let mut slots: Vec<Slot> = Vec::with_capacity(entries.len());
    let mut index: HashMap<String, usize> = HashMap::new();
    for (entry, name) in entries.iter().zip(names) {
        if index.insert(name.clone(), slots.len()).is_some() {
            return Err(Error::Config(format!(
                "model '{model}': two layers are named '{name}'"
            )));
        }
        slots.push(create_slot(entry, name, registry, &model)?);
    }

    replay(&mut slots, &index, &model, ctx)?;

    let resolve = |key: &str| -> Result<Vec<Tensor>> {
        let spec = config.get(key).ok_or_else(|| {
            Error::Config(format!("model '{model}': the config has no \"{key}\""))
        })?;
        let mut histories = Vec::new();
        flatten_endpoints(spec, key, &mut histories)?;
        histories
            .iter()
            .map(|h| endpoint(&slots, &index, h, key, &model))
            .collect()
    };
    let inputs = resolve("input_layers")?;
    let outputs = resolve("output_layers")?;
    Model::with_name(model, &inputs, &outputs)
}

/// Creates the layer of one entry (input layers make their tensor right away).
fn create_slot(entry: &Value, name: String, registry: &LayerRegistry, model: &str) -> Result<Slot> {
    let class = entry
        .get("class_name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let what = |i: usize| format!("model '{model}', layer '{name}', inbound node {i}");
    let calls = match entry.get("inbound_nodes") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(nodes)) => nodes
            .iter()
            .enumerate()
            .map(|(i, n)| Call::parse(n, &what(i)))
            .collect::<Result<_>>()?,
        Some(other) => {
            return Err(Error::Config(format!(
                "model '{model}', layer '{name}': `inbound_nodes` must be a list, got {}",
                brief(other)
            )))
        }
    };
    if class == "InputLayer" {
        let tensor = input_layer(entry.get("config").unwrap_or(&Value::Null), &name)?;
        return Ok(Slot {
            name,
            layer: None,
            nested_functional: false,
            calls: Vec::new(),
            outputs: vec![vec![tensor]],
        });
    }
    let entry = with_call_options(entry, &calls, &first_arg_dtype(entry));
    let layer = registry.create(&entry)?;
    Ok(Slot {
        name,
        layer: Some(layer),
        nested_functional: matches!(class, "Functional" | "Model"),
        calls,
        outputs: Vec::new(),
    })
}

/// The dtype of the first tensor argument of the first call, as recorded.
fn first_arg_dtype(entry: &Value) -> Option<String> {
    let first = entry.get("inbound_nodes")?.get(0)?.get("args")?.get(0)?;
    first
        .get("config")?
        .get("dtype")?
        .as_str()
        .map(String::from)
}

/// Keras keeps some op options in the recorded call rather than the config:
/// `NotEqual`'s compared value (`[x, 0]`), and `OnesLike` / `ZerosLike`'s
/// default dtype (the input's). Copies them into the config.
fn with_call_options(entry: &Value, calls: &[Call], input_dtype: &Option<String>) -> Value {
    let mut entry = entry.clone();
    let module = entry
        .get("module")
        .and_then(Value::as_str)
        .map(String::from);
    if !is_op_module(module.as_deref()) {
        return entry;
    }
    let class = entry
        .get("class_name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let Some(Value::Object(config)) = entry.get_mut("config") else {
        return entry;
    };
    match class.as_str() {
        "NotEqual" if !config.contains_key("value") => {
            if let Some(Arg::Other(v)) = calls.first().and_then(|c| c.args.get(1)) {
                config.insert("value".into(), v.clone());
            }
        }
        "OnesLike" | "ZerosLike" if config.get("dtype").is_none_or(Value::is_null) => {
            if let Some(dtype) = input_dtype {
                config.insert("dtype".into(), Value::String(dtype.clone()));
            }
        }
        _ => {}
    }
    entry
}

/// An `InputLayer` config: `batch_shape` (Keras 3), `batch_input_shape`
/// (Keras 2) or `shape` plus `batch_size`; `dtype` a name or a policy.
fn input_layer(config: &Value, name: &str) -> Result<Tensor> {
    let err = |msg: String| Error::layer(name, "InputLayer", msg);
    for flag in ["sparse", "ragged", "optional"] {
        if config.get(flag).and_then(Value::as_bool) == Some(true) {
            return Err(err(format!(
                "option `{flag}` = true is not supported: tensorweave inputs are dense arrays"
            )));
        }
    }
    let dims = |v: &Value| -> Result<Vec<Option<usize>>> {
        v.as_array()
            .ok_or_else(|| err(format!("a shape must be a list, got {}", brief(v))))?
            .iter()
            .map(|d| match d {
                Value::Null => Ok(None),
                _ => d
                    .as_u64()
                    .map(|n| Some(n as usize))
                    .ok_or_else(|| err(format!("invalid dimension {d} in the shape {}", brief(v)))),
            })
            .collect()
    };
    let shape = if let Some(s) = config
        .get("batch_shape")
        .or_else(|| config.get("batch_input_shape"))
        .filter(|s| !s.is_null())
    {
        dims(s)?
    } else if let Some(s) = config.get("shape").filter(|s| !s.is_null()) {
        let mut full = vec![config
            .get("batch_size")
            .and_then(Value::as_u64)
            .map(|b| b as usize)];
        full.extend(dims(s)?);
        full
    } else {
        return Err(err(format!(
            "the config gives no shape (`batch_shape`, `batch_input_shape` or `shape`): {}",
            brief(config)
        )));
    };
    if shape.is_empty() {
        return Err(err("the shape needs at least the batch axis".into()));
    }
    let dtype = match config.get("dtype") {
        None | Some(Value::Null) => DType::F32,
        Some(Value::String(s)) => DType::from_keras_name(s).ok_or_else(|| {
            err(format!(
                "dtype '{s}' is not supported (float32, int32, bool)"
            ))
        })?,
        Some(policy) => {
            check_dtype_policy(name, "InputLayer", Some(policy))?;
            DType::F32
        }
    };
    Ok(input_tensor(name, TensorSpec::new(shape, dtype)))
}

/// Looks up a recorded tensor: `Ok(None)` while its call has not been replayed.
fn lookup(
    slots: &[Slot],
    index: &HashMap<String, usize>,
    h: &History,
    what: &str,
) -> Result<Option<Tensor>> {
    let slot = index
        .get(&h.layer)
        .and_then(|&i| slots.get(i))
        .ok_or_else(|| {
            Error::Config(format!(
                "{what}: refers to a layer '{}' that the model does not have",
                h.layer
            ))
        })?;
    let Some(outputs) = slot.outputs.get(h.node) else {
        return Ok(None);
    };
    outputs.get(h.tensor).cloned().map(Some).ok_or_else(|| {
        Error::Config(format!(
            "{what}: refers to output {} of call {} of layer '{}', which has {} output(s)",
            h.tensor,
            h.node,
            h.layer,
            outputs.len()
        ))
    })
}

/// Replays the recorded calls in sweeps, as Keras' `functional_from_config`.
fn replay(
    slots: &mut [Slot],
    index: &HashMap<String, usize>,
    model: &str,
    ctx: &mut BuildContext,
) -> Result<()> {
    loop {
        let mut pending = false;
        let mut progress = false;
        for i in 0..slots.len() {
            while let Some(call) = slots[i].calls.get(slots[i].outputs.len()).cloned() {
                let node = slots[i].outputs.len();
                let what = format!(
                    "model '{model}', layer '{}', inbound node {node}",
                    slots[i].name
                );
                match run_call(slots, index, i, &call, &what, ctx)? {
                    Some(outputs) => {
                        slots[i].outputs.push(outputs);
                        progress = true;
                    }
                    None => {
                        pending = true;
                        break;
                    }
                }
            }
        }
        if !pending {
            return Ok(());
        }
        if !progress {
            let waiting: Vec<String> = slots
                .iter()
                .filter(|s| s.outputs.len() < s.calls.len())
                .map(|s| {
                    let call = &s.calls[s.outputs.len()];
                    let missing: Vec<String> = call
                        .histories()
                        .iter()
                        .filter(|h| lookup(slots, index, h, "").ok().flatten().is_none())
                        .map(|h| format!("{}[{}][{}]", h.layer, h.node, h.tensor))
                        .collect();
                    format!(
                        "'{}' call {} (waits for {})",
                        s.name,
                        s.outputs.len(),
                        missing.join(", ")
                    )
                })
                .collect();
            return Err(Error::Config(format!(
                "model '{model}': invalid functional configuration: the graph has loops or \
                 disconnected nodes; these calls cannot be resolved: {}",
                waiting.join("; ")
            )));
        }
    }
}

/// Runs one recorded call if all its tensors exist.
fn run_call(
    slots: &[Slot],
    index: &HashMap<String, usize>,
    i: usize,
    call: &Call,
    what: &str,
    ctx: &mut BuildContext,
) -> Result<Option<Vec<Tensor>>> {
    let mut found = HashMap::new();
    for h in call.histories() {
        match lookup(slots, index, h, what)? {
            Some(t) => {
                found.insert((h.layer.clone(), h.node, h.tensor), t);
            }
            None => return Ok(None),
        }
    }
    let tensor = |h: &History| found.get(&(h.layer.clone(), h.node, h.tensor)).cloned();
    let Some(layer) = slots[i].layer.as_ref() else {
        return Err(Error::Config(format!(
            "{what}: an input layer cannot be called"
        )));
    };

    // A recurrent layer's initial states: the `initial_state` keyword, or
    // its second positional argument (`LSTM(8)(x, [h, c])`).
    let takes_states = layer.read().takes_initial_state();
    let (args, positional_states) = match call.args.as_slice() {
        [x, states @ Arg::List(_)] | [x, states @ Arg::Tensor(_)] if takes_states => {
            (std::slice::from_ref(x), Some(states))
        }
        args => (args, None),
    };
    let state_arg = call.states.as_ref().or(positional_states);
    if state_arg.is_some() && !takes_states {
        return Err(Error::Config(format!(
            "{what}: layer '{}' ({}) takes no `initial_state`",
            layer.name(),
            layer.class_name()
        )));
    }
    let mut states = Vec::new();
    if let Some(arg) = state_arg {
        let mut histories = Vec::new();
        arg.histories(&mut histories);
        for h in histories {
            states.push(tensor(h).ok_or_else(|| missing(what, h))?);
        }
    }
    // Positional arguments: one list (merge layers, multi-input models) or tensors.
    let (items, list_input): (Vec<&Arg>, bool) = match args {
        [Arg::List(items)] => (items.iter().collect(), true),
        args => (args.iter().collect(), false),
    };
    let mut inputs = Vec::new();
    let mut pattern = Vec::new();
    for arg in items {
        match arg {
            Arg::Tensor(h) => {
                inputs.push(tensor(h).ok_or_else(|| missing(what, h))?);
                pattern.push(CallArg::Tensor);
            }
            Arg::List(_) => {
                return Err(Error::Config(format!(
                    "{what}: nested lists of tensors are not supported as arguments"
                )))
            }
            Arg::Other(v) => pattern.push(CallArg::Constant(v.clone())),
        }
    }
    if pattern.iter().any(|a| matches!(a, CallArg::Constant(_))) {
        constant_args(layer, &pattern, what)?;
    }
    if inputs.is_empty() {
        return Err(Error::Config(format!(
            "{what}: the call has no tensor argument"
        )));
    }

    // Masks: as recorded, else those the input tensors carry.
    let masks: Vec<Option<Tensor>> = match &call.masks {
        None => inputs.iter().map(|t| t.mask().cloned()).collect(),
        Some(Arg::Other(Value::Null)) => vec![None; inputs.len()],
        Some(Arg::Other(Value::Array(items)))
            if items.len() == inputs.len() && items.iter().all(Value::is_null) =>
        {
            vec![None; inputs.len()]
        }
        Some(Arg::Tensor(h)) if inputs.len() == 1 => {
            vec![Some(tensor(h).ok_or_else(|| missing(what, h))?)]
        }
        Some(Arg::List(items)) if items.len() == inputs.len() => items
            .iter()
            .map(|m| match m {
                Arg::Tensor(h) => tensor(h).map(Some).ok_or_else(|| missing(what, h)),
                Arg::Other(Value::Null) => Ok(None),
                other => Err(Error::Config(format!(
                    "{what}: a mask must be a tensor or null, got {other:?}"
                ))),
            })
            .collect::<Result<_>>()?,
        Some(other) => {
            return Err(Error::Config(format!(
                "{what}: the recorded mask {other:?} does not fit the {} input(s)",
                inputs.len()
            )))
        }
    };
    if states.is_empty() && call.options.is_empty() && call.tensor_kwargs.is_empty() {
        let specs: Vec<TensorSpec> = inputs.iter().map(|t| t.spec().clone()).collect();
        layer.build_with(&specs, ctx)?;
        let refs: Vec<&Tensor> = inputs.iter().collect();
        return layer.call_with_masks(&refs, &masks, list_input).map(Some);
    }
    if states.is_empty() {
        // Keyword options, and keyword tensors after the positional ones
        // (in name order, each named in the options by its input index),
        // with the masks they carry.
        let (mut inputs, mut masks, mut options) = (inputs, masks, call.options.clone());
        // `key` first (a MultiHeadAttention builds its key projection from
        // the input after the value), then the others by name.
        let mut tensor_kwargs: Vec<&(String, History)> = call.tensor_kwargs.iter().collect();
        tensor_kwargs.sort_by_key(|(k, _)| (k != "key", k.clone()));
        for (key, h) in tensor_kwargs {
            let t = tensor(h).ok_or_else(|| missing(what, h))?;
            options.insert(
                key.clone(),
                serde_json::json!({ TENSOR_INPUT_KEY: inputs.len() }),
            );
            masks.push(t.mask().cloned());
            inputs.push(t);
        }
        let specs: Vec<TensorSpec> = inputs.iter().map(|t| t.spec().clone()).collect();
        layer.build_with(&specs, ctx)?;
        let refs: Vec<&Tensor> = inputs.iter().collect();
        return layer
            .call_with_options_and_masks(&refs, &masks, &masks, list_input, options)
            .map(Some);
    }
    // The states follow the sequence, without masks. As in Keras, a call
    // with initial states receives only an explicitly recorded mask (Keras
    // fills in `mask` only for a call with one tensor argument), while its
    // output masks come from the sequence's own.
    let mut call_masks = if call.masks.is_some() {
        masks
    } else {
        vec![None; inputs.len()]
    };
    let mut own_masks: Vec<Option<Tensor>> = inputs.iter().map(|t| t.mask().cloned()).collect();
    call_masks.extend(states.iter().map(|_| None));
    own_masks.extend(states.iter().map(|_| None));
    let mut inputs = inputs;
    inputs.extend(states);
    let specs: Vec<TensorSpec> = inputs.iter().map(|t| t.spec().clone()).collect();
    layer.build_with(&specs, ctx)?;
    let refs: Vec<&Tensor> = inputs.iter().collect();
    layer
        .call_with_split_masks(&refs, &call_masks, &own_masks, list_input)
        .map(Some)
}

fn missing(what: &str, h: &History) -> Error {
    Error::Config(format!(
        "{what}: tensor {}[{}][{}] is missing",
        h.layer, h.node, h.tensor
    ))
}

/// The constant positional arguments of a call: `NotEqual`'s compared
/// value, which must be the value the op was created with; any argument of
/// a layer known only by its description (which never runs); for any other
/// layer, what it takes ([`tensorweave_core::Layer::set_call_args`]: ops
/// such as `x * 2.0` or `x[:, 0]` keep their constants).
fn constant_args(layer: &LayerRef, pattern: &[CallArg], what: &str) -> Result<()> {
    let mut guard = layer.write();
    if guard.as_any().is::<crate::described::DescribedLayer>() {
        return Ok(());
    }
    if let Some(op) = guard.as_any().downcast_ref::<NotEqual>() {
        for v in pattern.iter().filter_map(|a| match a {
            CallArg::Constant(v) => Some(v),
            CallArg::Tensor => None,
        }) {
            if v.as_f64() != Some(op.value) {
                return Err(Error::Config(format!(
                    "{what}: NotEqual compares with {v} here but with {} in its first call; \
                     one NotEqual op compares with one value",
                    op.value
                )));
            }
        }
        return Ok(());
    }
    guard.set_call_args(pattern).map_err(|e| {
        Error::Config(format!(
            "{what}: layer '{}' ({}): {}",
            layer.name(),
            layer.class_name(),
            match e {
                Error::Layer { message, .. } => message,
                other => other.to_string(),
            }
        ))
    })
}

/// Collects the triples of `input_layers` / `output_layers` in order.
fn flatten_endpoints(spec: &Value, key: &str, out: &mut Vec<History>) -> Result<()> {
    match spec {
        Value::Array(items) if items.first().is_some_and(Value::is_string) => {
            out.push(History::parse(spec, key)?);
            Ok(())
        }
        Value::Array(items) => items
            .iter()
            .try_for_each(|i| flatten_endpoints(i, key, out)),
        Value::Object(map) => {
            let sorted: BTreeMap<&String, &Value> = map.iter().collect();
            sorted
                .values()
                .try_for_each(|v| flatten_endpoints(v, key, out))
        }
        other => Err(Error::Config(format!(
            "`{key}`: expected [layer_name, node_index, tensor_index], a list or a dict of them, \
             got {}",
            brief(other)
        ))),
    }
}

/// The tensor an `input_layers` / `output_layers` triple names. A nested
/// Functional's calls are numbered from 1 there (its call 0 is its own graph).
fn endpoint(
    slots: &[Slot],
    index: &HashMap<String, usize>,
    h: &History,
    key: &str,
    model: &str,
) -> Result<Tensor> {
    let what = format!("model '{model}', `{key}`");
    let mut h = h.clone();
    if index
        .get(&h.layer)
        .and_then(|&i| slots.get(i))
        .is_some_and(|s| s.nested_functional)
    {
        h.node = h.node.checked_sub(1).ok_or_else(|| {
            Error::Config(format!(
                "{what}: node index 0 of the nested model '{}' is its own inner graph; its calls \
                 are numbered from 1 here",
                h.layer
            ))
        })?;
    }
    lookup(slots, index, &h, &what)?.ok_or_else(|| {
        Error::Config(format!(
            "{what}: call {} of layer '{}' was never made",
            h.node, h.layer
        ))
    })
}

/// A Sequential model's `config`: its layers called one after the other, on an
/// input made from the `InputLayer` entry, the first layer's
/// `batch_input_shape` / `batch_shape` (Keras 2) or `build_input_shape`.
fn sequential(config: &Value, registry: &LayerRegistry, ctx: &mut BuildContext) -> Result<Model> {
    // Keras 2.0 and 2.1 wrote a Sequential config as the bare list of layers.
    let wrapped;
    let config = match config {
        Value::Array(_) => {
            wrapped = serde_json::json!({ "layers": config });
            &wrapped
        }
        other => other,
    };
    let model = model_name(config, "sequential");
    let entries = layer_entries(config, &model)?;
    let mut names = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        names.push(entry_name(entry, i, &model)?);
    }
    reserve_op_names(names.iter().map(String::as_str));
    let mut rest = entries.iter().zip(&names).peekable();
    let first_config = rest
        .peek()
        .map(|(e, _)| e.get("config").unwrap_or(&Value::Null));
    let input = match rest.peek() {
        Some((entry, name))
            if entry.get("class_name").and_then(Value::as_str) == Some("InputLayer") =>
        {
            let t = input_layer(entry.get("config").unwrap_or(&Value::Null), name)?;
            rest.next();
            t
        }
        _ => {
            let shape = first_config
                .and_then(|c| c.get("batch_input_shape").or_else(|| c.get("batch_shape")))
                .or_else(|| config.get("build_input_shape"))
                .filter(|s| !s.is_null())
                .ok_or_else(|| {
                    Error::Config(format!(
                        "Sequential model '{model}': no input shape (no InputLayer, \
                         `batch_input_shape` or `build_input_shape`)"
                    ))
                })?;
            let dtype = first_config
                .and_then(|c| c.get("dtype"))
                .and_then(Value::as_str)
                .filter(|d| DType::from_keras_name(d).is_some())
                .unwrap_or("float32");
            let input_config = serde_json::json!({ "batch_shape": shape, "dtype": dtype });
            input_layer(&input_config, &unique_name("input_layer"))?
        }
    };
    let mut x = input.clone();
    for (entry, _) in rest {
        let layer = registry.create(entry)?;
        layer.build_with(std::slice::from_ref(x.spec()), ctx)?;
        x = layer.call(&x)?;
    }
    let built = Model::with_name(model, &[input], &[x])?;
    built.set_sequential(true);
    Ok(built)
}
