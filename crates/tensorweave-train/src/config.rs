//! Reading Keras' serialized objects: `"adam"`, `{"class_name": "Adam", "config": {…}}` or the
//! full `{"module": …, "class_name": …, "config": …, "registered_name": …}` form.

use serde_json::{Map, Value};
use tensorweave_core::Result;

use crate::util::{config_err, quote, quote_json};

/// A Keras identifier: a bare name or a serialized object.
pub(crate) enum Identifier<'a> {
    /// A string such as `"adam"` or `"categorical_crossentropy"`.
    Name(&'a str),
    /// `class_name` and the reader over its `config`.
    Object {
        /// The Keras class name.
        class_name: &'a str,
        /// Its `config` entries.
        config: ConfigReader<'a>,
    },
}

/// Splits `v` into a [`Identifier`]; `what` names the kind of object in errors.
pub(crate) fn identifier<'a>(v: &'a Value, what: &str) -> Result<Identifier<'a>> {
    match v {
        Value::String(s) => Ok(Identifier::Name(s)),
        Value::Object(map) => {
            let class_name = map
                .get("class_name")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    config_err(format!(
                        "{what}: a serialized Keras object needs a string 'class_name', got {}",
                        quote_json(v)
                    ))
                })?;
            let config = match map.get("config") {
                None | Some(Value::Null) => None,
                Some(Value::Object(c)) => Some(c),
                Some(other) => {
                    return Err(config_err(format!(
                        "{what} {}: 'config' must be an object, got {}",
                        quote(class_name),
                        quote_json(other)
                    )))
                }
            };
            Ok(Identifier::Object {
                class_name,
                config: ConfigReader::new(format!("{what} {}", quote(class_name)), config),
            })
        }
        other => Err(config_err(format!(
            "{what}: expected a name or a serialized Keras object, got {}",
            quote_json(other)
        ))),
    }
}

/// Reads the entries of a Keras `config`, remembering which were used so that unknown
/// options are reported instead of ignored.
pub(crate) struct ConfigReader<'a> {
    what: String,
    map: Option<&'a Map<String, Value>>,
    used: Vec<&'a str>,
}

impl<'a> ConfigReader<'a> {
    /// A reader over `map` (`None` = empty config); `what` prefixes error messages.
    pub(crate) fn new(what: String, map: Option<&'a Map<String, Value>>) -> Self {
        ConfigReader {
            what,
            map,
            used: Vec::new(),
        }
    }

    /// What this config belongs to, for messages.
    pub(crate) fn what(&self) -> &str {
        &self.what
    }

    /// Whether `key` is present (even as null).
    pub(crate) fn contains(&self, key: &str) -> bool {
        self.map.is_some_and(|m| m.contains_key(key))
    }

