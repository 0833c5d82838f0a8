//! Constructors of the built-in layers and ops, from their Keras configs.

use serde_json::{Map, Value};
use tensorweave_core::{DType, Error, IntoLayer, LayerRef, Result};
use tensorweave_layers::prelude::*;

use super::options::{parse, prepare_config};
use super::{brief, LayerRegistry};
use crate::keras_json::model_from_keras_config;

/// Adjusts a prepared config to what a builder reads (Keras 2 spellings).
type Fixup = fn(&mut Map<String, Value>);

fn no_fixup(_: &mut Map<String, Value>) {}

/// `LayerNormalization(axis=-1)` (Keras 2, hand-written) is `axis=[-1]`.
fn axis_as_list(map: &mut Map<String, Value>) {
    if let Some(axis @ Value::Number(_)) = map.get_mut("axis") {
        *axis = Value::Array(vec![axis.clone()]);
    }
}

/// Keras 2 writes `BatchNormalization`'s axis as a one-element list.
fn axis_as_int(map: &mut Map<String, Value>) {
    if let Some(Value::Array(items)) = map.get("axis") {
        if let [one] = items.as_slice() {
            let one = one.clone();
            map.insert("axis".into(), one);
        }
    }
}

/// `Cropping1D(cropping=2)` is `(2, 2)`.
fn cropping_pair(map: &mut Map<String, Value>) {
    if let Some(c @ Value::Number(_)) = map.get_mut("cropping") {
        *c = Value::Array(vec![c.clone(), c.clone()]);
    }
}

/// Registers a builder read with serde from its prepared config.
macro_rules! serde_layer {
    ($registry:ident, $class:literal, $builder:ty) => {
        serde_layer!($registry, $class, $builder, no_fixup)
    };
    ($registry:ident, $class:literal, $builder:ty, $fixup:expr) => {
        $registry.register($class, |config: &Value, _: &LayerRegistry| {
            let (name, mut config) = prepare_config($class, config)?;
            if let Value::Object(map) = &mut config {
                let fixup: Fixup = $fixup;
                fixup(map);
            }
            let builder: $builder = parse($class, name.as_deref(), config)?;
            Ok(match name {
                Some(n) => builder.name(n),
                None => builder,
            }
            .into_layer())
        });
    };
}

/// Registers every built-in layer and op.
pub(super) fn register(r: &mut LayerRegistry) {
    serde_layer!(r, "Dense", Dense);
    serde_layer!(r, "Embedding", Embedding);
    serde_layer!(r, "LSTM", Lstm);
    serde_layer!(r, "GRU", Gru);
    serde_layer!(r, "SimpleRNN", SimpleRnn);
    serde_layer!(r, "Conv1D", Conv1D);
    serde_layer!(r, "MaxPooling1D", MaxPooling1D);
    serde_layer!(r, "AveragePooling1D", AveragePooling1D);
    serde_layer!(r, "GlobalMaxPooling1D", GlobalMaxPooling1D);
    serde_layer!(r, "GlobalAveragePooling1D", GlobalAveragePooling1D);
    serde_layer!(r, "Flatten", Flatten);
    serde_layer!(r, "Reshape", Reshape);
    serde_layer!(r, "Permute", Permute);
    serde_layer!(r, "RepeatVector", RepeatVector);
    serde_layer!(r, "Cropping1D", Cropping1D, cropping_pair);
    serde_layer!(r, "LayerNormalization", LayerNormalization, axis_as_list);
    serde_layer!(r, "BatchNormalization", BatchNormalization, axis_as_int);
    serde_layer!(r, "Masking", Masking);
    serde_layer!(r, "Dropout", Dropout);
    serde_layer!(r, "Activation", ActivationLayer);
    serde_layer!(r, "Concatenate", Concatenate);
    serde_layer!(r, "Add", Add);
    serde_layer!(r, "Subtract", Subtract);
    serde_layer!(r, "Multiply", Multiply);
    serde_layer!(r, "Average", Average);
    serde_layer!(r, "Maximum", Maximum);
    serde_layer!(r, "Minimum", Minimum);
    r.register("Bidirectional", bidirectional);
    r.register("TimeDistributed", time_distributed);
    r.register("Functional", functional);
    r.register("Model", functional);
    r.register("Sequential", sequential);
    register_ops(r);
}

