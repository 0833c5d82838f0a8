//! Keras *ops*: operations Keras records as graph nodes of their own when
//! they are applied to symbolic tensors, mostly to compute masks
//! (`Embedding(mask_zero)` records `NotEqual`, `Masking` records `NotEqual`
//! then `Any`, merge layers record `LogicalOr`, `ExpandDims`, `OnesLike`,
//! `ZerosLike` and `Concatenate`). Each is a layer whose class name is the
//! Keras op class, named automatically like Keras ops (`not_equal`,
//! `logical_or_1`, …), without weights, left out of `model.layers`.

mod any;
mod binary;
mod concatenate;
mod einsum;
mod expand_dims;
mod fill_like;
pub mod functions;
mod get_item;
mod logical_or;
mod matmul;
mod not_equal;
pub mod operands;
mod reduce;
mod repeat;
mod reshape_op;
mod squeeze;
mod stack;
mod take;
mod transpose;
mod unary;
mod where_op;

use ndarray::{ArrayD, IxDyn};
use serde_json::Value as Json;
use tensorweave_core::{
    format_shape, registry::brief, DType, Error, Result, Shape, TensorSpec, Value,
};

pub use any::AnyOp;
pub use binary::{Binary, BinaryOp};
pub use concatenate::ConcatenateOp;
pub use einsum::EinsumOp;
pub use expand_dims::ExpandDims;
pub use fill_like::{OnesLike, ZerosLike};
pub use get_item::{GetItem, Index};
pub use logical_or::LogicalOr;
pub use matmul::MatmulOp;
pub use not_equal::NotEqual;
pub use operands::Operand;
pub use reduce::{Reduce, ReduceOp};
pub use repeat::RepeatOp;
pub use reshape_op::ReshapeOp;
pub use squeeze::SqueezeOp;
pub use stack::StackOp;
pub use take::{TakeAlongAxisOp, TakeOp};
pub use transpose::TransposeOp;
pub use unary::{Unary, UnaryOp};
pub use where_op::WhereOp;

/// Registers the op families whose classes share one type (the element-wise
/// ops, the reductions, …), each class under its Keras module.
pub(crate) fn register_families(registry: &mut tensorweave_core::LayerRegistry) {
    binary::register(registry);
    unary::register(registry);
    reduce::register(registry);
}

/// The backward of an op whose output carries no gradient (a bool mask, or a
/// constant fill): no gradient reaches its inputs.
macro_rules! no_gradient {
    () => {
        fn has_backward(&self) -> bool {
            true
        }

        fn backward(
            &self,
            call: &tensorweave_core::BackwardCall<'_>,
        ) -> tensorweave_core::Result<tensorweave_core::LayerGrads> {
            Ok(tensorweave_core::LayerGrads::inputs(vec![
                None;
                call.inputs.len()
            ]))
        }
    };
}

pub(crate) use no_gradient;

/// The Keras module of the ops tensorweave records.
pub const NUMPY: &str = "keras.src.ops.numpy";

/// What every op has: its `name` setter, its automatic name (the snake-case
/// op class, numbered), `IntoLayer` (an op has no weights: built at once).
macro_rules! op_into_layer {
    ($ty:ident) => {
        impl $ty {
            #[doc = concat!("Names the op (default: `", stringify!($ty), "` in snake case, numbered).")]
            pub fn name(mut self, name: impl Into<String>) -> Self {
                self.name = Some(name.into());
                self
            }
        }

        impl $crate::ops::Named for $ty {
            fn with_name(self, name: String) -> Self {
                self.name(name)
            }

            fn into_op(self) -> tensorweave_core::LayerRef {
                tensorweave_core::IntoLayer::into_layer(self)
            }
        }

        impl tensorweave_core::IntoLayer for $ty {
            fn into_layer(self) -> tensorweave_core::LayerRef {
                let name = self.name.clone().unwrap_or_else(|| {
                    tensorweave_core::auto_name(<$ty as $crate::registry::OpClass>::CLASS_NAME)
                });
                let layer = tensorweave_core::LayerRef::new(name, self);
                layer.mark_built();
                layer
            }
        }
    };
}

pub(crate) use op_into_layer;

/// What every op whose class is computed (`op.kind.class_name()`) or given
/// as text has: its `name` setter, `into_op` (built at once: an op has no
/// weights) with the automatic name from its class, `IntoLayer` and
/// [`Named`].
macro_rules! named_op {
    ($ty:ident, $class:expr) => {
        impl $ty {
            /// Names the op (default: its Keras class in snake case, numbered:
            /// `add_1`, `get_item`).
            pub fn name(mut self, name: impl Into<String>) -> Self {
                self.name = Some(name.into());
                self
            }

            /// The op as a layer (already built: it has no weights).
            pub fn into_op(self) -> tensorweave_core::LayerRef {
                let class: fn(&$ty) -> &'static str = $class;
                let name = self
                    .name
                    .clone()
                    .unwrap_or_else(|| tensorweave_core::auto_name(class(&self)));
                let layer = tensorweave_core::LayerRef::new(name, self);
                layer.mark_built();
                layer
            }
        }

        impl tensorweave_core::IntoLayer for $ty {
            fn into_layer(self) -> tensorweave_core::LayerRef {
                <$ty>::into_op(self)
            }
        }

        impl $crate::ops::Named for $ty {
            fn with_name(self, name: String) -> Self {
                self.name(name)
            }

            fn into_op(self) -> tensorweave_core::LayerRef {
                <$ty>::into_op(self)
            }
        }
    };
}

