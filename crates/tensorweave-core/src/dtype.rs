//! Element types and tensor specs (shape and dtype).

use std::fmt;

use serde::{Deserialize, Serialize};

pub use crate::shape::{format_shape, Shape};

/// The element type of a tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    /// 32-bit float: activations and weights.
    #[serde(rename = "float32")]
    F32,
    /// 32-bit signed integer: token ids.
    #[serde(rename = "int32")]
    I32,
    /// Boolean: masks.
    #[serde(rename = "bool")]
    Bool,
    /// UTF-8 text: the input of `TextVectorization`, `StringLookup`, `Hashing`.
    #[serde(rename = "string")]
    String,
}

impl DType {
    /// The Keras spelling: `float32`, `int32`, `bool`.
    pub fn keras_name(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::I32 => "int32",
            DType::Bool => "bool",
            DType::String => "string",
        }
    }

    /// Parses a Keras dtype name. Integer and float widths other than 32 map to the
    /// nearest supported type (`int64` token ids become `I32`).
    pub fn from_keras_name(name: &str) -> Option<DType> {
        match name {
            "float32" | "float16" | "bfloat16" | "float64" => Some(DType::F32),
            "int32" | "int64" | "int16" | "int8" | "uint8" | "uint16" | "uint32" => {
                Some(DType::I32)
            }
            "bool" => Some(DType::Bool),
            "string" => Some(DType::String),
            _ => None,
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keras_name())
    }
}

/// Shape and dtype of a symbolic tensor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorSpec {
    /// Axes, batch first; `None` is unknown until run time.
    pub shape: Shape,
    /// Element type.
    pub dtype: DType,
}

impl TensorSpec {
    /// A spec from a shape and a dtype.
    pub fn new(shape: impl Into<Shape>, dtype: DType) -> Self {
        TensorSpec {
            shape: shape.into(),
            dtype,
        }
    }

    /// A float32 spec.
    pub fn f32(shape: impl Into<Shape>) -> Self {
        TensorSpec::new(shape, DType::F32)
    }

    /// Number of axes, batch included.
    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// The last axis, if known.
    pub fn last_dim(&self) -> Option<usize> {
        self.shape.last().copied().flatten()
    }
}

impl fmt::Display for TensorSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", format_shape(&self.shape), self.dtype)
    }
}

/// Two dims are compatible when either is unknown or both are equal.
pub fn dims_compatible(a: Option<usize>, b: Option<usize>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => x == y,
        _ => true,
    }
}

/// Whether a concrete shape fits a symbolic one.
pub fn shape_matches(symbolic: &[Option<usize>], concrete: &[usize]) -> bool {
    symbolic.len() == concrete.len()
        && symbolic
            .iter()
            .zip(concrete)
            .all(|(s, c)| s.is_none_or(|s| s == *c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_print_like_keras() {
        assert_eq!(format_shape(&[None, Some(10), Some(8)]), "(None, 10, 8)");
        assert_eq!(format_shape(&[None]), "(None,)");
    }

    #[test]
    fn concrete_shapes_match_symbolic_ones() {
        assert!(shape_matches(&[None, Some(3)], &[7, 3]));
        assert!(!shape_matches(&[None, Some(3)], &[7, 4]));
        assert!(!shape_matches(&[None, Some(3)], &[7, 3, 1]));
    }
}
