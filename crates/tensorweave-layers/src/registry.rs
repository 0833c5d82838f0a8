//! The process-wide layer registry: every built-in layer and op (from the one
//! list in `lib.rs`), plus the user layers registered with [`register_layer`].
//!
//! ```
//! use tensorweave_layers::prelude::*;
//! use tensorweave_layers::registry::{default_registry, register_layer};
//!
//! // A user layer "mylib>Scale" that Keras wrote as {"factor": 2.0, "name": ...};
//! // here it is built from tensorweave's own layers for brevity.
//! register_layer("mylib>Scale", |config, _registry| {
//!     let name = config.get("name").and_then(|n| n.as_str()).unwrap_or("scale");
//!     Ok(Dense::new(1).name(name).into_layer())
//! });
//! assert!(default_registry().contains("mylib>Scale"));
//! ```

use std::sync::{LazyLock, RwLock};

use serde_json::Value;
use tensorweave_core::{LayerRef, LayerRegistry, Result};

use crate::class::LayerClass;

/// A Keras op class: an operation Keras records as a graph node of its own
/// (`NotEqual`, `Any`, …), from an op module.
pub trait OpClass: tensorweave_core::Layer + crate::ops::Named + Sized {
    /// The Keras class name (`NotEqual`).
    const CLASS_NAME: &'static str;
    /// The Keras module it is written with (default `keras.src.ops.numpy`).
    const MODULE: &'static str = crate::ops::NUMPY;

    /// The op's own options from its Keras configuration (its `name` is read
    /// by [`OpClass::from_config`]).
    fn read(config: &Value) -> Result<Self>;

    /// The op from its Keras configuration.
    fn from_config(config: &Value, _registry: &LayerRegistry) -> Result<LayerRef> {
        let name = crate::ops::op_name(Self::CLASS_NAME, config)?;
        let op = Self::read(config)?;
        Ok(match name {
            Some(n) => op.with_name(n),
            None => op,
        }
        .into_op())
    }
}

/// Expands the list of built-in classes into the function that registers them.
macro_rules! builtin_classes {
    (layers: [$($layer:ty),* $(,)?], ops: [$($op:ty),* $(,)?] $(,)?) => {
        /// Registers every built-in layer and op of tensorweave in `registry`.
        pub fn register_builtins(registry: &mut tensorweave_core::LayerRegistry) {
            $(
                registry.register_builtin(
                    <$layer as $crate::class::LayerClass>::CLASS_NAME,
                    <$layer as $crate::class::LayerClass>::from_config,
                );
            )*
            $(
                registry.register_op(
                    <$op as $crate::registry::OpClass>::CLASS_NAME,
                    <$op as $crate::registry::OpClass>::MODULE,
                    <$op as $crate::registry::OpClass>::from_config,
                );
            )*
            $crate::ops::register_families(registry);
        }
    };
}

pub(crate) use builtin_classes;

/// A registry with every built-in layer and op (and no user layer).
pub fn builtin_registry() -> LayerRegistry {
    let mut registry = LayerRegistry::new();
    crate::register_builtins(&mut registry);
    registry
}

static DEFAULT: LazyLock<RwLock<LayerRegistry>> = LazyLock::new(|| RwLock::new(builtin_registry()));

/// Registers a user layer's constructor in the process-wide default registry,
/// used by the loaders that take no explicit registry and by `Bidirectional`
/// to rebuild a wrapped recurrent layer. The name is the Keras class name or
/// registered name (`"textclf>AttLayer"`); registering a name again replaces
/// its constructor.
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

/// The layer of class `L` from its configuration, read through the
/// registry's constructor for `L` (for code that knows the class).
pub fn from_config<L: LayerClass>(config: &Value) -> Result<LayerRef> {
    L::from_config(config, &default_registry())
}
