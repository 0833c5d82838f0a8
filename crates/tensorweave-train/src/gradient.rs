//! How the optimizers read a weight's [`Gradient`] (defined in `tensorweave_core::grad`,
//! where the backward pass makes them): element-wise maps on the dense or row form, and
//! TensorFlow's scatter updates of embedding tables.

use ndarray::{ArrayD, ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, Ix2};
pub use tensorweave_core::grad::{segment_sum, Gradient};
use tensorweave_core::Result;

use crate::util::{input_err, shape_str};

/// Element-wise maps of a gradient in its weight's dense shape.
pub(crate) trait MapDense {
    /// `f` applied to every entry, in the weight's dense shape. On a row gradient `f` acts on
    /// each occurrence and the results are summed per row after (TensorFlow's element-wise
    /// `IndexedSlices` arithmetic, then densifying); rows without occurrences are 0.
    fn map_dense(&self, f: impl Fn(f32) -> f32) -> ArrayD<f32>;
}

impl MapDense for Gradient {
    fn map_dense(&self, f: impl Fn(f32) -> f32) -> ArrayD<f32> {
        match self {
            Gradient::Dense(a) => a.mapv(f),
            Gradient::Rows {
                indices,
                values,
                shape,
            } => segment_sum(indices, values.mapv(f).view(), shape[0]).into_dyn(),
        }
    }
}

/// A weight that receives row gradients, as a `[rows, dim]` table (an error if it is not 2-D).
pub(crate) fn as_table(w: &mut ArrayD<f32>) -> Result<ArrayViewMut2<'_, f32>> {
    let shape = shape_str(w.shape());
    w.view_mut().into_dimensionality::<Ix2>().map_err(|_| {
        input_err(format!(
            "a row gradient needs a 2-D [rows, dim] variable, got one of shape {shape}"
        ))
    })
}

/// TensorFlow's scatter update of a `[rows, dim]` weight by a row gradient: for each occurrence
/// in order, `f(the weight's row, the occurrence's values, the row index)`.
pub(crate) fn scatter(
    w: &mut ArrayD<f32>,
    indices: &[usize],
    values: ArrayView2<'_, f32>,
    mut f: impl FnMut(ArrayViewMut1<'_, f32>, ArrayView1<'_, f32>, usize),
) -> Result<()> {
    let mut table = as_table(w)?;
    for (occ, &row) in indices.iter().enumerate() {
        f(table.row_mut(row), values.row(occ), row);
    }
    Ok(())
}
