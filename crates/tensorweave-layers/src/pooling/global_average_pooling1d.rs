//! `GlobalAveragePooling1D`: the mean over all (unmasked) steps.

use ndarray::{Array3, ArrayView2, ArrayView3, Axis};

use super::pooling_class;

pooling_class! {
    /// Builder and configuration of a `GlobalAveragePooling1D` layer (Keras'
    /// `layers.GlobalAveragePooling1D`): the mean over all steps.
    ///
    /// With a mask it is Keras 3's `sum(where(mask, x, 0)) / sum(mask)` over the
    /// steps: the mean of the unmasked steps, and NaN for a sequence whose steps
    /// are all masked (0 / 0, as in Keras). The output has no mask.
    ///
    /// ```
    /// use tensorweave_layers::prelude::*;
    /// let x = Input::new([None, Some(4)]).build();
    /// let y = GlobalAveragePooling1D::new().keepdims(true).call(&x).unwrap();
    /// assert_eq!(y.shape(), &vec![None, Some(1), Some(4)]);
    /// ```
    GlobalAveragePooling1D = GlobalPooling1D, GlobalAveragePooling1DLayer = GlobalPooling1DLayer,
    GlobalAverage: GlobalReduction = "GlobalAveragePooling1D", USES_MASK = true;
    /// The mean over the steps; with a mask, over the unmasked steps.
    fn reduce(x: ArrayView3<'_, f32>, mask: Option<ArrayView2<'_, f32>>) -> Array2<f32> {
        match mask {
            None => x.sum_axis(Axis(1)) / x.len_of(Axis(1)) as f32,
            Some(mask) => {
                // sum_t where(mask, x, 0) / sum_t mask; 0/0 gives NaN as in Keras.
                let kept = ndarray::Zip::from(&x)
                    .and_broadcast(&mask.insert_axis(Axis(2)))
                    .map_collect(|&v, &m| if m != 0.0 { v } else { 0.0 });
                let counts = mask.sum_axis(Axis(1)).insert_axis(Axis(1));
                kept.sum_axis(Axis(1)) / &counts
            }
        }
    }
    /// Each (unmasked) step gets `gy / count`.
    fn grad(
        x: ArrayView3<'_, f32>,
        mask: Option<ArrayView2<'_, f32>>,
        _y: ArrayView2<'_, f32>,
        gy: ArrayView2<'_, f32>
    ) -> Array3<f32> {
        let (batch, steps, channels) = x.dim();
        let weights = match mask {
            None => ndarray::Array2::from_elem((batch, steps), 1.0 / steps as f32),
            Some(m) => {
                let counts = m.sum_axis(Axis(1)).insert_axis(Axis(1));
                &m / &counts
            }
        };
        Array3::from_shape_fn((batch, steps, channels), |(b, t, c)| weights[[b, t]] * gy[[b, c]])
    }
}
