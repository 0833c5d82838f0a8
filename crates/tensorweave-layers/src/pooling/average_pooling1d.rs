//! `AveragePooling1D`: the mean of each window along the time axis.

use ndarray::{Array2, ArrayView3, Axis};

use super::{Pooling1D, Pooling1DLayer, WindowReduction};

/// The mean of a window's (real, unpadded) steps.
#[derive(Debug, Clone, Copy, Default)]
pub struct AverageWindow;

impl WindowReduction for AverageWindow {
    const CLASS_NAME: &'static str = "AveragePooling1D";

    fn reduce(window: ArrayView3<'_, f32>) -> Array2<f32> {
        window.sum_axis(Axis(1)) / window.len_of(Axis(1)) as f32
    }
}

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
pub type AveragePooling1D = Pooling1D<AverageWindow>;

/// The `AveragePooling1D` layer.
pub type AveragePooling1DLayer = Pooling1DLayer<AverageWindow>;
