//! Concrete arrays flowing through a compiled model.

use ndarray::{Array, ArrayBase, ArrayD, ArrayView, Data, Dimension};

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

/// `From` for owned arrays and views of one element type.
macro_rules! value_from {
    ($elem:ty, $variant:ident) => {
        impl<D: Dimension> From<Array<$elem, D>> for Value {
            fn from(a: Array<$elem, D>) -> Self {
                Value::$variant(a.into_dyn())
            }
        }

        impl<D: Dimension> From<ArrayView<'_, $elem, D>> for Value {
            fn from(a: ArrayView<'_, $elem, D>) -> Self {
                Value::$variant(a.to_owned().into_dyn())
            }
        }
    };
}

value_from!(f32, F32);
value_from!(i32, I32);
value_from!(bool, Bool);

impl Value {
    /// Token ids given as int64 (NumPy's default integer type), narrowed to
    /// int32; an id outside int32's range is an error naming it and its
    /// position.
    pub fn from_i64<S: Data<Elem = i64>, D: Dimension>(a: &ArrayBase<S, D>) -> Result<Value> {
        if let Some((position, &bad)) = a
            .iter()
            .enumerate()
            .find(|(_, v)| i32::try_from(**v).is_err())
        {
            return Err(Error::Input(format!(
                "the int64 array holds {bad} at flat position {position}, outside int32's range \
                 (token ids must fit in int32)"
            )));
        }
        Ok(Value::I32(a.mapv(|v| v as i32).into_dyn()))
    }
}

impl<D: Dimension> TryFrom<Array<i64, D>> for Value {
    type Error = Error;

    fn try_from(a: Array<i64, D>) -> Result<Self> {
        Value::from_i64(&a)
    }
}

impl<D: Dimension> TryFrom<ArrayView<'_, i64, D>> for Value {
    type Error = Error;

    fn try_from(a: ArrayView<'_, i64, D>) -> Result<Self> {
        Value::from_i64(&a)
    }
}

/// Float arrays handed to tensorweave (weights given to a builder): owned or
/// borrowed, views included, of any dimension.
pub trait IntoArray {
    /// The array as an owned `ArrayD<f32>` (no copy for an owned array).
    fn into_array(self) -> ArrayD<f32>;
}

impl<S: Data<Elem = f32>, D: Dimension> IntoArray for ArrayBase<S, D> {
    fn into_array(self) -> ArrayD<f32> {
        self.into_owned().into_dyn()
    }
}

impl<S: Data<Elem = f32>, D: Dimension> IntoArray for &ArrayBase<S, D> {
    fn into_array(self) -> ArrayD<f32> {
        self.to_owned().into_dyn()
    }
}
