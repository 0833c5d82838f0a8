//! What makes a layer type a Keras layer class: [`LayerClass`] (its class
//! name, its builder, how it reads its Keras configuration) and the builder
//! side, [`LayerBuilder`] with the options every builder has ([`Common`]).
//!
//! A layer file implements `LayerClass` for its layer and derives its builder
//! with `#[derive(LayerConfig)]`; the list in `lib.rs` registers it.

use ndarray::ArrayD;
use serde_json::{Map, Value};
use tensorweave_core::{auto_name, Layer, LayerRef, LayerRegistry, Result};

use crate::config::prepare_config;

/// The options every layer builder has and no configuration stores: the
/// explicit name, the seed of the initializers and initial weights.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Common {
    /// The explicit name, if one was set.
    pub name: Option<String>,
    /// The seed of the weight initializers.
    pub seed: Option<u64>,
    /// Initial weights (Keras' `weights=`), set when the layer is built.
    pub preset: Option<Vec<ArrayD<f32>>>,
}

/// A layer builder: a configuration (serde, Keras' keys) with [`Common`]
/// options. `#[derive(LayerConfig)]` implements it.
pub trait LayerBuilder: Clone {
    /// The common options.
    fn common(&self) -> &Common;
    /// The common options, mutably.
    fn common_mut(&mut self) -> &mut Common;

    /// Reads the builder from a prepared Keras configuration (serde, for the
    /// derived builders). A builder that cannot be read this way (a wrapper
    /// holding layers) says so; its class reads its configuration itself.
    fn from_keras_config(class: &str, name: Option<&str>, config: Value) -> Result<Self> {
        let _ = config;
        Err(tensorweave_core::Error::layer(
            name.unwrap_or("?"),
            class,
            "this builder is not read from a configuration directly",
        ))
    }
}

/// A layer type as a Keras class.
pub trait LayerClass: Layer + Sized {
    /// The Keras class name (`Dense`): written in configurations, and the
    /// base of automatic names (`dense`, `dense_1`, …).
    const CLASS_NAME: &'static str;

    /// The builder (configuration) of this layer.
    type Builder: LayerBuilder;

    /// The layer, not built yet, for a configuration.
    fn from_builder(builder: Self::Builder) -> Self;

    /// Rewrites a Keras configuration before the builder reads it (Keras 2
    /// spellings such as `cropping: 2` for `(2, 2)`). Default: nothing.
    fn upgrade_config(_config: &mut Map<String, Value>) {}

    /// The layer from its Keras configuration (`config` object with `name`).
    /// Default: [`prepare_config`], [`LayerClass::upgrade_config`], then the
    /// builder read with serde.
    fn from_config(config: &Value, _registry: &LayerRegistry) -> Result<LayerRef> {
        let (name, mut config) = prepare_config(Self::CLASS_NAME, config)?;
        if let Value::Object(map) = &mut config {
            Self::upgrade_config(map);
        }
        let mut builder =
            Self::Builder::from_keras_config(Self::CLASS_NAME, name.as_deref(), config)?;
        builder.common_mut().name = name;
        Ok(into_layer::<Self>(builder))
    }
}

/// The layer for a builder: named by the builder or automatically, with the
/// builder's initial weights waiting for the build.
pub fn into_layer<L: LayerClass>(mut builder: L::Builder) -> LayerRef {
    let common = builder.common_mut();
    let name = common
        .name
        .clone()
        .unwrap_or_else(|| auto_name(L::CLASS_NAME));
    let preset = common.preset.take();
    let layer = LayerRef::new(name, L::from_builder(builder));
    layer.set_preset(preset);
    layer
}

/// The `class_name` and `config` methods of a [`Layer`] impl whose type is a
/// [`LayerClass`] keeping its builder in a `config` field: the class name,
/// and the builder serialized with Keras' keys.
///
/// [`Layer`]: tensorweave_core::Layer
#[macro_export]
macro_rules! class_and_config {
    () => {
        fn class_name(&self) -> &str {
            <Self as $crate::LayerClass>::CLASS_NAME
        }

        fn config(&self) -> $crate::__private::Json {
            $crate::__private::to_json(&self.config)
        }
    };
}

/// `params` and `params_mut` of a [`Layer`] impl over `Option<Param>` fields,
/// in the order given (Keras' order: trainable first).
///
/// [`Layer`]: tensorweave_core::Layer
#[macro_export]
macro_rules! optional_params {
    ($($field:ident),+ $(,)?) => {
        fn params(&self) -> ::std::vec::Vec<&$crate::__private::Param> {
            [$(&self.$field),+].into_iter().flatten().collect()
        }

        fn params_mut(&mut self) -> ::std::vec::Vec<&mut $crate::__private::Param> {
            [$(&mut self.$field),+].into_iter().flatten().collect()
        }
    };
}
