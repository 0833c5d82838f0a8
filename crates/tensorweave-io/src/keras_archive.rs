//! Keras `.keras` archives (`model.save("x.keras")`): a zip holding
//! `config.json` (the model as `to_json` gives it), `metadata.json`
//! (`keras_version`, `date_saved`) and the weights, `model.weights.h5` (or
//! `model.weights.npz` when saved with `weights_format="npz"`).

use std::io::{Read, Seek};
use std::path::Path;

use tensorweave_core::{Error, MemoryBudget, Model, Result};

use crate::h5_weights::{load_keras_h5_weights_file_with, load_keras_h5_weights_with};
use crate::limits::{invalid_data, open_file, open_zip, read_zip_member, shown_at_most};
use crate::npz::load_keras_npz_weights_with;

/// The weights file found in a `.keras` archive.
#[derive(Debug, Clone, PartialEq)]
pub enum KerasWeights {
    /// `model.weights.h5` (Keras' default), as bytes.
    H5(Vec<u8>),
    /// `model.weights.npz` (`weights_format="npz"`), as bytes.
    Npz(Vec<u8>),
}

/// The contents of a `.keras` archive.
#[derive(Debug, Clone, PartialEq)]
pub struct KerasArchive {
    /// `config.json`: the model's configuration, as `model.to_json()` gives it.
    pub config: serde_json::Value,
    /// `metadata.json` (`keras_version`, `date_saved`), or `Null` when absent.
    pub metadata: serde_json::Value,
    /// The weights file.
    pub weights: KerasWeights,
    /// The files under `assets/` (vocabularies of lookup layers), by their
    /// path in the archive.
    pub assets: std::collections::BTreeMap<String, Vec<u8>>,
}

impl KerasArchive {
    /// The configuration with what Keras keeps in assets and in the weights
    /// file's own variables (vocabularies, idf weights) put in its lookup
    /// layers' configurations, ready to build.
    pub fn config_with_assets(&self, budget: &MemoryBudget) -> Result<serde_json::Value> {
        let mut config = self.config.clone();
        let h5 = match &self.weights {
            KerasWeights::H5(bytes) => Some(bytes.as_slice()),
            KerasWeights::Npz(_) => None,
        };
        crate::keras_assets::adopt_assets(&mut config, &self.assets, h5, budget)?;
        Ok(config)
    }

    /// The Keras version that saved the archive, from `metadata.json`.
    pub fn keras_version(&self) -> Option<&str> {
        self.metadata.get("keras_version")?.as_str()
    }

    /// Loads the archive's weights into `model` (built from [`KerasArchive::config`]).
    /// Everything is checked before anything is written.
    pub fn load_weights_into(&self, model: &Model) -> Result<()> {
        self.load_weights_into_with(model, &MemoryBudget::default())
    }

    /// [`KerasArchive::load_weights_into`] within `budget`.
    pub fn load_weights_into_with(&self, model: &Model, budget: &MemoryBudget) -> Result<()> {
        match &self.weights {
            KerasWeights::H5(bytes) => load_keras_h5_weights_with(model, bytes, budget),
            KerasWeights::Npz(_) => Err(invalid_data(
                "the archive stores its weights as model.weights.npz (Keras weights_format=\"npz\"), \
                 whose entries are pickled Python objects that even Keras 3.15 cannot load back; \
                 re-save the model with the default weights_format=\"h5\"",
            )),
        }
    }
}

/// Reads a `.keras` archive from disk, within the default
/// [`MemoryBudget`] (see [`read_keras_archive_with`]).
pub fn read_keras_archive(path: &Path) -> Result<KerasArchive> {
    read_keras_archive_with(path, &MemoryBudget::default())
}

/// Reads a `.keras` archive from disk.
///
/// Fails with a message naming the file when it cannot be opened, is a
/// directory or a device, is not a zip (or is truncated), is empty, lacks
/// `config.json` or the weights file, or when a member's declared or actual
/// uncompressed size is over `budget` (a zip bomb) or disagrees with the data.
pub fn read_keras_archive_with(path: &Path, budget: &MemoryBudget) -> Result<KerasArchive> {
    let file = open_file(path, "model file")?;
    read_keras_archive_from_with(
        std::io::BufReader::new(file),
        &path.display().to_string(),
        budget,
    )
}

