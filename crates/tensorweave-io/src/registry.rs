//! [`LayerRegistry`]: from Keras class names to layer constructors.
//!
//! A Keras configuration names each layer by its class (`"class_name": "LSTM"`)
//! and, for user layers, by the name it was registered under
//! (`"registered_name": "textclf>AttLayer"`). The registry maps those names to
//! constructors that turn the layer's `config` object into a [`LayerRef`].
//!
//! [`LayerRegistry::with_builtins`] knows every built-in layer and op of
//! tensorweave. User layers are added with [`LayerRegistry::register`], or
//! process-wide with [`register_layer`] so that loaders using
//! [`default_registry`] find them:
//!
//! ```
//! use tensorweave_io::registry::{layer_name, register_layer, default_registry};
//! use tensorweave_layers::prelude::*;
//!
//! // A user layer "mylib>Scale" that Keras wrote as {"factor": 2.0, "name": ...};
//! // here it is built from tensorweave's own layers for brevity.
//! register_layer("mylib>Scale", |config, _registry| {
//!     let name = layer_name(config).unwrap_or("scale");
//!     Ok(Dense::new(1).name(name).into_layer())
//! });
//! assert!(default_registry().contains("mylib>Scale"));
//! ```
//!
//! What the built-in constructors accept (Keras 3 configs, Keras 2 configs):
//! - `dtype` as a string or a `DTypePolicy` object; only `float32` computes
//!   (other policies are an error naming the layer and the policy);
//! - `shared_object_id`, `build_config`, `batch_input_shape`, `input_length`,
//!   `implementation`, `unroll` (no effect on results) and unknown extra keys are
//!   ignored;
//! - regularizers and constraints are ignored whatever their value: they only act
//!   in training, and tensorweave runs inference;
//! - options that change results and are not supported are errors naming the
//!   layer, the option and its value: `stateful=True`, `time_major=True`,
//!   `renorm=True`, a non-null `quantization_config`, a LoRA rank;
//!   `data_format="channels_first"` is rejected by the layers that do not
//!   support it when they are built.

mod builtins;
mod options;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, LazyLock, RwLock};

use serde_json::Value;
use tensorweave_core::{Error, LayerRef, Result};

pub(crate) use builtins::BUILTIN_LAYERS;
pub use options::{check_dtype_policy, prepare_config};

/// A constructor: the layer's Keras `config` object (with its `name`) and the
/// registry (to build nested layers) give the layer.
pub type LayerConstructor = Arc<dyn Fn(&Value, &LayerRegistry) -> Result<LayerRef> + Send + Sync>;

/// Maps Keras class names (`Dense`) and registered names (`textclf>AttLayer`) to
/// layer constructors; Keras ops (`module` `keras.src.ops.*`) have their own table,
/// since the op `Concatenate` and the layer `Concatenate` share a class name.
#[derive(Clone, Default)]
pub struct LayerRegistry {
    layers: BTreeMap<String, LayerConstructor>,
    ops: BTreeMap<String, LayerConstructor>,
}

