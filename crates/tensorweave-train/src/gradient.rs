//! A weight's gradient: dense, or TensorFlow's `IndexedSlices` for embedding tables.

use ndarray::{Array2, ArrayD, ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, Ix2};
use tensorweave_core::Result;

use crate::util::{input_err, shape_str};

/// A weight's gradient.
#[derive(Debug, Clone, PartialEq)]
pub enum Gradient {
    /// A dense gradient of the weight's shape.
    Dense(ArrayD<f32>),
    /// TensorFlow's `IndexedSlices` for an embedding table of `shape` `[rows, dim]`: one slice
    /// per token occurrence, duplicates NOT summed (`values` is `[indices.len(), dim]`).
    ///
    /// Keras' optimizers treat these differently from the summed dense gradient: element-wise
    /// operations (squares, clipping) act on each occurrence before the slices are summed.
    Rows {
        /// The row of each occurrence, in occurrence order.
        indices: Vec<usize>,
        /// One row of gradient per occurrence.
        values: Array2<f32>,
        /// The shape of the table, `[rows, dim]`.
        shape: Vec<usize>,
    },
}

impl Gradient {
    /// A `Rows` gradient, checked: `shape` is `[rows, dim]`, every index is below `rows` and
    /// `values` has one row of `dim` entries per index.
    pub fn rows(indices: Vec<usize>, values: Array2<f32>, shape: Vec<usize>) -> Result<Gradient> {
        let g = Gradient::Rows {
            indices,
            values,
            shape,
        };
        g.check()?;
        Ok(g)
    }

    /// The shape of the weight this gradient belongs to.
    pub fn shape(&self) -> &[usize] {
        match self {
            Gradient::Dense(a) => a.shape(),
            Gradient::Rows { shape, .. } => shape,
        }
    }

    /// Checks the internal consistency of a `Rows` gradient (dense ones are always consistent).
    pub fn check(&self) -> Result<()> {
        let Gradient::Rows {
            indices,
            values,
            shape,
        } = self
        else {
            return Ok(());
        };
        if shape.len() != 2 {
            return Err(input_err(format!(
                "row gradient: the table shape must be [rows, dim], got {}",
                shape_str(shape)
            )));
        }
        if values.nrows() != indices.len() || values.ncols() != shape[1] {
            return Err(input_err(format!(
                "row gradient: values have shape {} but {} indices into a table of shape {} need ({}, {})",
                shape_str(values.shape()),
                indices.len(),
                shape_str(shape),
                indices.len(),
                shape[1]
            )));
        }
        if let Some(&bad) = indices.iter().find(|&&i| i >= shape[0]) {
            return Err(input_err(format!(
                "row gradient: index {bad} is out of range for a table of {} rows",
                shape[0]
            )));
        }
        Ok(())
    }

    /// The dense gradient: duplicates summed in occurrence order, as TensorFlow's
    /// `convert_to_tensor(IndexedSlices)` (an `unsorted_segment_sum`) does.
    pub fn to_dense(&self) -> Result<ArrayD<f32>> {
        self.check()?;
        Ok(self.map_dense(|x| x))
    }

    /// `f` applied to every entry, in the weight's dense shape. On a row gradient `f` acts on
    /// each occurrence and the results are summed per row after (TensorFlow's element-wise
    /// `IndexedSlices` arithmetic, then densifying); rows without occurrences are 0.
    pub(crate) fn map_dense(&self, f: impl Fn(f32) -> f32) -> ArrayD<f32> {
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

/// Sums occurrence rows into a `[rows, dim]` table, sequentially in occurrence order.
pub(crate) fn segment_sum(
    indices: &[usize],
    values: ArrayView2<'_, f32>,
    rows: usize,
) -> Array2<f32> {
    let mut out = Array2::<f32>::zeros((rows, values.ncols()));
    for (occ, &row) in indices.iter().enumerate() {
        let mut dst = out.row_mut(row);
        dst += &values.row(occ);
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn rows_sum_duplicates_when_densified() {
        let g = Gradient::rows(
            vec![1, 0, 1],
            array![[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]],
            vec![3, 2],
        )
        .unwrap();
        let d = g.to_dense().unwrap();
        assert_eq!(d.shape(), &[3, 2]);
        assert_eq!(d[[1, 0]], 6.0);
        assert_eq!(d[[1, 1]], 8.0);
        assert_eq!(d[[0, 1]], 4.0);
        assert_eq!(d[[2, 0]], 0.0);
    }

    #[test]
    fn rows_are_checked() {
        assert!(Gradient::rows(vec![3], array![[1.0, 2.0]], vec![3, 2]).is_err());
        assert!(Gradient::rows(vec![0], array![[1.0, 2.0, 3.0]], vec![3, 2]).is_err());
        assert!(Gradient::rows(vec![0], array![[1.0, 2.0]], vec![3, 2, 1]).is_err());
    }
}
