//! `Average` (Keras' `layers.Average`).

use ndarray::{ArrayD, ArrayViewD};
use tensorweave_core::Result;

use super::{fold, Merge, MergeLayer, MergeOp};

/// What `Average` computes.
#[derive(Debug, Clone, Copy, Default)]
pub struct AverageOp;

impl MergeOp for AverageOp {
    const CLASS_NAME: &'static str = "Average";

    fn merge(xs: &[ArrayViewD<'_, f32>], masks: &[Option<&ArrayD<bool>>]) -> Result<ArrayD<f32>> {
        let _ = masks;
        let n = xs.len() as f32;
        Ok(fold(xs, |a, b| a + b)?.mapv_into(|v| v / n))
    }
}

/// Builder of an `Average` layer (Keras' `layers.Average`): the mean of its
/// inputs.
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let a = Input::new([4]).build();
/// let b = Input::new([4]).build();
/// let y = Average::new().call_many(&[&a, &b]).unwrap();
/// assert_eq!(y.shape(), &vec![None, Some(4)]);
/// ```
pub type Average = Merge<AverageOp>;

/// The `Average` layer.
pub type AverageLayer = MergeLayer<AverageOp>;