/// Reads a `.keras` archive from any seekable reader; `source` names it in
/// errors. Uses the default [`MemoryBudget`].
pub fn read_keras_archive_from<R: Read + Seek>(reader: R, source: &str) -> Result<KerasArchive> {
    read_keras_archive_from_with(reader, source, &MemoryBudget::default())
}

/// How many member names an error lists before "… and N more".
const LISTED_MEMBERS: usize = 6;

/// The members of an archive, for messages: "the archive is empty", or their
/// first names (shortened) and how many more there are.
fn listing(names: &[String]) -> String {
    if names.is_empty() {
        return "the archive is empty".to_string();
    }
    let mut shown_names: Vec<String> = names
        .iter()
        .take(LISTED_MEMBERS)
        .map(|n| shown_at_most(n, 40))
        .collect();
    if names.len() > LISTED_MEMBERS {
        shown_names.push(format!("… and {} more", names.len() - LISTED_MEMBERS));
    }
    format!("it holds: {}", shown_names.join(", "))
}

/// Reads a `.keras` archive from any seekable reader; `source` names it in
/// errors. See [`read_keras_archive_with`] for what is checked.
pub fn read_keras_archive_from_with<R: Read + Seek>(
    reader: R,
    source: &str,
    budget: &MemoryBudget,
) -> Result<KerasArchive> {
    let (mut zip, names) = open_zip(
        reader,
        source,
        "a valid .keras archive (a zip file)",
        "is not a Keras .keras archive",
    )?;
    let json = |bytes: Vec<u8>, name: &str| -> Result<serde_json::Value> {
        serde_json::from_slice(&bytes)
            .map_err(|e| invalid_data(format!("{name} in {source} is not valid JSON: {e}")))
    };
    let mut used = 0u64;

    let config = match read_zip_member(&mut zip, "config.json", source, budget, &mut used)? {
        Some(bytes) => json(bytes, "config.json")?,
        None => {
            return Err(invalid_data(format!(
                "{source} has no config.json, so it is not a Keras .keras archive ({})",
                listing(&names)
            )))
        }
    };
    let metadata = match read_zip_member(&mut zip, "metadata.json", source, budget, &mut used)? {
        Some(bytes) => json(bytes, "metadata.json")?,
        None => serde_json::Value::Null,
    };
    let weights = if let Some(bytes) =
        read_zip_member(&mut zip, "model.weights.h5", source, budget, &mut used)?
    {
        KerasWeights::H5(bytes)
    } else if let Some(bytes) =
        read_zip_member(&mut zip, "model.weights.npz", source, budget, &mut used)?
    {
        KerasWeights::Npz(bytes)
    } else {
        return Err(invalid_data(format!(
            "{source} has no model.weights.h5 (nor model.weights.npz); {}",
            listing(&names)
        )));
    };
    let mut assets = std::collections::BTreeMap::new();
    for name in names
        .iter()
        .filter(|n| n.starts_with("assets/") && !n.ends_with('/'))
    {
        if let Some(bytes) = read_zip_member(&mut zip, name, source, budget, &mut used)? {
            assets.insert(name.clone(), bytes);
        }
    }
    Ok(KerasArchive {
        config,
        metadata,
        weights,
        assets,
    })
}

/// Loads weights from a file into `model`, by the file's name: a Keras
/// `.weights.h5` / `.h5` (Keras' layout, see [`crate::h5_weights`]) or an
/// `.npz` in `get_weights()` order (see [`crate::npz`]).
pub fn load_weights_file(model: &Model, path: &Path) -> Result<()> {
    load_weights_file_with(model, path, &MemoryBudget::default())
}