impl fmt::Debug for LayerRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LayerRegistry")
            .field("layers", &self.layers.keys().collect::<Vec<_>>())
            .field("ops", &self.ops.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Whether a Keras `module` is one of Keras' op modules (`keras.src.ops.numpy`, …).
pub fn is_op_module(module: Option<&str>) -> bool {
    module.is_some_and(|m| m.starts_with("keras.src.ops") || m.starts_with("keras.ops"))
}

impl LayerRegistry {
    /// An empty registry (not even the built-in layers).
    pub fn new() -> Self {
        Self::default()
    }

    /// A registry with every built-in layer and op of tensorweave.
    pub fn with_builtins() -> Self {
        let mut registry = Self::new();
        builtins::register(&mut registry);
        registry
    }

    /// Registers (or replaces) the constructor of the layer class `name`: a Keras
    /// class name (`"AttLayer"`) or registered name (`"textclf>AttLayer"`).
    pub fn register<F>(&mut self, name: impl Into<String>, constructor: F) -> &mut Self
    where
        F: Fn(&Value, &LayerRegistry) -> Result<LayerRef> + Send + Sync + 'static,
    {
        self.layers.insert(name.into(), Arc::new(constructor));
        self
    }

    /// Registers the constructor of a Keras op class (entries whose `module` is
    /// `keras.src.ops…`).
    pub(crate) fn register_op<F>(&mut self, name: &str, constructor: F)
    where
        F: Fn(&Value, &LayerRegistry) -> Result<LayerRef> + Send + Sync + 'static,
    {
        self.ops.insert(name.to_string(), Arc::new(constructor));
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

    /// The name to write as `registered_name` for a user layer of class
    /// `class_name`: a registered `package>ClassName` if there is one, else the
    /// class name itself if registered under it.
    pub fn registered_name_for(&self, class_name: &str) -> Option<&str> {
        let suffix = format!(">{class_name}");
        self.layers
            .keys()
            .find(|k| k.ends_with(&suffix))
            .or_else(|| self.layers.get_key_value(class_name).map(|(k, _)| k))
            .map(String::as_str)
    }

    /// Creates a layer from a Keras layer object
    /// `{"module", "class_name", "config", "registered_name", …}`: ops by class
    /// name when `module` is an op module; layers by `registered_name`, then by
    /// `class_name`.
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
        let name = layer_name(config)
            .or_else(|| entry.get("name").and_then(Value::as_str))
            .unwrap_or("?");
        if is_op_module(module) {
            let ctor = self.ops.get(class).ok_or_else(|| {
                Error::Config(format!(
                    "op '{name}': the Keras op '{class}' (module {}) is not supported; \
                     tensorweave supports the ops {}",
                    module.unwrap_or("?"),
                    self.op_names().join(", ")
                ))
            })?;
            return ctor(config, self);
        }
        let ctor = registered
            .and_then(|r| self.layers.get(r))
            .or_else(|| self.layers.get(class))
            .ok_or_else(|| {
                let key = registered.unwrap_or(class);
                Error::Config(format!(
                    "layer '{name}': unknown layer class '{class}'{}; register a constructor for \
                     it before loading, e.g. `tensorweave_io::registry::register_layer(\"{key}\", \
                     |config, registry| ...)` (process-wide) or `LayerRegistry::register` on the \
                     registry you pass to the loader",
                    registered
                        .filter(|r| *r != class)
                        .map(|r| format!(" (registered name '{r}')"))
                        .unwrap_or_default()
                ))
            })?;
        ctor(config, self)
    }
}

/// The `name` of a layer config, if it has one.
pub fn layer_name(config: &Value) -> Option<&str> {
    config.get("name").and_then(Value::as_str)
}

/// A short rendering of a JSON value for error messages.
pub(crate) fn brief(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 120 {
        let cut: String = text.chars().take(117).collect();
        format!("{cut}...")
    } else {
        text
    }
}

static DEFAULT: LazyLock<RwLock<LayerRegistry>> =
    LazyLock::new(|| RwLock::new(LayerRegistry::with_builtins()));

/// Registers a layer constructor in the process-wide default registry, used by
/// the loaders that take no explicit registry (`ModelIo::from_json`, …). The
/// name is the Keras class name or registered name (`"textclf>AttLayer"`);
/// registering a name again replaces its constructor.
pub fn register_layer<F>(name: impl Into<String>, constructor: F)
where
    F: Fn(&Value, &LayerRegistry) -> Result<LayerRef> + Send + Sync + 'static,
{
    let mut registry = DEFAULT.write().unwrap_or_else(|p| p.into_inner());
    registry.register(name, constructor);
}

/// A snapshot of the process-wide default registry: the built-in layers plus
/// everything registered with [`register_layer`].
pub fn default_registry() -> LayerRegistry {
    DEFAULT.read().unwrap_or_else(|p| p.into_inner()).clone()
}

#[cfg(test)]
mod tests;
