//! `MaxPooling1D`: the maximum of each window along the time axis.

use ndarray::{Array2, ArrayView3};

use super::{max_over_steps, Pooling1D, Pooling1DLayer, WindowReduction};

/// The maximum of a window (NaN if it holds one).
#[derive(Debug, Clone, Copy, Default)]
pub struct MaxWindow;

impl WindowReduction for MaxWindow {
    const CLASS_NAME: &'static str = "MaxPooling1D";

    fn reduce(window: ArrayView3<'_, f32>) -> Array2<f32> {
        max_over_steps(window)
    }
}

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
pub type MaxPooling1D = Pooling1D<MaxWindow>;

/// The `MaxPooling1D` layer.
pub type MaxPooling1DLayer = Pooling1DLayer<MaxWindow>;
