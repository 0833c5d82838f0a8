//! Gradients of weights: [`Gradient`] (dense, or TensorFlow's `IndexedSlices`
//! for embedding tables) and [`Gradients`], the gradients of one backward pass
//! keyed by weight path. They live outside the layers, so a backward pass never
//! writes into a model that other threads may be running.

use std::collections::HashMap;

use ndarray::{concatenate, Array2, ArrayD, ArrayView2, Axis};

use crate::error::{Error, Result};
use crate::shape::format_dims;

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
            return Err(Error::Input(format!(
                "row gradient: the table shape must be [rows, dim], got {}",
                format_dims(shape)
            )));
        }
        if values.nrows() != indices.len() || values.ncols() != shape[1] {
            return Err(Error::Input(format!(
                "row gradient: values have shape {} but {} indices into a table of shape {} need ({}, {})",
                format_dims(values.shape()),
                indices.len(),
                format_dims(shape),
                indices.len(),
                shape[1]
            )));
        }
        if let Some(&bad) = indices.iter().find(|&&i| i >= shape[0]) {
            return Err(Error::Input(format!(
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
        Ok(match self {
            Gradient::Dense(a) => a.clone(),
            Gradient::Rows {
                indices,
                values,
                shape,
            } => segment_sum(indices, values.view(), shape[0]).into_dyn(),
        })
    }

    /// The sum of two gradients of one weight, as TensorFlow aggregates them: two
    /// row gradients concatenate their slices (a shared embedding keeps one slice
    /// per occurrence in either call), anything else is summed densely.
    pub fn accumulate(self, other: Gradient) -> Result<Gradient> {
        if self.shape() != other.shape() {
            return Err(Error::Graph(format!(
                "internal: gradients of shapes {} and {} for one weight",
                format_dims(self.shape()),
                format_dims(other.shape())
            )));
        }
        match (self, other) {
            (
                Gradient::Rows {
                    mut indices,
                    values,
                    shape,
                },
                Gradient::Rows {
                    indices: more,
                    values: more_values,
                    ..
                },
            ) => {
                indices.extend(more);
                let values = concatenate(Axis(0), &[values.view(), more_values.view()])
                    .map_err(|e| Error::Graph(format!("internal: {e}")))?;
                Gradient::rows(indices, values, shape)
            }
            (Gradient::Dense(mut a), b) | (b, Gradient::Dense(mut a)) => {
                a += &b.to_dense()?;
                Ok(Gradient::Dense(a))
            }
        }
    }
}

/// Sums occurrence rows into a `[rows, dim]` table, sequentially in occurrence order.
pub fn segment_sum(indices: &[usize], values: ArrayView2<'_, f32>, rows: usize) -> Array2<f32> {
    let mut out = Array2::<f32>::zeros((rows, values.ncols()));
    for (occ, &row) in indices.iter().enumerate() {
        let mut dst = out.row_mut(row);
        dst += &values.row(occ);
    }
    out
}

/// The gradients of one backward pass, keyed by weight path
/// (`bidirectional/forward_lstm/lstm_cell/kernel`, as [`crate::Model::weight_specs`]
/// names them), in the order they were first produced. Adding a second gradient
/// for a path (a shared layer, a model called twice) sums them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Gradients {
    entries: Vec<(String, Gradient)>,
    index: HashMap<String, usize>,
}

impl Gradients {
    /// No gradients.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `gradient` to what `path` holds.
    pub fn add(&mut self, path: impl Into<String>, gradient: Gradient) -> Result<()> {
        let path = path.into();
        match self.index.get(&path) {
            Some(&i) => {
                let old = std::mem::replace(
                    &mut self.entries[i].1,
                    Gradient::Dense(ArrayD::zeros(vec![0])),
                );
                self.entries[i].1 = old.accumulate(gradient)?;
            }
            None => {
                self.index.insert(path.clone(), self.entries.len());
                self.entries.push((path, gradient));
            }
        }
        Ok(())
    }

    /// Adds every gradient of `other`, its paths prefixed with `prefix/`.
    pub fn add_all(&mut self, prefix: &str, other: Gradients) -> Result<()> {
        for (path, g) in other.entries {
            self.add(format!("{prefix}/{path}"), g)?;
        }
        Ok(())
    }

    /// The gradient of `path`, if one was produced.
    pub fn get(&self, path: &str) -> Option<&Gradient> {
        self.index.get(path).map(|&i| &self.entries[i].1)
    }

    /// Paths and gradients, in the order they were first produced.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Gradient)> {
        self.entries.iter().map(|(p, g)| (p.as_str(), g))
    }

    /// Paths and gradients, in the order they were first produced.
    pub fn into_entries(self) -> Vec<(String, Gradient)> {
        self.entries
    }

    /// The number of weights with a gradient.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no weight has a gradient.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Keeps only the paths `keep` accepts.
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.entries.retain(|(p, _)| keep(p));
        self.index = self
            .entries
            .iter()
            .enumerate()
            .map(|(i, (p, _))| (p.clone(), i))
            .collect();
    }

    /// Takes the gradient of `path` out.
    pub fn remove(&mut self, path: &str) -> Option<Gradient> {
        let i = *self.index.get(path)?;
        let (_, g) = self.entries.remove(i);
        self.retain(|_| true);
        Some(g)
    }
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

    #[test]
    fn gradients_of_one_path_accumulate() {
        let mut g = Gradients::new();
        let rows = |i: usize, v: f32| Gradient::rows(vec![i], array![[v, v]], vec![3, 2]).unwrap();
        g.add("emb", rows(1, 1.0)).unwrap();
        g.add("emb", rows(1, 2.0)).unwrap();
        match g.get("emb").unwrap() {
            Gradient::Rows { indices, .. } => assert_eq!(indices, &[1, 1]),
            other => panic!("{other:?}"),
        }
        g.add("emb", Gradient::Dense(ArrayD::ones(vec![3, 2])))
            .unwrap();
        let d = g.get("emb").unwrap().to_dense().unwrap();
        assert_eq!(d[[1, 0]], 4.0);
        assert_eq!(d[[0, 0]], 1.0);
        assert!(g
            .add("emb", Gradient::Dense(ArrayD::ones(vec![2])))
            .is_err());
        assert_eq!(g.len(), 1);
    }
}
