//! A read-only view of a Keras weights file (HDF5) over `hdf5-pure`: find
//! groups by path, list the arrays of a `vars` group, read shapes and data.
//! Every failure of the underlying reader becomes an [`Error`] that names the
//! path being read and, for HDF5 features Keras never writes (soft and
//! external links, float16, compression filters), the feature by name.
//!
//! Sizes are untrusted: before a dataset is read, its shape is counted with
//! checked arithmetic, compared with the bytes its storage really has in the
//! file, and checked against the memory budget.

use hdf5_pure::{AttrValue, DType, Datatype, File, FormatError, Group, Layout};
use ndarray::ArrayD;
use tensorweave_core::format_dims;
use tensorweave_core::{Error, MemoryBudget, Result};

use crate::limits::shown;

/// An opened HDF5 weights file.
pub(crate) struct H5Store {
    file: File,
    file_len: u64,
    budget: MemoryBudget,
}

/// An error about the file itself (unreadable, corrupt), naming `what`.
fn corrupt(what: &str, err: impl std::fmt::Display) -> Error {
    Error::Io(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!(
            "the HDF5 weights file could not be read ({}): {err}",
            shown(what)
        ),
    ))
}

/// The name of an HDF5 filter, by its registered id.
fn filter_name(id: u16) -> String {
    let name = match id {
        1 => "deflate (gzip)",
        2 => "shuffle",
        3 => "fletcher32",
        4 => "szip",
        5 => "nbit",
        6 => "scaleoffset",
        307 => "bzip2",
        32000 => "lzf",
        32001 => "blosc",
        32004 => "lz4",
        32008 => "bitshuffle",
        32013 => "zfp",
        32015 => "zstd",
        _ => return format!("compression filter {id}"),
    };
    format!("compression filter {name} (id {id})")
}

/// An error of the HDF5 reader at `what`, explained: features Keras never
/// writes are named, an undefined address (what a soft or external link
/// leaves where a hard link's address would be) is not shown as a size.
fn reader_error(what: &str, err: hdf5_pure::Error) -> Error {
    match &err {
        hdf5_pure::Error::Format(FormatError::UnsupportedFilter(id)) => corrupt(
            what,
            format!(
                "the dataset uses {}, which tensorweave does not read; Keras never compresses \
                 weights: re-save them with model.save_weights",
                filter_name(*id)
            ),
        ),
        hdf5_pure::Error::Format(FormatError::UnexpectedEof { expected, .. })
            if *expected as u64 >= u64::MAX / 2 =>
        {
            corrupt(
                what,
                "a member is a soft link or an external link (or has a corrupt address); \
                 Keras writes only hard links, so tensorweave follows no others",
            )
        }
        hdf5_pure::Error::Format(FormatError::UnexpectedEof {
            expected,
            available,
        }) => corrupt(
            what,
            format!(
                "the file is truncated or corrupt: a structure ends at byte {expected}, \
                 the file has {available} bytes"
            ),
        ),
        _ => corrupt(what, err),
    }
}

/// A dataset type for messages: `float16 dataset`, `string dataset`, ….
fn type_name(dtype: &DType) -> String {
    match dtype {
        DType::Other(dt) => match dt.as_ref() {
            Datatype::FloatingPoint { size, .. } => {
                format!("float{} dataset", u64::from(*size) * 8)
            }
            other => format!("dataset of HDF5 type {other:?}")
                .chars()
                .take(80)
                .collect(),
        },
        DType::String | DType::VariableLengthString => "string dataset".to_string(),
        other => format!("{other} dataset").chars().take(80).collect(),
    }
}

impl H5Store {
    /// Opens a file held in memory; datasets are read within `budget`.
    pub(crate) fn from_bytes(bytes: Vec<u8>, budget: MemoryBudget) -> Result<Self> {
        if bytes.len() < 8 || &bytes[..8] != b"\x89HDF\r\n\x1a\n" {
            return Err(corrupt(
                "no HDF5 signature at the start",
                "expected a Keras `.weights.h5` / `model.weights.h5` file",
            ));
        }
        let file_len = bytes.len() as u64;
        let file = File::from_bytes(bytes).map_err(|e| reader_error("opening", e))?;
        Ok(H5Store {
            file,
            file_len,
            budget,
        })
    }

