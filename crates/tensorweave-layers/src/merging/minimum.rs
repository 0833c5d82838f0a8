//! `Minimum` (Keras' `layers.Minimum`).

use super::{extremum_grad, extremum_masked, merge_class, min_nan};

merge_class! {
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
    Minimum, MinimumLayer, MinimumOp = "Minimum", READS_MASKS = true;
    |xs, masks| extremum_masked(xs, masks, min_nan);
    grad |xs, masks, gy| extremum_grad(xs, masks, gy, min_nan, |a, b| a <= b)
}
