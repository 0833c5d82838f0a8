//! `GlobalMaxPooling1D`: the maximum over all steps.

use ndarray::{Array2, ArrayView2, ArrayView3};

use super::{max_over_steps, GlobalPooling1D, GlobalPooling1DLayer, GlobalReduction};

/// The maximum over all steps, masked ones included (Keras 3.15.1).
#[derive(Debug, Clone, Copy, Default)]
pub struct GlobalMax;

impl GlobalReduction for GlobalMax {
    const CLASS_NAME: &'static str = "GlobalMaxPooling1D";
    const USES_MASK: bool = false;

    fn reduce(x: ArrayView3<'_, f32>, _mask: Option<ArrayView2<'_, f32>>) -> Array2<f32> {
        max_over_steps(x)
    }
}

/// Builder and configuration of a `GlobalMaxPooling1D` layer (Keras'
/// `layers.GlobalMaxPooling1D`): the maximum over all steps.
///
/// As in Keras 3.15.1 it does not read masks: masked steps take part in the
/// maximum, and the mask is dropped.
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let x = Input::new([None, Some(4)]).build();
/// let y = GlobalMaxPooling1D::new().call(&x).unwrap();
/// assert_eq!(y.shape(), &vec![None, Some(4)]);
/// ```
pub type GlobalMaxPooling1D = GlobalPooling1D<GlobalMax>;

/// The `GlobalMaxPooling1D` layer.
pub type GlobalMaxPooling1DLayer = GlobalPooling1DLayer<GlobalMax>;
