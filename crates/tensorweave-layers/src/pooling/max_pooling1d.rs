//! `MaxPooling1D`: the maximum of each window along the time axis.

use ndarray::ArrayView3;

use super::{max_of_window, pooling_class};

pooling_class! {
    /// Builder and configuration of a `MaxPooling1D` layer (Keras' `layers.MaxPooling1D`):
    /// the maximum of each window. With `same` padding the padded positions are
    /// ignored (TensorFlow's `SAME`).
    ///
    /// ```
    /// use tensorweave_layers::prelude::*;
    /// let x = Input::new([16, 3]).build();
    /// let y = MaxPooling1D::new(2).call(&x).unwrap();
    /// assert_eq!(y.shape(), &vec![None, Some(8), Some(3)]);
    /// ```
    MaxPooling1D = Pooling1D, MaxPooling1DLayer = Pooling1DLayer,
    MaxWindow: WindowReduction = "MaxPooling1D";
    /// The maximum of a window, skipping NaN as TensorFlow's `MaxPool` does.
    fn reduce(window: ArrayView3<'_, f32>) -> Array2<f32> {
        max_of_window(window)
    }
}
