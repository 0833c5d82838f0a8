//! `GlobalMaxPooling1D`: the maximum over all steps.

use ndarray::{ArrayView2, ArrayView3, Axis};

use super::{max_over_steps, pooling_class};

pooling_class! {
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
    GlobalMaxPooling1D = GlobalPooling1D, GlobalMaxPooling1DLayer = GlobalPooling1DLayer,
    GlobalMax: GlobalReduction = "GlobalMaxPooling1D", USES_MASK = false;
    /// The maximum over all steps, masked ones included (Keras 3.15.1).
    fn reduce(x: ArrayView3<'_, f32>, _mask: Option<ArrayView2<'_, f32>>) -> Array2<f32> {
        max_over_steps(x)
    }
    /// TensorFlow's `reduce_max` gradient: shared equally by every step that
    /// equals the maximum.
    fn grad(
        x: ArrayView3<'_, f32>,
        _mask: Option<ArrayView2<'_, f32>>,
        y: ArrayView2<'_, f32>,
        gy: ArrayView2<'_, f32>
    ) -> Array3<f32> {
        let y3 = y.insert_axis(Axis(1));
        let hits = ndarray::Zip::from(&x)
            .and_broadcast(&y3)
            .map_collect(|&v, &m| if v == m { 1.0f32 } else { 0.0 });
        let counts = hits.sum_axis(Axis(1)).insert_axis(Axis(1));
        let share = &gy.insert_axis(Axis(1)) / &counts;
        hits * &share
    }
}
