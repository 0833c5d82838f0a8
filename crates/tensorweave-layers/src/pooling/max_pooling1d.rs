//! `MaxPooling1D`: the maximum of each window along the time axis.

use ndarray::{Array3, ArrayView2, ArrayView3};

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
    /// TensorFlow's `MaxPoolGrad`: all of `gy` to the first step holding the
    /// window's maximum.
    fn grad(window: ArrayView3<'_, f32>, gy: ArrayView2<'_, f32>) -> Array3<f32> {
        let mut out = Array3::<f32>::zeros(window.dim());
        let (batch, steps, channels) = window.dim();
        for b in 0..batch {
            for c in 0..channels {
                let mut best = (None, f32::MIN);
                for t in 0..steps {
                    let v = window[[b, t, c]];
                    if v > best.1 || (best.0.is_none() && v == f32::MIN) {
                        best = (Some(t), v);
                    }
                }
                if let Some(t) = best.0 {
                    out[[b, t, c]] += gy[[b, c]];
                }
            }
        }
        out
    }
}
