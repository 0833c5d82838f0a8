//! Concrete arrays flowing through a compiled model.

use ndarray::{Array, ArrayBase, ArrayD, ArrayView, Axis, Data, Dimension, Slice};

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
    /// Text, one string per element (Keras' `string` tensors).
    Str(ArrayD<String>),
}

impl Value {
    /// The length of the first (batch) axis; `None` for a scalar.
    pub fn rows(&self) -> Option<usize> {
        self.shape().first().copied()
    }

    /// Rows `start..end` of the first axis, copied (what one batch of
    /// [`Model::predict_in_batches`](crate::Model::predict_in_batches) runs on).
    ///
    /// Fails on a scalar or when the range is outside `0..rows`.
    pub fn slice_rows(&self, start: usize, end: usize) -> Result<Value> {
        let n = self.rows().ok_or_else(|| {
            Error::Input("a scalar has no rows to slice; give the array a batch axis".into())
        })?;
        if start > end || end > n {
            return Err(Error::Input(format!(
                "rows {start}..{end} are outside an array with {n} rows"
            )));
        }
        let s = Slice::from(start..end);
        Ok(match self {
            Value::F32(a) => Value::F32(a.slice_axis(Axis(0), s).to_owned()),
            Value::I32(a) => Value::I32(a.slice_axis(Axis(0), s).to_owned()),
            Value::Bool(a) => Value::Bool(a.slice_axis(Axis(0), s).to_owned()),
            Value::Str(a) => Value::Str(a.slice_axis(Axis(0), s).to_owned()),
        })
    }

    /// The rows at `rows` of the first axis, in that order (a row may repeat),
    /// copied: the batches of [`Model::predict_corpus`](crate::Model::predict_corpus).
    ///
    /// ```
    /// use tensorweave_core::Value;
    /// let v = Value::from(ndarray::array![[1i32, 2], [3, 4], [5, 6]].into_dyn());
    /// let picked = v.select_rows(&[2, 0]).unwrap();
    /// assert_eq!(picked, Value::from(ndarray::array![[5i32, 6], [1, 2]].into_dyn()));
    /// ```
    ///
    /// Fails on a scalar or when an index is not below the number of rows.
    pub fn select_rows(&self, rows: &[usize]) -> Result<Value> {
        let n = self.rows().ok_or_else(|| {
            Error::Input("a scalar has no rows to pick; give the array a batch axis".into())
        })?;
        if let Some(bad) = rows.iter().find(|&&r| r >= n) {
            return Err(Error::Input(format!(
                "row {bad} is outside an array with {n} rows"
            )));
        }
        Ok(match self {
            Value::F32(a) => Value::F32(a.select(Axis(0), rows)),
            Value::I32(a) => Value::I32(a.select(Axis(0), rows)),
            Value::Bool(a) => Value::Bool(a.select(Axis(0), rows)),
            Value::Str(a) => Value::Str(a.select(Axis(0), rows)),
        })
    }

    /// Joins values of one dtype along the first axis (the inverse of
    /// [`Value::slice_rows`]).
    ///
    /// Fails when `parts` is empty, when the dtypes differ or when the shapes
    /// after the first axis differ.
    pub fn concat_rows(parts: &[Value]) -> Result<Value> {
        fn join<T: Clone>(arrays: &[&ArrayD<T>]) -> Result<ArrayD<T>> {
            let views: Vec<_> = arrays.iter().map(|a| a.view()).collect();
            ndarray::concatenate(Axis(0), &views).map_err(|e| {
                let shapes: Vec<String> = arrays
                    .iter()
                    .map(|a| crate::shape::format_dims(a.shape()))
                    .collect();
                Error::Input(format!(
                    "cannot join arrays of shapes {} along the first axis: {e}",
                    shapes.join(", ")
                ))
            })
        }
        fn all<'a, T>(
            parts: &'a [Value],
            pick: impl Fn(&'a Value) -> Option<&'a ArrayD<T>>,
        ) -> Result<Vec<&'a ArrayD<T>>> {
            parts
                .iter()
                .map(|v| {
                    pick(v).ok_or_else(|| {
                        Error::Input(format!(
                            "cannot join {} data with {} data",
                            parts[0].dtype(),
                            v.dtype()
                        ))
                    })
                })
                .collect()
        }
        let first = parts
            .first()
            .ok_or_else(|| Error::Input("no arrays to join".into()))?;
        if first.rows().is_none() {
            return Err(Error::Input("scalars have no rows to join".into()));
        }
        Ok(match first {
            Value::F32(_) => Value::F32(join(&all(parts, |v| match v {
                Value::F32(a) => Some(a),
                _ => None,
            })?)?),
            Value::I32(_) => Value::I32(join(&all(parts, |v| match v {
                Value::I32(a) => Some(a),
                _ => None,
            })?)?),
            Value::Bool(_) => Value::Bool(join(&all(parts, |v| match v {
                Value::Bool(a) => Some(a),
                _ => None,
            })?)?),
            Value::Str(_) => Value::Str(join(&all(parts, |v| match v {
                Value::Str(a) => Some(a),
                _ => None,
            })?)?),
        })
    }
}

impl Value {
    /// The element type.
    pub fn dtype(&self) -> DType {
        match self {
            Value::F32(_) => DType::F32,
            Value::I32(_) => DType::I32,
            Value::Bool(_) => DType::Bool,
            Value::Str(_) => DType::String,
        }
    }

    /// The concrete shape.
    pub fn shape(&self) -> &[usize] {
        match self {
            Value::F32(a) => a.shape(),
            Value::I32(a) => a.shape(),
            Value::Bool(a) => a.shape(),
            Value::Str(a) => a.shape(),
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

    /// Borrows text data, or explains which dtype was found instead.
    pub fn as_str(&self) -> Result<&ArrayD<String>> {
        match self {
            Value::Str(a) => Ok(a),
            other => Err(Error::Input(format!(
                "expected string data, found {}",
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

    /// A float copy of the data (integers and booleans converted, as Keras' `cast`;
    /// text has no number and becomes NaN).
    pub fn to_f32(&self) -> ArrayD<f32> {
        match self {
            Value::F32(a) => a.clone(),
            Value::I32(a) => a.mapv(|v| v as f32),
            Value::Bool(a) => a.mapv(|v| if v { 1.0 } else { 0.0 }),
            Value::Str(a) => a.mapv(|_| f32::NAN),
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
value_from!(String, Str);

impl Value {
    /// A batch of texts, one row each (shape `[n]`): what a model whose input
    /// is `Input::texts()` takes.
    pub fn texts<S: AsRef<str>>(texts: &[S]) -> Value {
        Value::Str(ArrayD::from_shape_fn(vec![texts.len()], |ix| {
            texts[ix[0]].as_ref().to_string()
        }))
    }
}

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