/// [`load_weights_file`] within `budget`.
pub fn load_weights_file_with(model: &Model, path: &Path, budget: &MemoryBudget) -> Result<()> {
    let name = path.to_string_lossy().to_lowercase();
    if name.ends_with(".h5") || name.ends_with(".hdf5") {
        // Keras 2's `save_weights` layout (by layer name), or Keras 3's.
        let bytes = crate::limits::read_file(path, "weights file", budget)?;
        if crate::h5_weights::is_legacy_h5(&bytes, budget)? {
            return crate::h5_weights::load_legacy_h5_weights(model, &bytes, budget);
        }
        load_keras_h5_weights_file_with(model, path, budget)
    } else if name.ends_with(".npz") {
        load_keras_npz_weights_with(model, path, budget)
    } else {
        Err(Error::Config(format!(
            "cannot tell the format of weights file {}: expected a Keras .weights.h5 or an .npz",
            path.display()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Write};

    fn zip_with(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, bytes) in entries {
            zip.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap().into_inner()
    }

    const CONFIG: &[u8] = br#"{"class_name": "Functional", "config": {}}"#;
    const METADATA: &[u8] = br#"{"keras_version": "3.15.1", "date_saved": "2026-11-28@02:34:58"}"#;

    #[test]
    fn reads_config_metadata_and_h5_weights() {
        let bytes = zip_with(&[
            ("metadata.json", METADATA),
            ("config.json", CONFIG),
            ("model.weights.h5", b"\x89HDF\r\n\x1a\n"),
        ]);
        let archive = read_keras_archive_from(Cursor::new(bytes), "x.keras").unwrap();
        assert_eq!(archive.config["class_name"], "Functional");
        assert_eq!(archive.keras_version(), Some("3.15.1"));
        assert_eq!(
            archive.weights,
            KerasWeights::H5(b"\x89HDF\r\n\x1a\n".to_vec())
        );
    }

    #[test]
    fn npz_weights_are_found_but_refused_clearly() {
        let bytes = zip_with(&[("config.json", CONFIG), ("model.weights.npz", b"PK")]);
        let archive = read_keras_archive_from(Cursor::new(bytes), "x.keras").unwrap();
        assert_eq!(archive.weights, KerasWeights::Npz(b"PK".to_vec()));
        assert_eq!(archive.metadata, serde_json::Value::Null);
        let x = tensorweave_core::Input::new([2]).build();
        let model = Model::new(std::slice::from_ref(&x), std::slice::from_ref(&x)).unwrap();
        let err = archive.load_weights_into(&model).unwrap_err().to_string();
        assert!(err.contains("weights_format"), "{err}");
    }

    #[test]
    fn missing_weights_are_named() {
        let bytes = zip_with(&[("config.json", CONFIG), ("metadata.json", METADATA)]);
        let err = read_keras_archive_from(Cursor::new(bytes), "x.keras")
            .unwrap_err()
            .to_string();
        assert!(err.contains("no model.weights.h5"), "{err}");
        assert!(
            err.contains("it holds: config.json, metadata.json"),
            "{err}"
        );
    }

    #[test]
    fn missing_config_is_named() {
        let bytes = zip_with(&[("model.weights.h5", b"")]);
        let err = read_keras_archive_from(Cursor::new(bytes), "x.keras")
            .unwrap_err()
            .to_string();
        assert!(err.contains("no config.json"), "{err}");
    }

    #[test]
    fn bad_json_is_named() {
        let bytes = zip_with(&[("config.json", b"{not json"), ("model.weights.h5", b"")]);
        let err = read_keras_archive_from(Cursor::new(bytes), "x.keras")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("config.json in x.keras is not valid JSON"),
            "{err}"
        );
    }

    #[test]
    fn truncated_and_garbage_archives_are_errors() {
        let bytes = zip_with(&[("config.json", CONFIG), ("model.weights.h5", &[7u8; 4096])]);
        for cut in [0, 1, 10, bytes.len() / 2, bytes.len() - 1] {
            let err = read_keras_archive_from(Cursor::new(bytes[..cut].to_vec()), "x.keras");
            assert!(err.is_err(), "cut at {cut}");
        }
        let err = read_keras_archive_from(Cursor::new(b"hello".to_vec()), "x.keras")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a valid .keras archive"), "{err}");
    }

    #[test]
    fn weights_formats_are_chosen_by_name() {
        let x = tensorweave_core::Input::new([2]).build();
        let model = Model::new(std::slice::from_ref(&x), std::slice::from_ref(&x)).unwrap();
        let err = load_weights_file(&model, Path::new("w.bin"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(".weights.h5"), "{err}");
    }
}
