//! [`LayerRegistry`]: from the class names written in Keras configurations to
//! the constructors that rebuild layers from them.
//!
//! A Keras configuration names each layer by its class (`"class_name":
//! "LSTM"`) and, for user layers, by the name it was registered under
//! (`"registered_name": "textclf>AttLayer"`); Keras ops (`NotEqual`, …) carry
//! an op `module`. The registry maps those names to constructors taking the
//! layer's `config` object. It also tells writers how to name a class again
//! ([`LayerRegistry::identity`]): built-in layers and ops come from one list
//! (`tensorweave-layers`), user layers from [`LayerRegistry::register`], and a
//! class in neither is an error when saving, never a guess.
//!
//! Nested models (`Functional`, `Sequential`) are graphs, read by the graph
//! reader of `tensorweave-io`, which installs itself with
//! [`LayerRegistry::set_model_reader`]; wrappers such as `TimeDistributed`
//! create their inner layer, model or not, through [`LayerRegistry::create`].

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::layer::LayerRef;

/// A constructor: the layer's Keras `config` object (with its `name`) and the
/// registry (to build nested layers) give the layer.
pub type LayerConstructor = Arc<dyn Fn(&Value, &LayerRegistry) -> Result<LayerRef> + Send + Sync>;

/// How a writer names a registered class in a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClassIdentity {
    /// A Keras layer: `"module": "keras.layers"`, `"registered_name": null`.
    Builtin,
    /// A Keras op: its `module` (`keras.src.ops.numpy`) and
    /// `"registered_name"` equal to the class name.
    Op {
        /// The Keras module of the op.
        module: &'static str,
    },
    /// A user layer, written with this `registered_name` (`textclf>AttLayer`).
    User {
        /// The name it was registered under.
        registered_name: String,
    },
}

#[derive(Clone)]
struct Entry {
    constructor: LayerConstructor,
    identity: Option<ClassIdentity>,
}

/// Maps Keras class names (`Dense`) and registered names (`textclf>AttLayer`) to
/// layer constructors; Keras ops (`module` `keras.src.ops.*`) have their own table,
/// since the op `Concatenate` and the layer `Concatenate` share a class name.
#[derive(Clone, Default)]
pub struct LayerRegistry {
    layers: BTreeMap<String, Entry>,
    ops: BTreeMap<String, Entry>,
    model_reader: Option<LayerConstructor>,
    unknown: Option<LayerConstructor>,
}

impl fmt::Debug for LayerRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LayerRegistry")
            .field("layers", &self.layers.keys().collect::<Vec<_>>())
            .field("ops", &self.ops.keys().collect::<Vec<_>>())
            .field("model_reader", &self.model_reader.is_some())
            .field("unknown", &self.unknown.is_some())
            .finish()
    }
}

/// Whether a Keras `module` is one of Keras' op modules (`keras.src.ops.numpy`, …).
pub fn is_op_module(module: Option<&str>) -> bool {
    module.is_some_and(|m| m.starts_with("keras.src.ops") || m.starts_with("keras.ops"))
}

/// The class names of Keras' models, read as graphs.
const MODEL_CLASSES: &[&str] = &["Functional", "Model", "Sequential"];

impl LayerRegistry {
    /// An empty registry (not even the built-in layers; see
    /// `tensorweave_layers::registry::default_registry`).
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers (or replaces) the constructor of the user layer class `name`:
    /// a Keras class name (`"AttLayer"`) or registered name
    /// (`"textclf>AttLayer"`), under which a saved configuration names it.
    pub fn register<F>(&mut self, name: impl Into<String>, constructor: F) -> &mut Self
    where
        F: Fn(&Value, &LayerRegistry) -> Result<LayerRef> + Send + Sync + 'static,
    {
        let name = name.into();
        let identity = ClassIdentity::User {
            registered_name: name.clone(),
        };
        self.layers.insert(
            name,
            Entry {
                constructor: Arc::new(constructor),
                identity: Some(identity),
            },
        );
        self
    }

