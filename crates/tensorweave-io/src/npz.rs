//! Weights as a NumPy `.npz` in Keras' `get_weights()` order, as written by
//! `np.savez(path, *model.get_weights())`: arrays `arr_0`, `arr_1`, …
//! (float32, or float64 converted to float32).

use std::io::{Read, Seek};
use std::path::Path;

use ndarray::{ArrayD, IxDyn, OwnedRepr};
use ndarray_npy::{NpzReader, ReadNpyError, ReadNpzError};
use tensorweave_core::{Error, Model, Result};

fn npz_error(what: &str, err: impl std::fmt::Display) -> Error {
    Error::Io(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("{what}: {err}"),
    ))
}

/// Reads `arr_0`, `arr_1`, … from an `.npz` archive, in index order.
///
/// Fails when the archive is not a zip of `.npy` files, when its arrays are not
/// named `arr_0` to `arr_{n-1}` (as `np.savez(path, *arrays)` names them), or
/// when an array is not float32 or float64.
pub fn read_npz_arrays<R: Read + Seek>(reader: R, source: &str) -> Result<Vec<ArrayD<f32>>> {
    let mut npz = NpzReader::new(reader)
        .map_err(|e| npz_error(&format!("{source} is not a valid .npz archive"), e))?;
    let names = npz
        .names()
        .map_err(|e| npz_error(&format!("{source} is not a valid .npz archive"), e))?;
    let n = names.len();
    for i in 0..n {
        let expected = format!("arr_{i}");
        if !names.contains(&expected) {
            let mut shown = names.clone();
            shown.sort();
            shown.truncate(8);
            return Err(npz_error(
                &format!("{source} has no array '{expected}'"),
                format!(
                    "expected arrays arr_0 … arr_{} in get_weights() order (np.savez(path, *model.get_weights())), found {}",
                    n.saturating_sub(1),
                    shown.join(", ")
                ),
            ));
        }
    }
    (0..n)
        .map(|i| {
            let name = format!("arr_{i}");
            match npz.by_name::<OwnedRepr<f32>, IxDyn>(&name) {
                Ok(a) => Ok(a),
                Err(ReadNpzError::Npy(ReadNpyError::WrongDescriptor(_))) => npz
                    .by_name::<OwnedRepr<f64>, IxDyn>(&name)
                    .map(|a| a.mapv(|v| v as f32))
                    .map_err(|e| {
                        npz_error(
                            &format!("array '{name}' of {source} is neither float32 nor float64"),
                            e,
                        )
                    }),
                Err(e) => Err(npz_error(
                    &format!("cannot read array '{name}' of {source}"),
                    e,
                )),
            }
        })
        .collect()
}

/// Reads the weights of an `.npz` file (see [`read_npz_arrays`]).
pub fn read_npz_weights(path: &Path) -> Result<Vec<ArrayD<f32>>> {
    let file = std::fs::File::open(path).map_err(|e| {
        Error::Io(std::io::Error::new(
            e.kind(),
            format!("cannot open weights file {}: {e}", path.display()),
        ))
    })?;
    read_npz_arrays(std::io::BufReader::new(file), &path.display().to_string())
}

/// Loads an `.npz` of weights in Keras' `model.get_weights()` order into
/// `model`. Counts and shapes are checked before anything is written.
pub fn load_keras_npz_weights(model: &Model, path: &Path) -> Result<()> {
    let weights = read_npz_weights(path)?;
    model.set_weights(&weights)
}
