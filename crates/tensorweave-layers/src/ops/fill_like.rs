//! `OnesLike` and `ZerosLike`: a tensor of ones or zeros with the input's
//! shape (Keras' `ops.ones_like`, `ops.zeros_like`).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};
use tensorweave_core::{CallContext, DType, Error, Layer, Result, TensorSpec, Value};

use super::{filled, op_dtype, op_into_layer};
use crate::registry::OpClass;
use tensorweave_core::Inputs;

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

                    }

        op_into_layer!($ty);

            impl OpClass for $ty {
                const CLASS_NAME: &'static str = $class;

                fn read(config: &Json) -> Result<Self> {
                    Ok($ty::new(op_dtype($class, config)?))
                }
            }

        impl Layer for $ty {
            crate::ops::no_gradient!();

            $crate::ops::op_basics!();

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

            fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
                let [x] = inputs.values() else {
                    return Err(Error::invalid("expects 1 input array"));
                };
                Ok(vec![filled(x.shape(), self.dtype, $one)])
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