    /// Registers a built-in Keras layer class (written back as
    /// `"module": "keras.layers"`). For the list of built-in layers.
    pub fn register_builtin<F>(&mut self, class: &str, constructor: F) -> &mut Self
    where
        F: Fn(&Value, &LayerRegistry) -> Result<LayerRef> + Send + Sync + 'static,
    {
        self.layers.insert(
            class.to_string(),
            Entry {
                constructor: Arc::new(constructor),
                identity: Some(ClassIdentity::Builtin),
            },
        );
        self
    }

    /// Registers a Keras op class of `module` (entries whose `module` is
    /// `keras.src.ops…`). For the list of built-in ops.
    pub fn register_op<F>(&mut self, class: &str, module: &'static str, constructor: F) -> &mut Self
    where
        F: Fn(&Value, &LayerRegistry) -> Result<LayerRef> + Send + Sync + 'static,
    {
        self.ops.insert(
            class.to_string(),
            Entry {
                constructor: Arc::new(constructor),
                identity: Some(ClassIdentity::Op { module }),
            },
        );
        self
    }

    /// Installs the reader of nested models (`Functional`, `Sequential`):
    /// `tensorweave-io`'s graph reader.
    pub fn set_model_reader<F>(&mut self, reader: F) -> &mut Self
    where
        F: Fn(&Value, &LayerRegistry) -> Result<LayerRef> + Send + Sync + 'static,
    {
        self.model_reader = Some(Arc::new(reader));
        self
    }

    /// Sets what [`LayerRegistry::create`] does with a layer or op class it
    /// has no constructor for: `fallback` gets the whole entry (`class_name`,
    /// `registered_name`, `module`, `config`) instead of an
    /// [`Error::UnknownLayer`]. Inspection loaders use it to stand in for
    /// user layers with what the file records.
    pub fn set_unknown_class_fallback<F>(&mut self, fallback: F) -> &mut Self
    where
        F: Fn(&Value, &LayerRegistry) -> Result<LayerRef> + Send + Sync + 'static,
    {
        self.unknown = Some(Arc::new(fallback));
        self
    }

    /// Whether a layer constructor is registered under `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.layers.contains_key(name)
    }

