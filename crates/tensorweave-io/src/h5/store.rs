//! A read-only view of a Keras weights file (HDF5) over `hdf5-pure`: find
//! groups by path, list the arrays of a `vars` group, read shapes and data.
//! Every failure of the underlying reader becomes an [`Error`] that names the
//! path being read.

use hdf5_pure::{AttrValue, DType, File, Group};
use ndarray::ArrayD;
use tensorweave_core::{Error, Result};

/// An opened HDF5 weights file.
pub(crate) struct H5Store {
    file: File,
}

/// An error about the file itself (unreadable, corrupt), naming `what`.
fn corrupt(what: &str, err: impl std::fmt::Display) -> Error {
    Error::Io(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("the HDF5 weights file could not be read ({what}): {err}"),
    ))
}

impl H5Store {
    /// Opens a file held in memory.
    pub(crate) fn from_bytes(bytes: Vec<u8>) -> Result<Self> {
        if bytes.len() < 8 || &bytes[..8] != b"\x89HDF\r\n\x1a\n" {
            return Err(corrupt(
                "no HDF5 signature at the start",
                "expected a Keras `.weights.h5` / `model.weights.h5` file",
            ));
        }
        let file = File::from_bytes(bytes).map_err(|e| corrupt("opening", e))?;
        Ok(H5Store { file })
    }

    /// The group at `path` (`""` is the root), or `None` when some component is
    /// missing.
    pub(crate) fn group(&self, path: &str) -> Result<Option<Group>> {
        let mut group = self.file.root();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            let children = group.groups().map_err(|e| corrupt(path, e))?;
            if !children.iter().any(|c| c == part) {
                return Ok(None);
            }
            group = group.group(part).map_err(|e| corrupt(path, e))?;
        }
        Ok(Some(group))
    }

    /// Names of the subgroups of the group at `path` (empty when it is missing).
    pub(crate) fn child_groups(&self, path: &str) -> Result<Vec<String>> {
        match self.group(path)? {
            Some(g) => g.groups().map_err(|e| corrupt(path, e)),
            None => Ok(Vec::new()),
        }
    }

    /// Names of the datasets directly in the group at `path`, or `None` when
    /// the group is missing.
    pub(crate) fn datasets(&self, path: &str) -> Result<Option<Vec<String>>> {
        match self.group(path)? {
            Some(g) => g.datasets().map(Some).map_err(|e| corrupt(path, e)),
            None => Ok(None),
        }
    }

    /// The `name` attribute Keras writes on every `vars` group (the layer's name
    /// when it was saved), if present and a string.
    pub(crate) fn saved_name(&self, vars_path: &str) -> Option<String> {
        let attrs = self.group(vars_path).ok()??.attrs().ok()?;
        match attrs.get("name")? {
            AttrValue::VarLenString(s) | AttrValue::String(s) | AttrValue::AsciiString(s) => {
                Some(s.clone())
            }
            _ => None,
        }
    }

    /// The shape of the dataset `name` in group `group`.
    pub(crate) fn shape(&self, group: &str, name: &str) -> Result<Vec<usize>> {
        let path = format!("{group}/{name}");
        let g = self
            .group(group)?
            .ok_or_else(|| corrupt(&path, "the group disappeared"))?;
        let ds = g.dataset(name).map_err(|e| corrupt(&path, e))?;
        let shape = ds.shape().map_err(|e| corrupt(&path, e))?;
        shape
            .into_iter()
            .map(|d| usize::try_from(d).map_err(|_| corrupt(&path, "dimension too large")))
            .collect()
    }

    /// Reads the dataset `name` of group `group` as float32 with the given shape
    /// (already checked against the file's).
    pub(crate) fn read(&self, group: &str, name: &str, shape: &[usize]) -> Result<ArrayD<f32>> {
        let path = format!("{group}/{name}");
        let g = self
            .group(group)?
            .ok_or_else(|| corrupt(&path, "the group disappeared"))?;
        let ds = g.dataset(name).map_err(|e| corrupt(&path, e))?;
        if let Ok(attrs) = ds.attrs() {
            if let Some(AttrValue::VarLenString(s) | AttrValue::String(s)) = attrs.get("dtype") {
                if s == "bfloat16" {
                    return Err(corrupt(
                        &path,
                        "bfloat16 weights are not supported; save the Keras model in float32",
                    ));
                }
            }
        }
        let numeric = matches!(
            ds.dtype().map_err(|e| corrupt(&path, e))?,
            DType::F32
                | DType::F64
                | DType::I8
                | DType::I16
                | DType::I32
                | DType::I64
                | DType::U8
                | DType::U16
                | DType::U32
                | DType::U64
        );
        if !numeric {
            return Err(corrupt(&path, "the dataset does not hold numbers"));
        }
        let data = ds.read_f32().map_err(|e| corrupt(&path, e))?;
        ArrayD::from_shape_vec(shape.to_vec(), data).map_err(|e| corrupt(&path, e))
    }
}
