//! `Minimum` (Keras' `layers.Minimum`).

use ndarray::{ArrayD, ArrayViewD};
use tensorweave_core::Result;

use super::{extremum_masked, Merge, MergeLayer, MergeOp};

/// What `Minimum` computes.
#[derive(Debug, Clone, Copy, Default)]
pub struct MinimumOp;

impl MergeOp for MinimumOp {
    const CLASS_NAME: &'static str = "Minimum";
    const READS_MASKS: bool = true;

    fn merge(xs: &[ArrayViewD<'_, f32>], masks: &[Option<&ArrayD<bool>>]) -> Result<ArrayD<f32>> {
        extremum_masked(xs, masks, f32::min)
    }
}

/// Builder of a `Minimum` layer (Keras' `layers.Minimum`): the element-wise
/// minimum of its inputs; a masked entry is replaced by the other input's.
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let a = Input::new([4]).build();
/// let b = Input::new([4]).build();
/// let y = Minimum::new().call_many(&[&a, &b]).unwrap();
/// assert_eq!(y.shape(), &vec![None, Some(4)]);
/// ```
pub type Minimum = Merge<MinimumOp>;

/// The `Minimum` layer.
pub type MinimumLayer = MergeLayer<MinimumOp>;
