//! `Average` (Keras' `layers.Average`).

use super::{fold, merge_class};

merge_class! {
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
    Average, AverageLayer, AverageOp = "Average";
    |xs, masks| {
        let n = xs.len() as f32;
        Ok(fold(xs, |a, b| a + b)?.mapv_into(|v| v / n))
    };
    grad |xs, masks, gy| {
        let n = xs.len().max(1) as f32;
        Ok(vec![gy.mapv(|g| g / n); xs.len()])
    }
}
