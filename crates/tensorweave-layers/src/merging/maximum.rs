//! `Maximum` (Keras' `layers.Maximum`).

use super::{extremum_grad, extremum_masked, max_nan, merge_class};

merge_class! {
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
    Maximum, MaximumLayer, MaximumOp = "Maximum", READS_MASKS = true;
    |xs, masks| extremum_masked(xs, masks, max_nan);
    grad |xs, masks, gy| extremum_grad(xs, masks, gy, max_nan, |a, b| a >= b)
}
