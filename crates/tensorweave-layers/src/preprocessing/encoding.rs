//! Keras' `numerical_utils.encode_categorical_inputs`: integer indices to
//! `one_hot`, `multi_hot`, `count` or `tf_idf` vectors of a fixed depth, as
//! `CategoryEncoding`, `StringLookup`, `IntegerLookup`, `Hashing` and
//! `TextVectorization` produce them.
//!
//! - `one_hot` takes inputs of rank ≤ 2: a last axis of size 1 is dropped,
//!   then a depth axis is appended (`[B]` → `[B, depth]`, `[B, T]` →
//!   `[B, T, depth]`); an index outside `0..depth` gives a zero vector.
//! - `multi_hot`, `count` and `tf_idf` take `[B]` (one index per row) or
//!   `[B, T]` (the row's indices) and give `[B, depth]`; indices outside
//!   `0..depth` are dropped (TensorFlow's `bincount` with `maxlength`);
//!   `tf_idf` is the count times the index's idf weight.

use ndarray::{ArrayD, IxDyn};
use serde::{Deserialize, Serialize};
use tensorweave_core::{Error, Result, Shape};

/// What a preprocessing layer outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OutputMode {
    /// Integer indices (int32 here; Keras' int64), the input's shape.
    #[default]
    Int,
    /// One vector per index.
    OneHot,
    /// One vector per row: 1 where an index occurs.
    MultiHot,
    /// One vector per row: how often each index occurs.
    Count,
    /// One vector per row: counts times idf weights.
    TfIdf,
}

impl OutputMode {
    /// Keras' spelling.
    pub fn name(self) -> &'static str {
        match self {
            OutputMode::Int => "int",
            OutputMode::OneHot => "one_hot",
            OutputMode::MultiHot => "multi_hot",
            OutputMode::Count => "count",
            OutputMode::TfIdf => "tf_idf",
        }
    }
}

/// The symbolic output shape of encoding indices of shape `input` in `mode`.
pub fn encoded_shape(input: &Shape, mode: OutputMode, depth: usize) -> Result<Shape> {
    if mode == OutputMode::Int {
        return Ok(input.clone());
    }
    if input.len() > 2 {
        return Err(Error::invalid(format!(
            "output_mode '{}' takes inputs of rank 1 or 2 (batch, tokens), got rank {}",
            mode.name(),
            input.len()
        )));
    }
    let mut shape = input.clone();
    match mode {
        OutputMode::OneHot => {
            if shape.len() == 2 && shape[1] == Some(1) {
                shape.pop();
            }
            shape.push(Some(depth));
        }
        _ => {
            shape.truncate(1);
            if shape.is_empty() {
                shape.push(Some(1));
            }
            shape.push(Some(depth));
        }
    }
    Ok(shape)
}

/// Encodes `indices` (any integer; outside `0..depth` means "no index") in a
/// non-int `mode` of width `depth`; `idf` (one weight per index) for `tf_idf`.
pub fn encode(
    indices: &ArrayD<i64>,
    mode: OutputMode,
    depth: usize,
    idf: Option<&[f32]>,
) -> Result<ArrayD<f32>> {
    let shape: Shape = indices.shape().iter().map(|&d| Some(d)).collect();
    let out_shape: Vec<usize> = encoded_shape(&shape, mode, depth)?
        .iter()
        .map(|d| d.unwrap_or(0))
        .collect();
    let mut out = ArrayD::<f32>::zeros(IxDyn(&out_shape));
    let slot = |i: i64| usize::try_from(i).ok().filter(|&i| i < depth);
    let flat = out
        .as_slice_mut()
        .ok_or_else(|| Error::invalid("internal: encoding buffer not contiguous"))?;
    match mode {
        OutputMode::Int => {
            return Err(Error::invalid("internal: int mode is not an encoding"));
        }
        OutputMode::OneHot => {
            for (k, &i) in indices.iter().enumerate() {
                if let Some(j) = slot(i) {
                    flat[k * depth + j] = 1.0;
                }
            }
        }
        OutputMode::MultiHot | OutputMode::Count | OutputMode::TfIdf => {
            let per_row = if indices.ndim() == 2 {
                indices.shape()[1]
            } else {
                1
            };
            for (k, &i) in indices.iter().enumerate() {
                let row = k / per_row.max(1);
                if let Some(j) = slot(i) {
                    let cell = &mut flat[row * depth + j];
                    *cell = if mode == OutputMode::MultiHot {
                        1.0
                    } else {
                        *cell + 1.0
                    };
                }
            }
            if mode == OutputMode::TfIdf {
                let idf = idf.ok_or_else(|| {
                    Error::invalid("output_mode 'tf_idf' needs idf weights, and there are none")
                })?;
                for row in flat.chunks_mut(depth.max(1)) {
                    for (c, w) in row.iter_mut().zip(idf) {
                        *c *= w;
                    }
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn modes_as_keras() {
        let x = array![[6i64, 1, 1, 5], [0, 0, 2, 3]].into_dyn();
        let mh = encode(&x, OutputMode::MultiHot, 6, None).unwrap();
        assert_eq!(
            mh.index_axis(ndarray::Axis(0), 0)
                .iter()
                .copied()
                .collect::<Vec<f32>>(),
            [0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
        );
        let ct = encode(&x, OutputMode::Count, 6, None).unwrap();
        assert_eq!(
            ct.index_axis(ndarray::Axis(0), 0)
                .iter()
                .copied()
                .collect::<Vec<f32>>(),
            [0.0, 2.0, 0.0, 0.0, 0.0, 1.0]
        );
        let oh = encode(&x, OutputMode::OneHot, 6, None).unwrap();
        assert_eq!(oh.shape(), [2, 4, 6]);
        assert_eq!(oh.sum(), 7.0);
        let tfidf = encode(
            &x,
            OutputMode::TfIdf,
            6,
            Some(&[1.0, 0.5, 1.0, 1.0, 1.0, 2.0]),
        )
        .unwrap();
        assert_eq!(
            tfidf
                .index_axis(ndarray::Axis(0), 0)
                .iter()
                .copied()
                .collect::<Vec<f32>>(),
            [0.0, 1.0, 0.0, 0.0, 0.0, 2.0]
        );
        let single = array![[3i64], [1]].into_dyn();
        assert_eq!(
            encode(&single, OutputMode::OneHot, 4, None)
                .unwrap()
                .shape(),
            [2, 4]
        );
    }
}
