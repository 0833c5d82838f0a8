//! `Subtract` (Keras' `layers.Subtract`).

use tensorweave_core::Error;

use super::merge_class;
use crate::array_ops::zip2;

merge_class! {
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
    Subtract, SubtractLayer, SubtractOp = "Subtract", EXACT_INPUTS = Some(2);
    |xs, masks| {
        match xs {
            [a, b] => zip2(a.view(), b.view(), |x, y| x - y),
            _ => Err(Error::invalid(format!(
                "a `Subtract` layer must be called on exactly 2 inputs, got {}",
                xs.len()
            ))),
        }
    };
    grad |xs, masks, gy| Ok(vec![gy.clone(), gy.mapv(|g| -g)])
}
