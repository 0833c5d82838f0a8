//! `OnesLike` and `ZerosLike`: a tensor of ones or zeros with the input's
//! shape (Keras' `ops.ones_like`, `ops.zeros_like`).

use std::any::Any as StdAny;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};
use tensorweave_core::{
    CallContext, DType, Error, Layer, LayerRef, LayerRegistry, Result, TensorSpec, Value,
};

use super::{filled, named, op_dtype, op_into_layer, op_name, NUMPY};
use crate::registry::OpClass;

macro_rules! fill_like {
    ($(#[$doc:meta])* $ty:ident, $class:literal, $one:expr, $auto:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        pub struct $ty {
            /// The element type of the result.
            pub dtype: DType,
            #[serde(skip)]
            name: Option<String>,
        }

        impl $ty {
            /// The op, giving `dtype` elements.
            pub fn new(dtype: DType) -> Self {
                $ty { dtype, name: None }
            }

            #[doc = concat!("Names the op (default `", $auto, "`, `", $auto, "_1`, …).")]
            pub fn name(mut self, name: impl Into<String>) -> Self {
                self.name = Some(name.into());
                self
            }
        }

        op_into_layer!($ty);

            impl OpClass for $ty {
                const CLASS_NAME: &'static str = $class;
                const MODULE: &'static str = NUMPY;

                fn from_config(config: &Json, _: &LayerRegistry) -> Result<LayerRef> {
                    let name = op_name($class, config)?;
                    let op = $ty::new(op_dtype($class, config)?);
                    Ok(named(op, name))
                }
            }

        impl Layer for $ty {
            fn is_op(&self) -> bool {
                true
            }
            fn class_name(&self) -> &str {
                $class
            }

            fn config(&self) -> serde_json::Value {
                json!({ "dtype": self.dtype.keras_name() })
            }

            fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
                let [x] = inputs else {
                    return Err(Error::invalid(format!(
                        "expects 1 input tensor, got {}",
                        inputs.len()
                    )));
                };
                Ok(vec![TensorSpec::new(x.shape.clone(), self.dtype)])
            }

            fn call(
                &self,
                inputs: &[&Value],
                _masks: &[Option<&Value>],
                _ctx: &CallContext,
            ) -> Result<Vec<Value>> {
                let [x] = inputs else {
                    return Err(Error::invalid("expects 1 input array"));
                };
                Ok(vec![filled(x.shape(), self.dtype, $one)])
            }

            fn as_any(&self) -> &dyn StdAny {
                self
            }
        }
    };
}

fill_like!(
    /// A tensor of ones with the input's shape (Keras' `ops.ones_like`).
    OnesLike,
    "OnesLike",
    true,
    "ones_like"
);

fill_like!(
    /// A tensor of zeros with the input's shape (Keras' `ops.zeros_like`).
    ZerosLike,
    "ZerosLike",
    false,
    "zeros_like"
);
