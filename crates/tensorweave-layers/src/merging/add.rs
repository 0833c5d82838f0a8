//! `Add` (Keras' `layers.Add`).

use super::{fold, merge_class};

merge_class! {
    /// Builder of an `Add` layer (Keras' `layers.Add`): the sum of its inputs.
    ///
    /// ```
    /// use tensorweave_layers::prelude::*;
    /// let a = Input::new([4]).build();
    /// let b = Input::new([4]).build();
    /// let y = Add::new().call_many(&[&a, &b]).unwrap();
    /// assert_eq!(y.shape(), &vec![None, Some(4)]);
    /// ```
    Add, AddLayer, AddOp = "Add";
    |xs, masks| fold(xs, |a, b| a + b);
    grad |xs, masks, gy| Ok(vec![gy.clone(); xs.len()])
}
