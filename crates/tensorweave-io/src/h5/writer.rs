//! Writing Keras weights files (`model.weights.h5`) and whole `.keras`
//! archives, in pure Rust over `hdf5-pure`'s `FileBuilder`.
//!
//! [`H5Writer`] holds a tree of groups and datasets addressed by `/`-separated
//! paths (`""` is the root), so layout code can add them in any order, and
//! encodes it once at the end. It writes what Keras 3 (through h5py) writes,
//! checked against Keras' own files with h5py and `keras.saving.load_model`
//! (see `docs/serialization.md`, "Writing HDF5"):
//!
//! - groups, including empty ones (`layers/input_layer/vars` holds only its
//!   `name`);
//! - attributes: Keras puts exactly one, `name`, on every `vars` group, a
//!   scalar variable-length UTF-8 string ([`H5Attr::Str`]); integer attributes
//!   are there for completeness;
//! - datasets: little-endian float32 of any rank, 0-d included (stored with a
//!   scalar dataspace, as h5py stores a 0-d array), and int64 (the
//!   optimizer's iteration counter, `optimizer/vars/0`), contiguous and
//!   uncompressed as Keras writes them;
//! - a version 2 superblock (readable by HDF5 1.8 and later).
//!
//! [`write_keras_archive`] zips `metadata.json`, `config.json` and
//! `model.weights.h5` in that order, stored without compression, as Keras'
//! `saving_lib` does. Files are written to a temporary file beside the target
//! and renamed over it, so a failed write never leaves a half-written file.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use tensorweave_core::format_dims;

use hdf5_pure::{make_f32_type, make_i64_type, AttrValue, FileBuilder, GroupBuilder, LibVer};
use ndarray::ArrayViewD;
use tensorweave_core::{Error, Result};

/// An attribute value, of the kinds Keras writes.
#[derive(Debug, Clone, PartialEq)]
pub enum H5Attr {
    /// A scalar variable-length UTF-8 string (what h5py writes for a Python
    /// `str`, e.g. the `name` of a `vars` group).
    Str(String),
    /// A scalar little-endian int64.
    Int(i64),
}

/// The element type and little-endian bytes of a dataset.
#[derive(Debug, Clone)]
enum Elements {
    F32(Vec<u8>),
    I64(Vec<u8>),
}

#[derive(Debug, Clone)]
struct DatasetNode {
    shape: Vec<u64>,
    elements: Elements,
    attrs: BTreeMap<String, H5Attr>,
}

#[derive(Debug, Clone, Default)]
struct GroupNode {
    attrs: BTreeMap<String, H5Attr>,
    groups: BTreeMap<String, GroupNode>,
    datasets: BTreeMap<String, DatasetNode>,
}

/// An HDF5 file being assembled in memory, in the layout Keras writes.
///
/// ```
/// use tensorweave_io::h5_weights::writer::{H5Attr, H5Writer};
///
/// let mut h5 = H5Writer::new();
/// h5.create_group("layers/input_layer/vars")?;
/// h5.set_attr("layers/input_layer/vars", "name", H5Attr::Str("tokens".into()))?;
/// h5.write_f32("layers/dense/vars/0", &[2, 3], &[0.0; 6])?;
/// h5.write_i64_scalar("optimizer/vars/0", 12)?;
/// let bytes = h5.to_bytes()?;
/// assert_eq!(&bytes[..8], b"\x89HDF\r\n\x1a\n");
/// # Ok::<(), tensorweave_core::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct H5Writer {
    root: GroupNode,
}

/// The longest user-supplied text quoted in an error message.
const QUOTE_LIMIT: usize = 80;

/// `text` for an error message: quoted, cut with an ellipsis when long.
fn quote(text: &str) -> String {
    if text.chars().count() <= QUOTE_LIMIT {
        format!("'{text}'")
    } else {
        let cut: String = text.chars().take(QUOTE_LIMIT).collect();
        format!("'{cut}…'")
    }
}

fn misuse(message: String) -> Error {
    Error::Config(format!("HDF5 writer: {message}"))
}

/// The components of `path`, ignoring empty ones (`"/a//b/"` is `a/b`).
fn components(path: &str) -> Result<Vec<&str>> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    if parts.iter().any(|p| *p == "." || *p == "..") {
        return Err(misuse(format!(
            "path {} has a '.' or '..' component; HDF5 object names are plain names",
            quote(path)
        )));
    }
    Ok(parts)
}

