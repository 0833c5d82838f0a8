//! Reading a layer's Keras `config`: checks and normalisation before a builder
//! reads it (dtype policies, options tensorweave does not support, Keras 2
//! spellings), and the serde read itself.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use tensorweave_core::{Error, Result};

use tensorweave_core::registry::brief;

/// Options that change a layer's results and that tensorweave does not
/// implement: the key, whether a value is acceptable, and what to do instead.
type OptionRule = (&'static str, fn(&Value) -> bool, &'static str);

const UNSUPPORTED: &[OptionRule] = &[
    (
        "time_major",
        is_false_or_null,
        "only batch-major sequences (batch, time, features) are supported",
    ),
    (
        "renorm",
        is_false_or_null,
        "batch renormalization is not supported",
    ),
    (
        "quantization_config",
        Value::is_null,
        "quantized layers are not supported; save the float32 model",
    ),
    (
        "lora_rank",
        is_zero_or_null,
        "LoRA layers are not supported; merge the LoRA weights into the kernel first",
    ),
];

fn is_false_or_null(v: &Value) -> bool {
    matches!(v, Value::Null | Value::Bool(false))
}

fn is_zero_or_null(v: &Value) -> bool {
    v.is_null() || v.as_f64() == Some(0.0)
}

/// Checks a layer's `dtype`: absent, `"float32"`, or a `DTypePolicy` (Keras 3) /
/// `Policy` (Keras 2) object named `float32`. Anything else is an error naming
/// the layer and the policy.
pub fn check_dtype_policy(layer: &str, class: &str, dtype: Option<&Value>) -> Result<()> {
    let policy = match dtype {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::String(s)) => s.as_str(),
        Some(obj @ Value::Object(map)) => {
            let known = map
                .get("class_name")
                .and_then(Value::as_str)
                .is_some_and(|c| matches!(c, "DTypePolicy" | "FloatDTypePolicy" | "Policy"));
            match map
                .get("config")
                .and_then(|c| c.get("name"))
                .and_then(Value::as_str)
            {
                Some(name) if known => name,
                _ => {
                    return Err(Error::layer(
                        layer,
                        class,
                        format!(
                            "option `dtype` = {} is not a dtype policy tensorweave knows",
                            brief(obj)
                        ),
                    ))
                }
            }
        }
        Some(other) => {
            return Err(Error::layer(
                layer,
                class,
                format!(
                    "option `dtype` = {} is not a dtype or a dtype policy",
                    brief(other)
                ),
            ))
        }
    };
    if policy == "float32" {
        Ok(())
    } else {
        Err(Error::layer(
            layer,
            class,
            format!(
                "option `dtype` = '{policy}' is not supported: tensorweave computes in float32; \
                 save the model with the float32 policy"
            ),
        ))
    }
}

/// Preprocessing layers whose `dtype` is the type of their output (`int64`
/// indices, `float32` encodings), not a compute policy: their outputs are
/// int32 or float32 here whatever it says.
const OUTPUT_DTYPE_CLASSES: [&str; 5] = [
    "TextVectorization",
    "StringLookup",
    "IntegerLookup",
    "Hashing",
    "CategoryEncoding",
];

/// Prepares a layer's Keras `config` for a builder: checks that it is an object,
/// takes its `name`, checks its dtype policy and the unsupported options, and
/// rewrites Keras' object form of activations (`{"config": "relu", …}`) to the
/// name. Returns the name and the prepared config; unknown keys stay (builders
/// ignore them).
pub fn prepare_config(class: &str, config: &Value) -> Result<(Option<String>, Value)> {
    let Value::Object(map) = config else {
        return Err(Error::Config(format!(
            "the config of a {class} layer must be an object, got {}",
            brief(config)
        )));
    };
    let name = match map.get("name") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            return Err(Error::Config(format!(
                "the name of a {class} layer must be a string, got {}",
                brief(other)
            )))
        }
    };
    let shown = name.as_deref().unwrap_or("?");
    if !OUTPUT_DTYPE_CLASSES.contains(&class) {
        check_dtype_policy(shown, class, map.get("dtype"))?;
    }
    for (key, ok, hint) in UNSUPPORTED {
        if let Some(v) = map.get(*key) {
            if !ok(v) {
                return Err(Error::layer(
                    shown,
                    class,
                    format!("option `{key}` = {} is not supported: {hint}", brief(v)),
                ));
            }
        }
    }
    let mut out: Map<String, Value> = map.clone();
    for key in ["activation", "recurrent_activation"] {
        if let Some(v) = out.get_mut(key) {
            normalize_activation(shown, class, key, v)?;
        }
    }
    Ok((name, Value::Object(out)))
}

/// Keras writes built-in activations as names; an object whose `config` is a
/// name (`{"class_name": "function", "config": "relu"}`) is read as that name.
fn normalize_activation(layer: &str, class: &str, key: &str, v: &mut Value) -> Result<()> {
    match v {
        Value::Null => {
            *v = Value::String("linear".into());
            Ok(())
        }
        Value::String(_) => Ok(()),
        Value::Object(map) => match map.get("config") {
            Some(Value::String(s)) => {
                *v = Value::String(s.clone());
                Ok(())
            }
            _ => Err(Error::layer(
                layer,
                class,
                format!(
                    "option `{key}` = {} is not supported: only Keras' built-in activations \
                     given by name are",
                    brief(v)
                ),
            )),
        },
        other => Err(Error::layer(
            layer,
            class,
            format!(
                "option `{key}` = {} is not an activation name",
                brief(other)
            ),
        )),
    }
}

/// Reads a builder from a prepared config, naming the layer in errors.
pub fn parse<B: DeserializeOwned>(class: &str, name: Option<&str>, config: Value) -> Result<B> {
    serde_json::from_value(config).map_err(|e| {
        Error::layer(
            name.unwrap_or("?"),
            class,
            format!("invalid configuration: {e}"),
        )
    })
}
