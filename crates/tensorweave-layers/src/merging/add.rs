//! `Add` (Keras' `layers.Add`).

use ndarray::{ArrayD, ArrayViewD};
use tensorweave_core::Result;

use super::{fold, Merge, MergeLayer, MergeOp};

/// What `Add` computes.
#[derive(Debug, Clone, Copy, Default)]
pub struct AddOp;

impl MergeOp for AddOp {
    const CLASS_NAME: &'static str = "Add";

    fn merge(xs: &[ArrayViewD<'_, f32>], masks: &[Option<&ArrayD<bool>>]) -> Result<ArrayD<f32>> {
        let _ = masks;
        fold(xs, |a, b| a + b)
    }
}

/// Builder of an `Add` layer (Keras' `layers.Add`): the sum of its inputs.
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let a = Input::new([4]).build();
/// let b = Input::new([4]).build();
/// let y = Add::new().call_many(&[&a, &b]).unwrap();
/// assert_eq!(y.shape(), &vec![None, Some(4)]);
/// ```
pub type Add = Merge<AddOp>;

/// The `Add` layer.
pub type AddLayer = MergeLayer<AddOp>;