pub(crate) use named_op;

/// `is_op` and `class_name` of an op's `Layer` impl.
macro_rules! op_basics {
    () => {
        fn is_op(&self) -> bool {
            true
        }

        fn class_name(&self) -> &str {
            <Self as $crate::registry::OpClass>::CLASS_NAME
        }
    };
}

pub(crate) use op_basics;

/// Ops: named explicitly or automatically, and made into a layer.
pub trait Named {
    /// The op with this name.
    fn with_name(self, name: String) -> Self;
    /// The op as a layer (already built: it has no weights).
    fn into_op(self) -> tensorweave_core::LayerRef;
}

pub(crate) fn to_bool(v: &Value) -> ArrayD<bool> {
    match v {
        Value::Bool(a) => a.clone(),
        Value::F32(a) => a.mapv(|x| x != 0.0),
        Value::I32(a) => a.mapv(|x| x != 0),
        Value::Str(a) => a.mapv(|s| !s.is_empty()),
    }
}

/// Keras' `operation_utils.broadcast_shapes` on symbolic shapes.
pub(crate) fn broadcast_symbolic(a: &[Option<usize>], b: &[Option<usize>]) -> Result<Shape> {
    let rank = a.len().max(b.len());
    let pad = |s: &[Option<usize>]| {
        let mut v = vec![Some(1); rank - s.len()];
        v.extend_from_slice(s);
        v
    };
    let (pa, pb) = (pad(a), pad(b));
    pa.iter()
        .zip(&pb)
        .map(|(&x, &y)| match (x, y) {
            (Some(1), _) => Ok(y),
            (None, Some(1)) => Ok(None),
            (None, _) => Ok(y),
            (Some(_), Some(1)) | (Some(_), None) => Ok(x),
            (Some(p), Some(q)) if p == q => Ok(x),
            _ => Err(Error::invalid(format!(
                "shapes {} and {} do not broadcast together",
                format_shape(a),
                format_shape(b)
            ))),
        })
        .collect()
}

pub(crate) fn filled(shape: &[usize], dtype: DType, one: bool) -> Value {
    let dim = IxDyn(shape);
    match dtype {
        DType::F32 => Value::F32(ArrayD::from_elem(dim, if one { 1.0 } else { 0.0 })),
        DType::I32 => Value::I32(ArrayD::from_elem(dim, i32::from(one))),
        DType::Bool => Value::Bool(ArrayD::from_elem(dim, one)),
        DType::String => Value::Str(ArrayD::from_elem(dim, String::new())),
    }
}

/// Fails for a string tensor: `op` computes on numbers.
pub(crate) fn numeric(inputs: &[TensorSpec]) -> Result<()> {
    match inputs.iter().find(|s| s.dtype == DType::String) {
        Some(s) => Err(Error::invalid(format!(
            "does not take string tensors (got a string tensor of shape {}); turn text into \
             numbers first (TextVectorization, StringLookup or Hashing)",
            format_shape(&s.shape)
        ))),
        None => Ok(()),
    }
}

/// The op's name from its config, if any.
pub(crate) fn op_name(class: &str, config: &Json) -> Result<Option<String>> {
    if !config.is_object() {
        return Err(Error::Config(format!(
            "the config of a {class} op must be an object, got {}",
            brief(config)
        )));
    }
    Ok(config.get("name").and_then(Json::as_str).map(String::from))
}

/// An integer option of an op config (`default` when absent).
pub(crate) fn op_int(class: &str, config: &Json, key: &str, default: Option<i64>) -> Result<i64> {
    let value = config.get(key).filter(|v| !v.is_null());
    match (value.and_then(Json::as_i64), value, default) {
        (Some(i), _, _) => Ok(i),
        (None, None, Some(d)) => Ok(d),
        _ => Err(Error::layer(
            config.get("name").and_then(Json::as_str).unwrap_or("?"),
            class,
            format!(
                "option `{key}` = {} is not supported: tensorweave's {class} takes one integer axis",
                value.map_or_else(|| "(missing)".to_string(), brief)
            ),
        )),
    }
}

/// The result dtype of `OnesLike` / `ZerosLike`.
pub(crate) fn op_dtype(class: &str, config: &Json) -> Result<DType> {
    let text = config.get("dtype").and_then(Json::as_str).unwrap_or("");
    DType::from_keras_name(text).ok_or_else(|| {
        Error::layer(
            config.get("name").and_then(Json::as_str).unwrap_or("?"),
            class,
            format!(
                "option `dtype` = {} is not supported: expected float32, int32 or bool",
                brief(config.get("dtype").unwrap_or(&Json::Null))
            ),
        )
    })
}
