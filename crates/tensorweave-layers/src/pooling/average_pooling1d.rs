//! `AveragePooling1D`: the mean of each window along the time axis.

use ndarray::{Array3, ArrayView2, ArrayView3, Axis};

use super::pooling_class;

pooling_class! {
    /// Builder and configuration of an `AveragePooling1D` layer (Keras'
    /// `layers.AveragePooling1D`): the mean of each window. With `same` padding a
    /// window's mean is over its real steps only (TensorFlow's `SAME`: padding is
    /// not counted).
    ///
    /// ```
    /// use tensorweave_layers::prelude::*;
    /// let x = Input::new([5, 4]).build();
    /// let y = AveragePooling1D::new(2).padding(Padding::Same).call(&x).unwrap();
    /// assert_eq!(y.shape(), &vec![None, Some(3), Some(4)]);
    /// ```
    AveragePooling1D = Pooling1D, AveragePooling1DLayer = Pooling1DLayer,
    AverageWindow: WindowReduction = "AveragePooling1D";
    /// The mean of a window's (real, unpadded) steps.
    fn reduce(window: ArrayView3<'_, f32>) -> Array2<f32> {
        window.sum_axis(Axis(1)) / window.len_of(Axis(1)) as f32
    }
    /// Each step of the window gets `gy / window length`.
    fn grad(window: ArrayView3<'_, f32>, gy: ArrayView2<'_, f32>) -> Array3<f32> {
        let n = window.len_of(Axis(1)).max(1) as f32;
        let g = gy.mapv(|g| g / n).insert_axis(Axis(1));
        let mut out = Array3::<f32>::zeros(window.dim());
        out += &g;
        out
    }
}