/// `path` split into its parent's components and its last name.
fn split_leaf(path: &str) -> Result<(Vec<&str>, &str)> {
    let mut parts = components(path)?;
    match parts.pop() {
        Some(leaf) => Ok((parts, leaf)),
        None => Err(misuse(format!(
            "dataset path {} names no dataset; give e.g. 'layers/dense/vars/0'",
            quote(path)
        ))),
    }
}

impl GroupNode {
    /// The group at `parts` below `self`, created with its ancestors if missing.
    fn group_mut(&mut self, parts: &[&str], path: &str) -> Result<&mut GroupNode> {
        let mut group = self;
        for (depth, part) in parts.iter().enumerate() {
            if group.datasets.contains_key(*part) {
                return Err(misuse(format!(
                    "cannot create group {}: '{}' is a dataset",
                    quote(path),
                    parts[..=depth].join("/")
                )));
            }
            group = group.groups.entry((*part).to_string()).or_default();
        }
        Ok(group)
    }
}

impl H5Writer {
    /// An empty file (only the root group).
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates the group at `path` and any missing groups above it; an
    /// existing group is left as it is. Fails when a component is a dataset.
    pub fn create_group(&mut self, path: &str) -> Result<()> {
        let parts = components(path)?;
        self.root.group_mut(&parts, path).map(|_| ())
    }

    /// Sets (or replaces) attribute `name` on the group or dataset at `path`
    /// (`""` is the root group). Fails when nothing is at `path`.
    pub fn set_attr(&mut self, path: &str, name: &str, value: H5Attr) -> Result<()> {
        if name.is_empty() {
            return Err(misuse(format!("empty attribute name on {}", quote(path))));
        }
        let parts = components(path)?;
        let mut group = &mut self.root;
        for (depth, part) in parts.iter().enumerate() {
            let last = depth + 1 == parts.len();
            if last {
                if let Some(dataset) = group.datasets.get_mut(*part) {
                    dataset.attrs.insert(name.to_string(), value);
                    return Ok(());
                }
            }
            group = group.groups.get_mut(*part).ok_or_else(|| {
                misuse(format!(
                    "cannot set attribute {} on {}: no group or dataset there; create it first",
                    quote(name),
                    quote(path)
                ))
            })?;
        }
        group.attrs.insert(name.to_string(), value);
        Ok(())
    }

    /// Adds a dataset, creating the groups above it.
    fn insert(
        &mut self,
        path: &str,
        shape: &[usize],
        elements: Elements,
        count: usize,
    ) -> Result<()> {
        let (parents, leaf) = split_leaf(path)?;
        let expected = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        if expected != Some(count) {
            return Err(misuse(format!(
                "dataset {} has shape {} ({} values) but {count} values were given",
                quote(path),
                format_dims(shape),
                expected.map_or_else(|| "too many".to_string(), |n| n.to_string())
            )));
        }
        let group = self.root.group_mut(&parents, path)?;
        if group.groups.contains_key(leaf) || group.datasets.contains_key(leaf) {
            return Err(misuse(format!(
                "{} already exists; each dataset is written once",
                quote(path)
            )));
        }
        group.datasets.insert(
            leaf.to_string(),
            DatasetNode {
                shape: shape.iter().map(|&d| d as u64).collect(),
                elements,
                attrs: BTreeMap::new(),
            },
        );
        Ok(())
    }

    /// Writes a float32 dataset of shape `shape` (row-major `data`; `&[]` is a
    /// 0-d scalar holding one value).
    pub fn write_f32(&mut self, path: &str, shape: &[usize], data: &[f32]) -> Result<()> {
        let bytes = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.insert(path, shape, Elements::F32(bytes), data.len())
    }

    /// Writes a float32 array (any layout; stored in row-major order).
    pub fn write_array(&mut self, path: &str, array: &ArrayViewD<'_, f32>) -> Result<()> {
        let bytes = array.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.insert(path, array.shape(), Elements::F32(bytes), array.len())
    }

    /// Writes an int64 dataset of shape `shape` (row-major `data`).
    pub fn write_i64(&mut self, path: &str, shape: &[usize], data: &[i64]) -> Result<()> {
        let bytes = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.insert(path, shape, Elements::I64(bytes), data.len())
    }