/// The Keras class names of the built-in layers (not ops), as written in configs.
pub(crate) const BUILTIN_LAYERS: &[&str] = &[
    "InputLayer",
    "Dense",
    "Embedding",
    "LSTM",
    "GRU",
    "SimpleRNN",
    "Bidirectional",
    "TimeDistributed",
    "Conv1D",
    "MaxPooling1D",
    "AveragePooling1D",
    "GlobalMaxPooling1D",
    "GlobalAveragePooling1D",
    "Flatten",
    "Reshape",
    "Permute",
    "RepeatVector",
    "Cropping1D",
    "LayerNormalization",
    "BatchNormalization",
    "Masking",
    "Dropout",
    "Activation",
    "Concatenate",
    "Add",
    "Subtract",
    "Multiply",
    "Average",
    "Maximum",
    "Minimum",
];

/// A nested recurrent layer of a `Bidirectional` (`{"class_name", "config"}`),
/// named as its config says.
fn recurrent(owner: &str, key: &str, entry: &Value) -> Result<Recurrent> {
    let class = entry
        .get("class_name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let config = entry.get("config").unwrap_or(&Value::Null);
    let (name, config) = match class {
        "LSTM" | "GRU" | "SimpleRNN" => prepare_config(class, config)?,
        _ => {
            return Err(Error::layer(
                owner,
                "Bidirectional",
                format!(
                    "`{key}` must be an LSTM, GRU or SimpleRNN layer, got {}",
                    brief(entry)
                ),
            ))
        }
    };
    let name = name.as_deref();
    Ok(match class {
        "LSTM" => {
            let b: Lstm = parse(class, name, config)?;
            Recurrent::Lstm(match name {
                Some(n) => b.name(n),
                None => b,
            })
        }
        "GRU" => {
            let b: Gru = parse(class, name, config)?;
            Recurrent::Gru(match name {
                Some(n) => b.name(n),
                None => b,
            })
        }
        _ => {
            let b: SimpleRnn = parse(class, name, config)?;
            Recurrent::SimpleRnn(match name {
                Some(n) => b.name(n),
                None => b,
            })
        }
    })
}

/// `Bidirectional`: the nested `layer` and optional `backward_layer` keep the
/// names of their configs (`forward_lstm`, `backward_lstm`).
fn bidirectional(config: &Value, _: &LayerRegistry) -> Result<LayerRef> {
    let (name, config) = prepare_config("Bidirectional", config)?;
    let shown = name.as_deref().unwrap_or("?");
    let layer = config
        .get("layer")
        .ok_or_else(|| Error::layer(shown, "Bidirectional", "the config has no `layer` to wrap"))?;
    let mut builder = Bidirectional::new(recurrent(shown, "layer", layer)?);
    if let Some(backward) = config.get("backward_layer").filter(|b| !b.is_null()) {
        builder = builder.backward_layer(recurrent(shown, "backward_layer", backward)?);
    }
    if let Some(mode) = config.get("merge_mode") {
        let mode: MergeMode = parse("Bidirectional", name.as_deref(), mode.clone())?;
        builder = builder.merge_mode(mode);
    }
    Ok(match name {
        Some(n) => builder.name(n),
        None => builder,
    }
    .into_layer())
}

/// `TimeDistributed`: the nested `layer` (any registered layer, or a nested
/// `Functional`) is created through the registry.
fn time_distributed(config: &Value, registry: &LayerRegistry) -> Result<LayerRef> {
    let (name, config) = prepare_config("TimeDistributed", config)?;
    let shown = name.as_deref().unwrap_or("?");
    let inner = config.get("layer").ok_or_else(|| {
        Error::layer(
            shown,
            "TimeDistributed",
            "the config has no `layer` to wrap",
        )
    })?;
    let inner = registry.create(inner)?;
    let builder = TimeDistributed::new(&inner);
    Ok(match name {
        Some(n) => builder.name(n),
        None => builder,
    }
    .into_layer())
}

/// A nested `Functional` model, as a layer.
fn functional(config: &Value, registry: &LayerRegistry) -> Result<LayerRef> {
    let model = model_from_keras_config(config, registry)?;
    Ok(model.as_layer().clone())
}

/// A nested `Sequential` model, as a layer.
fn sequential(config: &Value, registry: &LayerRegistry) -> Result<LayerRef> {
    let top = serde_json::json!({ "class_name": "Sequential", "config": config });
    let model = model_from_keras_config(&top, registry)?;
    Ok(model.as_layer().clone())
}

/// The op's name from its config, if any.
fn op_name(class: &str, config: &Value) -> Result<Option<String>> {
    if !config.is_object() {
        return Err(Error::Config(format!(
            "the config of a {class} op must be an object, got {}",
            brief(config)
        )));
    }
    Ok(config.get("name").and_then(Value::as_str).map(String::from))
}

/// An integer option of an op config (`default` when absent).
fn op_int(class: &str, config: &Value, key: &str, default: Option<i64>) -> Result<i64> {
    let value = config.get(key).filter(|v| !v.is_null());
    match (value.and_then(Value::as_i64), value, default) {
        (Some(i), _, _) => Ok(i),
        (None, None, Some(d)) => Ok(d),
        _ => Err(Error::layer(
            config.get("name").and_then(Value::as_str).unwrap_or("?"),
            class,
            format!(
                "option `{key}` = {} is not supported: tensorweave's {class} takes one integer axis",
                value.map_or_else(|| "(missing)".to_string(), brief)
            ),
        )),
    }
}

/// The result dtype of `OnesLike` / `ZerosLike`.
fn op_dtype(class: &str, config: &Value) -> Result<DType> {
    let text = config.get("dtype").and_then(Value::as_str).unwrap_or("");
    DType::from_keras_name(text).ok_or_else(|| {
        Error::layer(
            config.get("name").and_then(Value::as_str).unwrap_or("?"),
            class,
            format!(
                "option `dtype` = {} is not supported: expected float32, int32 or bool",
                brief(config.get("dtype").unwrap_or(&Value::Null))
            ),
        )
    })
}

macro_rules! named {
    ($op:expr, $name:expr) => {
        match $name {
            Some(n) => $op.name(n),
            None => $op,
        }
        .into_layer()
    };
}

/// The ops Keras records in graphs (mostly to compute masks).
fn register_ops(r: &mut LayerRegistry) {
    r.register_op("NotEqual", |config, _| {
        let name = op_name("NotEqual", config)?;
        let value = match config.get("value") {
            None | Some(Value::Null) => 0.0,
            Some(v) => v.as_f64().ok_or_else(|| {
                Error::layer(
                    name.as_deref().unwrap_or("?"),
                    "NotEqual",
                    format!("compares with {}, but only a number is supported", brief(v)),
                )
            })?,
        };
        Ok(named!(NotEqual::new(value), name))
    });
    r.register_op("Any", |config, _| {
        let name = op_name("Any", config)?;
        let mut op = AnyOp::new(op_int("Any", config, "axis", None)?);
        op.keepdims = config
            .get("keepdims")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        Ok(named!(op, name))
    });
    r.register_op("LogicalOr", |config, _| {
        let name = op_name("LogicalOr", config)?;
        Ok(named!(LogicalOr::new(), name))
    });
    r.register_op("ExpandDims", |config, _| {
        let name = op_name("ExpandDims", config)?;
        let axis = op_int("ExpandDims", config, "axis", None)?;
        Ok(named!(ExpandDims::new(axis), name))
    });
    r.register_op("OnesLike", |config, _| {
        let name = op_name("OnesLike", config)?;
        Ok(named!(OnesLike::new(op_dtype("OnesLike", config)?), name))
    });
    r.register_op("ZerosLike", |config, _| {
        let name = op_name("ZerosLike", config)?;
        Ok(named!(ZerosLike::new(op_dtype("ZerosLike", config)?), name))
    });
    r.register_op("Concatenate", |config, _| {
        let name = op_name("Concatenate", config)?;
        let axis = op_int("Concatenate", config, "axis", Some(0))?;
        Ok(named!(ConcatenateOp::new(axis), name))
    });
}
