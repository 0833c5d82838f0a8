//! `Subtract` (Keras' `layers.Subtract`).

use ndarray::{ArrayD, ArrayViewD};
use tensorweave_core::{Error, Result};

use super::{Merge, MergeLayer, MergeOp};
use crate::array_ops::zip2;

/// What `Subtract` computes.
#[derive(Debug, Clone, Copy, Default)]
pub struct SubtractOp;

impl MergeOp for SubtractOp {
    const CLASS_NAME: &'static str = "Subtract";
    const EXACT_INPUTS: Option<usize> = Some(2);

    fn merge(xs: &[ArrayViewD<'_, f32>], masks: &[Option<&ArrayD<bool>>]) -> Result<ArrayD<f32>> {
        let _ = masks;
        match xs {
            [a, b] => zip2(a.view(), b.view(), |x, y| x - y),
            _ => Err(Error::invalid(format!(
                "a `Subtract` layer must be called on exactly 2 inputs, got {}",
                xs.len()
            ))),
        }
    }
}

/// Builder of a `Subtract` layer (Keras' `layers.Subtract`): the first of
/// exactly two inputs minus the second.
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let a = Input::new([4]).build();
/// let b = Input::new([4]).build();
/// let y = Subtract::new().call_many(&[&a, &b]).unwrap();
/// assert_eq!(y.shape(), &vec![None, Some(4)]);
/// assert!(Subtract::new().call_many(&[&a, &b, &a]).is_err());
/// ```
pub type Subtract = Merge<SubtractOp>;

/// The `Subtract` layer.
pub type SubtractLayer = MergeLayer<SubtractOp>;