    /// Writes a 0-d int64 dataset (Keras' optimizer `iteration`).
    pub fn write_i64_scalar(&mut self, path: &str, value: i64) -> Result<()> {
        self.write_i64(path, &[], &[value])
    }

    /// Writes one Keras saveable's variables: the group `<parent>/vars`
    /// with attribute `name` = `saved_name` and datasets `0`, `1`, … in the
    /// order given (for a layer: trainable variables, then non-trainable
    /// ones). With no arrays the group holds only its `name`, as Keras writes
    /// it for an `InputLayer`.
    pub fn write_vars(
        &mut self,
        parent: &str,
        saved_name: &str,
        arrays: &[ArrayViewD<'_, f32>],
    ) -> Result<()> {
        let vars = if components(parent)?.is_empty() {
            "vars".to_string()
        } else {
            format!("{}/vars", parent.trim_end_matches('/'))
        };
        self.create_group(&vars)?;
        self.set_attr(&vars, "name", H5Attr::Str(saved_name.to_string()))?;
        for (i, array) in arrays.iter().enumerate() {
            self.write_array(&format!("{vars}/{i}"), array)?;
        }
        Ok(())
    }

    /// The file as `hdf5-pure` builds it.
    fn builder(self) -> FileBuilder {
        let mut file = FileBuilder::new();
        // A version 2 superblock, readable by HDF5 1.8 and later; the default
        // (version 3) needs 1.10.
        file.with_libver_bounds(LibVer::Earliest, LibVer::V18);
        fill(&mut file, self.root);
        file
    }

    /// Encodes the file into bytes.
    pub fn to_bytes(self) -> Result<Vec<u8>> {
        self.builder()
            .finish()
            .map_err(|e| encode_failed("the weights file", e))
    }

    /// Writes the file to `path` through a temporary file beside it, renamed
    /// over `path` once complete (so `path` is never left half-written).
    pub fn write_file(self, path: &Path) -> Result<()> {
        let builder = self.builder();
        write_atomically(path, |file| {
            builder
                .finish_to(file)
                .map_err(|e| encode_failed(&path.display().to_string(), e))
        })
    }
}

fn encode_failed(what: &str, err: hdf5_pure::Error) -> Error {
    Error::Io(std::io::Error::other(format!(
        "could not write the HDF5 file {what}: {err}"
    )))
}

/// The operations `FileBuilder` (the root) and `GroupBuilder` share.
trait Container {
    fn attr(&mut self, name: &str, value: AttrValue);
    fn dataset(&mut self, name: &str) -> &mut hdf5_pure::DatasetBuilder;
    fn group(&mut self, name: &str) -> GroupBuilder;
    fn add(&mut self, group: GroupBuilder);
}

/// `Container` for the builders, which have the same methods under the same
/// names but share no trait of their own.
macro_rules! container {
    ($($builder:ty),*) => {$(
        impl Container for $builder {
            fn attr(&mut self, name: &str, value: AttrValue) {
                self.set_attr(name, value);
            }
            fn dataset(&mut self, name: &str) -> &mut hdf5_pure::DatasetBuilder {
                self.create_dataset(name)
            }
            fn group(&mut self, name: &str) -> GroupBuilder {
                self.create_group(name)
            }
            fn add(&mut self, group: GroupBuilder) {
                self.add_group(group.finish());
            }
        }
    )*};
}

container!(FileBuilder, GroupBuilder);

fn attr_value(value: H5Attr) -> AttrValue {
    match value {
        H5Attr::Str(s) => AttrValue::VarLenString(s),
        H5Attr::Int(i) => AttrValue::I64(i),
    }
}

/// Moves `node`'s attributes, datasets and subgroups into `target`.
fn fill(target: &mut impl Container, node: GroupNode) {
    for (name, value) in node.attrs {
        target.attr(&name, attr_value(value));
    }
    for (name, dataset) in node.datasets {
        let count = dataset.shape.iter().product();
        let (datatype, bytes) = match dataset.elements {
            Elements::F32(bytes) => (make_f32_type(), bytes),
            Elements::I64(bytes) => (make_i64_type(), bytes),
        };
        let builder = target.dataset(&name);
        builder
            .with_raw_data(datatype, bytes, count)
            .with_shape(&dataset.shape);
        for (attr, value) in dataset.attrs {
            builder.set_attr(&attr, attr_value(value));
        }
    }
    for (name, group) in node.groups {
        let mut child = target.group(&name);
        fill(&mut child, group);
        target.add(child);
    }
}

/// Writes `path` by calling `write` on a temporary file in the same folder,
/// then renaming it over `path`. The temporary file is removed on failure.
fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> Result<()>,
) -> Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let io_error = |what: &str, target: &Path, e: std::io::Error| {
        Error::Io(std::io::Error::new(
            e.kind(),
            format!("cannot {what} {}: {e}", target.display()),
        ))
    };
    let name = path.file_name().ok_or_else(|| {
        Error::Config(format!(
            "cannot write to {}: the path names no file",
            path.display()
        ))
    })?;
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty());
    let temp_name = format!(
        ".{}.{}-{}.tmp",
        name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let temp: PathBuf = folder.map_or_else(|| PathBuf::from(&temp_name), |f| f.join(&temp_name));
    let file = File::create(&temp).map_err(|e| io_error("create", &temp, e))?;
    let mut out = BufWriter::new(file);
    let result = write(&mut out)
        .and_then(|()| out.flush().map_err(|e| io_error("write", &temp, e)))
        .and_then(|()| {
            out.get_ref()
                .sync_all()
                .map_err(|e| io_error("write", &temp, e))
        })
        .and_then(|()| {
            drop(out);
            std::fs::rename(&temp, path).map_err(|e| io_error("replace", path, e))
        });
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// The members of a `.keras` archive, in the order Keras writes them.
const ARCHIVE_MEMBERS: [&str; 3] = ["metadata.json", "config.json", "model.weights.h5"];

/// Checks the three members and zips them into `sink`.
fn zip_archive<W: Write + std::io::Seek>(
    sink: W,
    config_json: &str,
    metadata_json: &str,
    weights_h5: &[u8],
) -> Result<W> {
    for (member, text) in [
        ("config.json", config_json),
        ("metadata.json", metadata_json),
    ] {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            Error::Config(format!(
                "the {member} given for the .keras archive is not valid JSON: {e}"
            ))
        })?;
        if !value.is_object() {
            return Err(Error::Config(format!(
                "the {member} given for the .keras archive must be a JSON object"
            )));
        }
    }
    if !weights_h5.starts_with(b"\x89HDF\r\n\x1a\n") {
        return Err(Error::Config(
            "the weights given for the .keras archive are not an HDF5 file (no HDF5 signature)"
                .to_string(),
        ));
    }
    let zip_error = |member: &str, e: &dyn std::fmt::Display| {
        Error::Io(std::io::Error::other(format!(
            "cannot write {member} into the .keras archive: {e}"
        )))
    };
    let mut zip = zip::ZipWriter::new(sink);
    let contents: [&[u8]; 3] = [metadata_json.as_bytes(), config_json.as_bytes(), weights_h5];
    for (member, bytes) in ARCHIVE_MEMBERS.iter().zip(contents) {
        // Stored, as Python's `zipfile.ZipFile(…, "w")` in Keras' saving_lib
        // does; Zip64 only when a member needs it.
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .large_file(bytes.len() as u64 >= u64::from(u32::MAX));
        zip.start_file(*member, options)
            .map_err(|e| zip_error(member, &e))?;
        zip.write_all(bytes).map_err(|e| zip_error(member, &e))?;
    }
    zip.finish().map_err(|e| zip_error("the directory", &e))
}

