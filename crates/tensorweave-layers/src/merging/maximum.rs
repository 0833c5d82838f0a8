//! `Maximum` (Keras' `layers.Maximum`).

use ndarray::{ArrayD, ArrayViewD};
use tensorweave_core::Result;

use super::{extremum_masked, Merge, MergeLayer, MergeOp};

/// What `Maximum` computes.
#[derive(Debug, Clone, Copy, Default)]
pub struct MaximumOp;

impl MergeOp for MaximumOp {
    const CLASS_NAME: &'static str = "Maximum";
    const READS_MASKS: bool = true;

    fn merge(xs: &[ArrayViewD<'_, f32>], masks: &[Option<&ArrayD<bool>>]) -> Result<ArrayD<f32>> {
        extremum_masked(xs, masks, f32::max)
    }
}

/// Builder of a `Maximum` layer (Keras' `layers.Maximum`): the element-wise
/// maximum of its inputs; a masked entry is replaced by the other input's.
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let a = Input::new([4]).build();
/// let b = Input::new([4]).build();
/// let y = Maximum::new().call_many(&[&a, &b]).unwrap();
/// assert_eq!(y.shape(), &vec![None, Some(4)]);
/// ```
pub type Maximum = Merge<MaximumOp>;

/// The `Maximum` layer.
pub type MaximumLayer = MergeLayer<MaximumOp>;
