//! `Input`: where a model's data enters, as a symbolic [`Tensor`].

use serde_json::json;

use crate::dtype::{DType, Shape, TensorSpec};
use crate::error::{Error, Result};
use crate::layer::Inputs;
use crate::layer::{CallContext, Layer, LayerRef};
use crate::naming::unique_name;
use crate::tensor::{record_source, Tensor};
use crate::value::Value;

/// The shape of one example, without the batch axis. Converts from `[usize; N]`,
/// `Vec<usize>`, and from `[Option<usize>; N]` / `Vec<Option<usize>>` where
/// `None` marks an axis known only at run time (e.g. a variable time axis).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputShape(pub Vec<Option<usize>>);

impl<const N: usize> From<[usize; N]> for InputShape {
    fn from(s: [usize; N]) -> Self {
        InputShape(s.iter().map(|&d| Some(d)).collect())
    }
}
impl<const N: usize> From<[Option<usize>; N]> for InputShape {
    fn from(s: [Option<usize>; N]) -> Self {
        InputShape(s.to_vec())
    }
}
impl From<Vec<usize>> for InputShape {
    fn from(s: Vec<usize>) -> Self {
        InputShape(s.into_iter().map(Some).collect())
    }
}
impl From<Vec<Option<usize>>> for InputShape {
    fn from(s: Vec<Option<usize>>) -> Self {
        InputShape(s)
    }
}
impl From<&[usize]> for InputShape {
    fn from(s: &[usize]) -> Self {
        InputShape(s.iter().map(|&d| Some(d)).collect())
    }
}

/// Builder for a model input (Keras' `keras.Input`).
///
/// ```
/// use tensorweave_core::{DType, Input};
/// let tokens = Input::new([100]).dtype(DType::I32).name("tokens").build();
/// assert_eq!(tokens.shape(), &vec![None, Some(100)]);
/// let frames = Input::new([None, Some(4)]).build(); // any number of steps
/// assert_eq!(frames.shape(), &vec![None, None, Some(4)]);
/// ```
#[derive(Debug, Clone)]
pub struct Input {
    shape: InputShape,
    batch_size: Option<usize>,
    dtype: DType,
    name: Option<String>,
}

impl Input {
    /// An input whose examples have `shape` (batch axis excluded), float32.
    pub fn new(shape: impl Into<InputShape>) -> Self {
        Input {
            shape: shape.into(),
            batch_size: None,
            dtype: DType::F32,
            name: None,
        }
    }

    /// An input of one text per row (shape `[batch]`, `DType::String`):
    /// Keras' `Input(shape=(), dtype="string")`, what `TextVectorization` takes.
    pub fn texts() -> Self {
        Input::new(Vec::<usize>::new()).dtype(DType::String)
    }

    /// The element type (default float32; token ids are `DType::I32`).
    pub fn dtype(mut self, dtype: DType) -> Self {
        self.dtype = dtype;
        self
    }

    /// The name of the input layer and its tensor (default `input_layer`, `input_layer_1`, …).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Fixes the batch size (default: any).
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = Some(batch_size);
        self
    }

    /// Creates the input layer and returns its symbolic tensor.
    pub fn build(self) -> Tensor {
        let mut shape: Shape = vec![self.batch_size].into();
        shape.extend(self.shape.0.iter().copied());
        let name = self.name.unwrap_or_else(|| unique_name("input_layer"));
        input_tensor(name, TensorSpec::new(shape, self.dtype))
    }
}

/// Creates an input layer named `name` with the full (batch-first) spec `spec`.
pub fn input_tensor(name: impl Into<String>, spec: TensorSpec) -> Tensor {
    let layer = LayerRef::new(name, InputLayer { spec: spec.clone() });
    layer.mark_built();
    record_source(&layer, spec)
}

/// The layer behind an [`Input`]: it only names and types the data that enters.
#[derive(Debug, Clone)]
pub struct InputLayer {
    spec: TensorSpec,
}

impl InputLayer {
    /// The full spec, batch axis first.
    pub fn spec(&self) -> &TensorSpec {
        &self.spec
    }
}

impl Layer for InputLayer {
    fn class_name(&self) -> &str {
        "InputLayer"
    }

    fn config(&self) -> serde_json::Value {
        json!({
            "batch_shape": self.spec.shape,
            "dtype": self.spec.dtype.keras_name(),
            "sparse": false,
            "ragged": false,
            "optional": false,
        })
    }

    fn output_specs(&self, _inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        Ok(vec![self.spec.clone()])
    }

    fn call(&self, _inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        Err(Error::invalid(
            "an input layer is fed by the model, never called",
        ))
    }
}
