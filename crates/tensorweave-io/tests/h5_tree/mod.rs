//! A whole HDF5 weights file as plain values, read with `hdf5-pure` (the
//! library behind the crate's reader, `h5/store.rs`), and written again with
//! the crate's writer (`h5/writer.rs`). Shared by `tests/h5_write.rs` and the
//! `rewrite_keras_archives` example.
#![allow(dead_code)]

use std::collections::BTreeMap;

use hdf5_pure::{AttrValue, DType, File, Group};
use tensorweave_io::h5_weights::writer::{H5Attr, H5Writer};

/// One dataset: element type, shape, the stored bytes and its attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct H5Dataset {
    pub dtype: DType,
    pub shape: Vec<u64>,
    pub raw: Vec<u8>,
    pub attrs: BTreeMap<String, AttrValue>,
}

/// Every group (with its attributes) and every dataset, by path (`""` is the root).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct H5Tree {
    pub groups: BTreeMap<String, BTreeMap<String, AttrValue>>,
    pub datasets: BTreeMap<String, H5Dataset>,
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}/{name}")
    }
}

impl H5Tree {
    /// Reads every group, attribute and dataset of an HDF5 file.
    pub fn read(bytes: Vec<u8>) -> Result<Self, String> {
        let file = File::from_bytes(bytes).map_err(|e| format!("open: {e}"))?;
        let mut tree = H5Tree::default();
        tree.walk(&file.root(), "")?;
        Ok(tree)
    }

    fn walk(&mut self, group: &Group, path: &str) -> Result<(), String> {
        let attrs = group.attrs().map_err(|e| format!("{path}: attrs: {e}"))?;
        self.groups
            .insert(path.to_string(), attrs.into_iter().collect());
        for name in group
            .datasets()
            .map_err(|e| format!("{path}: datasets: {e}"))?
        {
            let full = join(path, &name);
            let ds = group.dataset(&name).map_err(|e| format!("{full}: {e}"))?;
            let dataset = H5Dataset {
                dtype: ds.dtype().map_err(|e| format!("{full}: dtype: {e}"))?,
                shape: ds.shape().map_err(|e| format!("{full}: shape: {e}"))?,
                raw: ds.read_raw().map_err(|e| format!("{full}: data: {e}"))?,
                attrs: ds
                    .attrs()
                    .map_err(|e| format!("{full}: attrs: {e}"))?
                    .into_iter()
                    .collect(),
            };
            self.datasets.insert(full, dataset);
        }
        for name in group.groups().map_err(|e| format!("{path}: groups: {e}"))? {
            let child = group
                .group(&name)
                .map_err(|e| format!("{path}/{name}: {e}"))?;
            self.walk(&child, &join(path, &name))?;
        }
        Ok(())
    }

    /// The tree written again by `H5Writer`.
    pub fn rewrite(&self) -> Result<Vec<u8>, String> {
        let attr = |path: &str, value: &AttrValue| match value {
            AttrValue::VarLenString(s) => Ok(H5Attr::Str(s.clone())),
            AttrValue::I64(i) => Ok(H5Attr::Int(*i)),
            other => Err(format!(
                "{path}: attribute type {other:?} is not one Keras writes"
            )),
        };
        let mut h5 = H5Writer::new();
        for (path, attrs) in &self.groups {
            h5.create_group(path).map_err(|e| e.to_string())?;
            for (name, value) in attrs {
                h5.set_attr(path, name, attr(path, value)?)
                    .map_err(|e| e.to_string())?;
            }
        }
        for (path, ds) in &self.datasets {
            let shape: Vec<usize> = ds.shape.iter().map(|&d| d as usize).collect();
            let written = match ds.dtype {
                DType::F32 => {
                    let values: Vec<f32> = ds
                        .raw
                        .chunks_exact(4)
                        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                        .collect();
                    h5.write_f32(path, &shape, &values)
                }
                DType::I64 => {
                    let values: Vec<i64> = ds
                        .raw
                        .chunks_exact(8)
                        .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")))
                        .collect();
                    h5.write_i64(path, &shape, &values)
                }
                ref other => {
                    return Err(format!(
                        "{path}: dataset type {other:?} is not one Keras writes"
                    ))
                }
            };
            written.map_err(|e| e.to_string())?;
            for (name, value) in &ds.attrs {
                h5.set_attr(path, name, attr(path, value)?)
                    .map_err(|e| e.to_string())?;
            }
        }
        h5.to_bytes().map_err(|e| e.to_string())
    }

    /// The first difference from `other`, described, or `None`.
    pub fn first_difference(&self, other: &H5Tree) -> Option<String> {
        let group_paths: Vec<_> = self.groups.keys().collect();
        let other_groups: Vec<_> = other.groups.keys().collect();
        if group_paths != other_groups {
            return Some(format!("groups {group_paths:?} vs {other_groups:?}"));
        }
        for (path, attrs) in &self.groups {
            if other.groups[path] != *attrs {
                return Some(format!(
                    "attributes of '{path}': {attrs:?} vs {:?}",
                    other.groups[path]
                ));
            }
        }
        let names: Vec<_> = self.datasets.keys().collect();
        let other_names: Vec<_> = other.datasets.keys().collect();
        if names != other_names {
            return Some(format!("datasets {names:?} vs {other_names:?}"));
        }
        for (path, ds) in &self.datasets {
            let o = &other.datasets[path];
            if ds != o {
                return Some(format!(
                    "dataset '{path}': {:?} {:?} ({} bytes) vs {:?} {:?} ({} bytes), bytes equal: {}",
                    ds.dtype, ds.shape, ds.raw.len(), o.dtype, o.shape, o.raw.len(), ds.raw == o.raw
                ));
            }
        }
        None
    }
}