/// A `.keras` archive in memory: `metadata.json`, `config.json` (both must be
/// JSON objects; written byte for byte as given) and `model.weights.h5`
/// (e.g. from [`H5Writer::to_bytes`]).
pub fn keras_archive_bytes(
    config_json: &str,
    metadata_json: &str,
    weights_h5: &[u8],
) -> Result<Vec<u8>> {
    let cursor = zip_archive(
        std::io::Cursor::new(Vec::new()),
        config_json,
        metadata_json,
        weights_h5,
    )?;
    Ok(cursor.into_inner())
}

/// Writes a `.keras` archive to `path` (see [`keras_archive_bytes`]) through a
/// temporary file renamed over `path`, so a failed write leaves no partial
/// archive.
pub fn write_keras_archive(
    path: &Path,
    config_json: &str,
    metadata_json: &str,
    weights_h5: &[u8],
) -> Result<()> {
    write_atomically(path, |file| {
        zip_archive(file, config_json, metadata_json, weights_h5).map(|_| ())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdf5_pure::File as H5File;

    #[test]
    fn writes_groups_attributes_and_datasets() {
        let mut h5 = H5Writer::new();
        h5.write_vars("layers/input_layer", "tokens", &[]).unwrap();
        h5.create_group("empty").unwrap();
        h5.write_f32("a/b/c", &[2, 1, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
            .unwrap();
        h5.write_f32("a/s", &[], &[0.5]).unwrap();
        h5.write_i64_scalar("a/i", -7).unwrap();
        h5.set_attr("", "n", H5Attr::Int(3)).unwrap();
        h5.set_attr("a/s", "dtype", H5Attr::Str("x".into()))
            .unwrap();
        let file = H5File::from_bytes(h5.to_bytes().unwrap()).unwrap();
        assert_eq!(file.root().attrs().unwrap()["n"], AttrValue::I64(3));
        let vars = file.group("layers/input_layer/vars").unwrap();
        assert_eq!(
            vars.attrs().unwrap()["name"],
            AttrValue::VarLenString("tokens".into())
        );
        assert!(vars.datasets().unwrap().is_empty());
        assert!(file.group("empty").unwrap().groups().unwrap().is_empty());
        let c = file.dataset("a/b/c").unwrap();
        assert_eq!(c.shape().unwrap(), vec![2, 1, 3]);
        assert_eq!(c.read_f32().unwrap(), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let s = file.dataset("a/s").unwrap();
        assert_eq!(s.shape().unwrap(), Vec::<u64>::new());
        assert_eq!(s.read_f32().unwrap(), vec![0.5]);
        assert_eq!(
            s.attrs().unwrap()["dtype"],
            AttrValue::VarLenString("x".into())
        );
        assert_eq!(file.dataset("a/i").unwrap().read_i64().unwrap(), vec![-7]);
    }

    #[test]
    fn misuse_is_an_error_naming_the_path() {
        let mut h5 = H5Writer::new();
        h5.write_f32("g/d", &[2], &[1.0, 2.0]).unwrap();
        let errors = [
            h5.write_f32("g/d", &[1], &[1.0]).unwrap_err(),
            h5.write_f32("g/e", &[2, 2], &[1.0]).unwrap_err(),
            h5.write_f32("", &[1], &[1.0]).unwrap_err(),
            h5.create_group("g/d/x").unwrap_err(),
            h5.set_attr("nope", "name", H5Attr::Int(1)).unwrap_err(),
            h5.write_f32("g/../d", &[1], &[1.0]).unwrap_err(),
        ];
        let needles = [
            "already exists",
            "4 values",
            "names no dataset",
            "is a dataset",
            "'nope'",
            "'..'",
        ];
        for (err, needle) in errors.iter().zip(needles) {
            assert!(err.to_string().contains(needle), "{err}");
        }
        let long = "x".repeat(500);
        let err = h5
            .set_attr(&long, "a", H5Attr::Int(1))
            .unwrap_err()
            .to_string();
        assert!(err.contains('…') && err.len() < 300, "{err}");
    }

    #[test]
    fn archives_have_keras_member_order_and_no_compression() {
        let h5 = H5Writer::new().to_bytes().unwrap();
        let bytes = keras_archive_bytes("{\"a\": 1}", "{}", &h5).unwrap();
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        let names: Vec<&str> = zip.file_names().collect();
        assert_eq!(names.len(), 3);
        for (i, member) in ARCHIVE_MEMBERS.iter().enumerate() {
            let entry = zip.by_index(i).unwrap();
            assert_eq!(entry.name(), *member);
            assert_eq!(entry.compression(), zip::CompressionMethod::Stored);
        }
        let err = keras_archive_bytes("{", "{}", &h5).unwrap_err().to_string();
        assert!(err.contains("config.json"), "{err}");
        let err = keras_archive_bytes("{}", "[]", &h5)
            .unwrap_err()
            .to_string();
        assert!(err.contains("metadata.json"), "{err}");
        let err = keras_archive_bytes("{}", "{}", b"PK")
            .unwrap_err()
            .to_string();
        assert!(err.contains("HDF5 signature"), "{err}");
    }
}