    /// The registered layer names, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.layers.keys().map(String::as_str).collect()
    }

    /// The registered op names, sorted.
    pub fn op_names(&self) -> Vec<&str> {
        self.ops.keys().map(String::as_str).collect()
    }

    /// How to name a layer of class `class_name` in a configuration: as a
    /// built-in layer or op, or as a user layer with its registered name (a
    /// registered `package>ClassName` if there is one, else the class name
    /// itself); `None` when no constructor could read it back.
    pub fn identity(&self, class_name: &str, is_op: bool) -> Option<ClassIdentity> {
        if is_op {
            return self.ops.get(class_name).and_then(|e| e.identity.clone());
        }
        if let Some(Entry {
            identity: Some(ClassIdentity::Builtin),
            ..
        }) = self.layers.get(class_name)
        {
            return Some(ClassIdentity::Builtin);
        }
        let suffix = format!(">{class_name}");
        self.layers
            .iter()
            .find(|(k, _)| k.ends_with(&suffix))
            .or_else(|| self.layers.get_key_value(class_name))
            .and_then(|(_, e)| e.identity.clone())
    }

    /// The name to write as `registered_name` for a user layer of class
    /// `class_name`, if it is registered.
    pub fn registered_name_for(&self, class_name: &str) -> Option<String> {
        match self.identity(class_name, false) {
            Some(ClassIdentity::User { registered_name }) => Some(registered_name),
            _ => None,
        }
    }

    /// Creates a layer from a Keras layer object
    /// `{"module", "class_name", "config", "registered_name", …}`: ops by class
    /// name when `module` is an op module; models through the model reader;
    /// layers by `registered_name`, then by `class_name`.
    pub fn create(&self, entry: &Value) -> Result<LayerRef> {
        let class = entry
            .get("class_name")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                Error::Config(format!(
                    "a layer entry needs a string \"class_name\", got {}",
                    brief(entry)
                ))
            })?;
        let empty = Value::Object(Default::default());
        let config = match entry.get("config") {
            None | Some(Value::Null) => &empty,
            Some(c) => c,
        };
        let module = entry.get("module").and_then(Value::as_str);
        let registered = entry.get("registered_name").and_then(Value::as_str);
        let name = config
            .get("name")
            .and_then(Value::as_str)
            .or_else(|| entry.get("name").and_then(Value::as_str))
            .unwrap_or("?");
        if is_op_module(module) {
            if let (None, Some(fallback)) = (self.ops.get(class), &self.unknown) {
                return fallback(entry, self);
            }
            let ctor = self.ops.get(class).ok_or_else(|| {
                Error::Config(format!(
                    "op '{}': the Keras op '{}' (module {}) is not supported; tensorweave \
                     supports the ops {}",
                    truncate(name, 80),
                    truncate(class, 80),
                    truncate(module.unwrap_or("?"), 80),
                    self.op_names().join(", ")
                ))
            })?;
            return (ctor.constructor)(config, self);
        }
        if MODEL_CLASSES.contains(&class) && registered.is_none_or(|r| MODEL_CLASSES.contains(&r)) {
            let reader = self.model_reader.as_ref().ok_or_else(|| {
                Error::Config(format!(
                    "layer '{}' is a nested {class} model, and this registry has no model \
                     reader; load it through tensorweave-io",
                    truncate(name, 80)
                ))
            })?;
            let top = serde_json::json!({ "class_name": class, "config": config });
            return reader(&top, self);
        }
        let found = registered
            .and_then(|r| self.layers.get(r))
            .or_else(|| self.layers.get(class));
        if let (None, Some(fallback)) = (found, &self.unknown) {
            return fallback(entry, self);
        }
        if found.is_none() && class == "Lambda" {
            return Err(Error::layer(
                truncate(name, 80),
                "Lambda",
                "is a Keras Lambda layer: it holds Python code (a marshalled function), which \
                 cannot be loaded outside Python. In Keras, replace it with a layer class \
                 registered with @keras.saving.register_keras_serializable(package=...) whose \
                 get_config holds its options, save the model again, and register the same \
                 class here with register_layer(\"package>ClassName\", ...) (see \
                 docs/custom-layers.md)",
            ));
        }
        let entry = found.ok_or_else(|| Error::UnknownLayer {
            layer: truncate(name, 80),
            class: truncate(class, 80),
            registered_name: registered.filter(|r| *r != class).map(|r| truncate(r, 80)),
        })?;
        (entry.constructor)(config, self)
    }
}

/// A short rendering of a JSON value for error messages (at most 120
/// characters, cut with an ellipsis).
pub fn brief(value: &Value) -> String {
    truncate(&value.to_string(), 120)
}

/// `text` cut to at most `max` characters, with an ellipsis when cut, and
/// control characters shown as escapes ([`printable`]): user strings (names,
/// classes, file members) quoted in messages stay one short line.
pub fn truncate(text: &str, max: usize) -> String {
    let cut = text.chars().count() > max;
    let keep = if cut { max.saturating_sub(1) } else { max };
    let mut out = printable_chars(text.chars().take(keep));
    if cut {
        out.push('…');
    }
    out
}

/// `text` with every control character shown as Rust writes it escaped (`\n`,
/// `\t`, `\u{0}`, `\u{1b}`) and everything else unchanged: a name printed in a
/// table or a message cannot break the line or the terminal.
pub fn printable(text: &str) -> String {
    printable_chars(text.chars())
}

fn printable_chars(chars: impl Iterator<Item = char>) -> String {
    let mut out = String::new();
    for c in chars {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}