    /// The raw value of `key`, `None` if absent or null.
    pub(crate) fn raw(&mut self, key: &str) -> Option<&'a Value> {
        let map = self.map?;
        let (k, v) = map.get_key_value(key)?;
        self.used.push(k.as_str());
        if v.is_null() {
            None
        } else {
            Some(v)
        }
    }

    fn type_err(&self, key: &str, expected: &str, got: &Value) -> tensorweave_core::Error {
        config_err(format!(
            "{}: '{key}' must be {expected}, got {}",
            self.what,
            quote_json(got)
        ))
    }

    /// An optional number.
    pub(crate) fn opt_f64(&mut self, key: &str) -> Result<Option<f64>> {
        match self.raw(key) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .map(Some)
                .ok_or_else(|| self.type_err(key, "a number", v)),
        }
    }

    /// A number with a default.
    pub(crate) fn f64_or(&mut self, key: &str, default: f64) -> Result<f64> {
        Ok(self.opt_f64(key)?.unwrap_or(default))
    }

    /// A boolean with a default.
    pub(crate) fn bool_or(&mut self, key: &str, default: bool) -> Result<bool> {
        match self.raw(key) {
            None => Ok(default),
            Some(v) => v
                .as_bool()
                .ok_or_else(|| self.type_err(key, "true or false", v)),
        }
    }

    /// An optional integer (integral floats are accepted).
    pub(crate) fn opt_i64(&mut self, key: &str) -> Result<Option<i64>> {
        match self.raw(key) {
            None => Ok(None),
            Some(v) => {
                if let Some(i) = v.as_i64() {
                    return Ok(Some(i));
                }
                match v.as_f64() {
                    Some(x) if x.fract() == 0.0 && x.abs() < 9e15 => Ok(Some(x as i64)),
                    _ => Err(self.type_err(key, "an integer", v)),
                }
            }
        }
    }

    /// An integer with a default.
    pub(crate) fn i64_or(&mut self, key: &str, default: i64) -> Result<i64> {
        Ok(self.opt_i64(key)?.unwrap_or(default))
    }

    /// An optional string.
    pub(crate) fn opt_str(&mut self, key: &str) -> Result<Option<String>> {
        match self.raw(key) {
            None => Ok(None),
            Some(v) => v
                .as_str()
                .map(|s| Some(s.to_string()))
                .ok_or_else(|| self.type_err(key, "a string", v)),
        }
    }

    /// A list of numbers.
    pub(crate) fn f64_list(&mut self, key: &str) -> Result<Option<Vec<f64>>> {
        match self.raw(key) {
            None => Ok(None),
            Some(Value::Array(items)) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.push(
                        item.as_f64()
                            .ok_or_else(|| self.type_err(key, "a list of numbers", item))?,
                    );
                }
                Ok(Some(out))
            }
            Some(v) => Err(self.type_err(key, "a list of numbers", v)),
        }
    }

    /// Accepts `dtype` when it is absent, null or float32 (the only compute dtype supported).
    pub(crate) fn float32_dtype(&mut self) -> Result<()> {
        match self.raw("dtype") {
            None => Ok(()),
            Some(Value::String(s)) if s == "float32" => Ok(()),
            Some(Value::Object(o))
                if o.get("config")
                    .and_then(|c| c.get("name"))
                    .and_then(Value::as_str)
                    == Some("float32") =>
            {
                Ok(())
            }
            Some(v) => Err(config_err(format!(
                "{}: dtype {} is not supported; only float32 is",
                self.what,
                quote_json(v)
            ))),
        }
    }

    /// Marks keys as known without reading them.
    pub(crate) fn ignore(&mut self, keys: &[&str]) {
        for k in keys {
            let _ = self.raw(k);
        }
    }

    /// Fails on any key that was not read: Keras would reject an unknown argument too.
    pub(crate) fn finish(self) -> Result<()> {
        let Some(map) = self.map else { return Ok(()) };
        for key in map.keys() {
            if !self.used.contains(&key.as_str()) {
                return Err(config_err(format!(
                    "{}: unknown or unsupported option {}; remove it or use a supported class",
                    self.what,
                    quote(key)
                )));
            }
        }
        Ok(())
    }
}

/// The type of a Keras config option: how it is read (with its default) and written back.
pub(crate) trait OptionValue: Sized {
    /// Reads `key`, `default` when it is absent or null.
    fn read(c: &mut ConfigReader<'_>, key: &str, default: Self) -> Result<Self>;
    /// The value as Keras writes it in `get_config`.
    fn to_json(&self) -> Value;
}

impl OptionValue for f64 {
    fn read(c: &mut ConfigReader<'_>, key: &str, default: Self) -> Result<Self> {
        c.f64_or(key, default)
    }
    fn to_json(&self) -> Value {
        num(*self)
    }
}

impl OptionValue for bool {
    fn read(c: &mut ConfigReader<'_>, key: &str, default: Self) -> Result<Self> {
        c.bool_or(key, default)
    }
    fn to_json(&self) -> Value {
        Value::from(*self)
    }
}

impl OptionValue for i64 {
    fn read(c: &mut ConfigReader<'_>, key: &str, default: Self) -> Result<Self> {
        c.i64_or(key, default)
    }
    fn to_json(&self) -> Value {
        Value::from(*self)
    }
}

impl OptionValue for Option<i64> {
    fn read(c: &mut ConfigReader<'_>, key: &str, default: Self) -> Result<Self> {
        Ok(c.opt_i64(key)?.or(default))
    }
    fn to_json(&self) -> Value {
        self.map(Value::from).unwrap_or(Value::Null)
    }
}

/// A serialized Keras object: `{"module", "class_name", "config", "registered_name": null}`.
pub(crate) fn serialized(module: &str, class_name: &str, config: Map<String, Value>) -> Value {
    let mut m = Map::new();
    m.insert("module".into(), Value::from(module));
    m.insert("class_name".into(), Value::from(class_name));
    m.insert("config".into(), Value::Object(config));
    m.insert("registered_name".into(), Value::Null);
    Value::Object(m)
}

/// A JSON number from an `f64` (Keras writes Python floats; NaN/inf become null).
pub(crate) fn num(x: f64) -> Value {
    serde_json::Number::from_f64(x)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// An optional JSON number.
pub(crate) fn opt_num(x: Option<f64>) -> Value {
    x.map(num).unwrap_or(Value::Null)
}