    /// The group at `path` (`""` is the root), or `None` when some component is
    /// missing.
    pub(crate) fn group(&self, path: &str) -> Result<Option<Group>> {
        let mut group = self.file.root();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            let children = group.groups().map_err(|e| reader_error(path, e))?;
            if !children.iter().any(|c| c == part) {
                return Ok(None);
            }
            group = group.group(part).map_err(|e| reader_error(path, e))?;
        }
        Ok(Some(group))
    }

    /// Names of the subgroups of the group at `path` (empty when it is missing).
    pub(crate) fn child_groups(&self, path: &str) -> Result<Vec<String>> {
        match self.group(path)? {
            Some(g) => g.groups().map_err(|e| reader_error(path, e)),
            None => Ok(Vec::new()),
        }
    }

    /// Names of the datasets directly in the group at `path`, or `None` when
    /// the group is missing.
    pub(crate) fn datasets(&self, path: &str) -> Result<Option<Vec<String>>> {
        let Some(g) = self.group(path)? else {
            return Ok(None);
        };
        let names = g.datasets().map_err(|e| reader_error(path, e))?;
        // Keras numbers a group's arrays 0, 1, …; a gap means a member that is
        // not a dataset this reader opens, such as an external link: say so
        // rather than count the arrays as if the architecture differed.
        let numbered = names.iter().all(|n| n.parse::<usize>().is_ok());
        let missing = (0..names.len()).find(|i| !names.iter().any(|n| *n == i.to_string()));
        if let (true, Some(i)) = (numbered, missing) {
            return Err(corrupt(
                &format!("{path}/{i}"),
                "the group numbers its arrays with a gap here: the member is missing or is \
                 an external link, which tensorweave does not follow (Keras writes only \
                 datasets)",
            ));
        }
        Ok(Some(names))
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
        let ds = g.dataset(name).map_err(|e| reader_error(&path, e))?;
        let shape = ds.shape().map_err(|e| reader_error(&path, e))?;
        MemoryBudget::bytes_for(&format!("dataset {}", shown(&path)), &shape, 1)?;
        shape
            .into_iter()
            .map(|d| usize::try_from(d).map_err(|_| corrupt(&path, "dimension too large")))
            .collect()
    }

    /// The size in bytes of one element of the dataset `name` in `group`
    /// (4 for a type without a plain size).
    pub(crate) fn element_size(&self, group: &str, name: &str) -> Result<usize> {
        let path = format!("{group}/{name}");
        let g = self
            .group(group)?
            .ok_or_else(|| corrupt(&path, "the group disappeared"))?;
        let ds = g.dataset(name).map_err(|e| reader_error(&path, e))?;
        let dtype = ds.dtype().map_err(|e| reader_error(&path, e))?;
        Ok(match dtype {
            DType::I8 | DType::U8 => 1,
            DType::I16 | DType::U16 => 2,
            DType::F64 | DType::I64 | DType::U64 => 8,
            DType::Other(dt) => match dt.as_ref() {
                Datatype::FloatingPoint { size, .. } | Datatype::FixedPoint { size, .. } => {
                    usize::from(*size as u16)
                }
                _ => 4,
            },
            _ => 4,
        })
    }

    /// Reads the dataset `name` of group `group` as float32 with the given shape
    /// (already checked against the file's).
    pub(crate) fn read(&self, group: &str, name: &str, shape: &[usize]) -> Result<ArrayD<f32>> {
        let path = format!("{group}/{name}");
        let g = self
            .group(group)?
            .ok_or_else(|| corrupt(&path, "the group disappeared"))?;
        let ds = g.dataset(name).map_err(|e| reader_error(&path, e))?;
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
        let dtype = ds.dtype().map_err(|e| reader_error(&path, e))?;
        let numeric = matches!(
            dtype,
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
            return Err(corrupt(
                &path,
                format!(
                    "it is a {}, which tensorweave does not read; save the Keras model's \
                     weights in float32",
                    type_name(&dtype)
                ),
            ));
        }
        self.check_storage(&ds, &path, shape)?;
        let data = ds.read_f32().map_err(|e| reader_error(&path, e))?;
        ArrayD::from_shape_vec(shape.to_vec(), data).map_err(|e| corrupt(&path, e))
    }

    /// Checks, before anything is read, that the dataset's `shape` (the
    /// model's, already equal to the file's) is countable, fits the budget as
    /// float32 and as stored, and that its storage holds exactly the bytes the
    /// shape needs, inside the file.
    fn check_storage(&self, ds: &hdf5_pure::Dataset, path: &str, shape: &[usize]) -> Result<()> {
        let what = format!("dataset {}", shown(path));
        let elem = ds.element_size().map_err(|e| reader_error(path, e))?;
        let elem = usize::try_from(elem)
            .map_err(|_| corrupt(path, format!("an element size of {elem} bytes")))?;
        let stored = MemoryBudget::bytes_for(&what, shape, elem)?;
        self.budget
            .check(&format!("{what} (shape {})", format_dims(shape)), stored)?;
        self.budget.check(
            &format!("{what} (shape {}) as float32", format_dims(shape)),
            MemoryBudget::bytes_for(&what, shape, 4)?,
        )?;
        let disagree = |size: u64| {
            corrupt(
                path,
                format!(
                    "the header disagrees with the data: shape {} of {elem}-byte \
                     elements needs {stored} bytes, the dataset's storage has {size}",
                    format_dims(shape)
                ),
            )
        };
        match ds.layout().map_err(|e| reader_error(path, e))? {
            Layout::Contiguous { address, size } => {
                if size != stored {
                    return Err(disagree(size));
                }
                match address.map(|a| a.checked_add(size)) {
                    Some(Some(end)) if end <= self.file_len => Ok(()),
                    None if size == 0 => Ok(()),
                    None => Err(corrupt(path, "the dataset's data was never written")),
                    Some(_) => Err(corrupt(
                        path,
                        format!(
                            "the file is truncated: the dataset's {size} bytes end past the \
                             file's {} bytes",
                            self.file_len
                        ),
                    )),
                }
            }
            Layout::Compact { size } if size != stored => Err(disagree(size)),
            _ => Ok(()),
        }
    }
}
