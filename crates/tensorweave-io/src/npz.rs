//! Weights as a NumPy `.npz` in Keras' `get_weights()` order, as written by
//! `np.savez(path, *model.get_weights())`: arrays `arr_0`, `arr_1`, …
//! (float32, or float64 and integers converted to float32).
//!
//! Members are read with [`crate::npy::Npy`], so a member's claimed size is
//! checked (declared uncompressed size, the header's shape against the bytes
//! present, the memory budget) before memory is reserved for it.

use std::io::{Read, Seek};
use std::path::Path;

use ndarray::ArrayD;
use tensorweave_core::{MemoryBudget, Model, Result};

use crate::limits::{invalid_data, open_file, open_zip, read_zip_member, shown, shown_at_most};
use crate::npy::Npy;

/// How many member names an error lists.
const LISTED: usize = 6;

/// Reads `arr_0`, `arr_1`, … from an `.npz` archive, in index order, within
/// the default [`MemoryBudget`] (see [`read_npz_arrays_with`]).
pub fn read_npz_arrays<R: Read + Seek>(reader: R, source: &str) -> Result<Vec<ArrayD<f32>>> {
    read_npz_arrays_with(reader, source, &MemoryBudget::default())
}

/// Reads `arr_0`, `arr_1`, … from an `.npz` archive, in index order.
///
/// Fails when the archive is not a zip of `.npy` files, when its arrays are not
/// named `arr_0` to `arr_{n-1}` (as `np.savez(path, *arrays)` names them), when
/// an array is not a number type, or when a member's sizes disagree with its
/// data or go over `budget` (counted over all members).
pub fn read_npz_arrays_with<R: Read + Seek>(
    reader: R,
    source: &str,
    budget: &MemoryBudget,
) -> Result<Vec<ArrayD<f32>>> {
    let source = shown(source);
    let (mut zip, names) = open_zip(
        reader,
        &source,
        "a valid .npz archive (a zip of .npy files)",
        "holds no arrays",
    )?;
    let n = names.len();
    let mut used = 0u64;
    let mut arrays = Vec::with_capacity(n.min(1 << 16));
    for i in 0..n {
        let member = format!("arr_{i}.npy");
        let found = match read_zip_member(&mut zip, &member, &source, budget, &mut used)? {
            Some(b) => Some(b),
            None => read_zip_member(&mut zip, &format!("arr_{i}"), &source, budget, &mut used)?,
        };
        let bytes = match found {
            Some(b) => b,
            None => {
                let mut shown_names: Vec<String> = names
                    .iter()
                    .take(LISTED)
                    .map(|n| shown_at_most(n, 40))
                    .collect();
                shown_names.sort();
                if n > LISTED {
                    shown_names.push(format!("… and {} more", n - LISTED));
                }
                return Err(invalid_data(format!(
                    "{source} has no array 'arr_{i}': expected arrays arr_0 … arr_{} in \
                     get_weights() order (np.savez(path, *model.get_weights())), found {}",
                    n - 1,
                    shown_names.join(", ")
                )));
            }
        };
        let npy = Npy::from_bytes(bytes, &format!("array 'arr_{i}' of {source}"), budget)?;
        arrays.push(npy.to_f32()?);
    }
    Ok(arrays)
}

/// Reads the weights of an `.npz` file (see [`read_npz_arrays`]).
pub fn read_npz_weights(path: &Path) -> Result<Vec<ArrayD<f32>>> {
    read_npz_weights_with(path, &MemoryBudget::default())
}

/// [`read_npz_weights`] within `budget`.
pub fn read_npz_weights_with(path: &Path, budget: &MemoryBudget) -> Result<Vec<ArrayD<f32>>> {
    let file = open_file(path, "weights file")?;
    read_npz_arrays_with(
        std::io::BufReader::new(file),
        &path.display().to_string(),
        budget,
    )
}

/// Loads an `.npz` of weights in Keras' `model.get_weights()` order into
/// `model`. Counts and shapes are checked before anything is written.
pub fn load_keras_npz_weights(model: &Model, path: &Path) -> Result<()> {
    load_keras_npz_weights_with(model, path, &MemoryBudget::default())
}

/// [`load_keras_npz_weights`] within `budget`.
pub fn load_keras_npz_weights_with(
    model: &Model,
    path: &Path,
    budget: &MemoryBudget,
) -> Result<()> {
    let weights = read_npz_weights_with(path, budget)?;
    model.set_weights(&weights)
}
