//! Concrete arrays flowing through a compiled model.

use ndarray::{ArrayBase, ArrayD, Dimension, OwnedRepr};

use crate::dtype::DType;
use crate::error::{Error, Result};

/// A concrete n-dimensional array: float activations, integer token ids or a
/// boolean mask.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// float32 data.
    F32(ArrayD<f32>),
    /// int32 data (token ids).
    I32(ArrayD<i32>),
    /// Boolean data (masks: `true` marks a valid step).
    Bool(ArrayD<bool>),
}

impl Value {
    /// The element type.
    pub fn dtype(&self) -> DType {
        match self {
            Value::F32(_) => DType::F32,
            Value::I32(_) => DType::I32,
            Value::Bool(_) => DType::Bool,
        }
    }

    /// The concrete shape.
    pub fn shape(&self) -> &[usize] {
        match self {
            Value::F32(a) => a.shape(),
            Value::I32(a) => a.shape(),
            Value::Bool(a) => a.shape(),
        }
    }

    /// Borrows float data, or explains which dtype was found instead.
    pub fn as_f32(&self) -> Result<&ArrayD<f32>> {
        match self {
            Value::F32(a) => Ok(a),
            other => Err(Error::Input(format!(
                "expected float32 data, found {}",
                other.dtype()
            ))),
        }
    }

    /// Borrows integer data, or explains which dtype was found instead.
    pub fn as_i32(&self) -> Result<&ArrayD<i32>> {
        match self {
            Value::I32(a) => Ok(a),
            other => Err(Error::Input(format!(
                "expected int32 data, found {}",
                other.dtype()
            ))),
        }
    }

    /// Borrows boolean data, or explains which dtype was found instead.
    pub fn as_bool(&self) -> Result<&ArrayD<bool>> {
        match self {
            Value::Bool(a) => Ok(a),
            other => Err(Error::Input(format!(
                "expected bool data, found {}",
                other.dtype()
            ))),
        }
    }

    /// Takes the float data out, or explains which dtype was found instead.
    pub fn into_f32(self) -> Result<ArrayD<f32>> {
        match self {
            Value::F32(a) => Ok(a),
            other => Err(Error::Input(format!(
                "expected float32 data, found {}",
                other.dtype()
            ))),
        }
    }

    /// A float copy of the data (integers and booleans converted, as Keras' `cast`).
    pub fn to_f32(&self) -> ArrayD<f32> {
        match self {
            Value::F32(a) => a.clone(),
            Value::I32(a) => a.mapv(|v| v as f32),
            Value::Bool(a) => a.mapv(|v| if v { 1.0 } else { 0.0 }),
        }
    }
}

impl<D: Dimension> From<ArrayBase<OwnedRepr<f32>, D>> for Value {
    fn from(a: ArrayBase<OwnedRepr<f32>, D>) -> Self {
        Value::F32(a.into_dyn())
    }
}

impl<D: Dimension> From<ArrayBase<OwnedRepr<i32>, D>> for Value {
    fn from(a: ArrayBase<OwnedRepr<i32>, D>) -> Self {
        Value::I32(a.into_dyn())
    }
}

impl<D: Dimension> From<ArrayBase<OwnedRepr<bool>, D>> for Value {
    fn from(a: ArrayBase<OwnedRepr<bool>, D>) -> Self {
        Value::Bool(a.into_dyn())
    }
}
