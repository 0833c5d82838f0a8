//! Keras `.keras` archives (`model.save("x.keras")`): a zip holding
//! `config.json` (the model as `to_json` gives it), `metadata.json`
//! (`keras_version`, `date_saved`) and the weights, `model.weights.h5` (or
//! `model.weights.npz` when saved with `weights_format="npz"`).

use std::io::{Read, Seek};
use std::path::Path;

use tensorweave_core::{Error, Model, Result};

use crate::h5_weights::{load_keras_h5_weights, load_keras_h5_weights_file};
use crate::npz::load_keras_npz_weights;

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
}

impl KerasArchive {
    /// The Keras version that saved the archive, from `metadata.json`.
    pub fn keras_version(&self) -> Option<&str> {
        self.metadata.get("keras_version")?.as_str()
    }

    /// Loads the archive's weights into `model` (built from [`KerasArchive::config`]).
    /// Everything is checked before anything is written.
    pub fn load_weights_into(&self, model: &Model) -> Result<()> {
        match &self.weights {
            KerasWeights::H5(bytes) => load_keras_h5_weights(model, bytes),
            KerasWeights::Npz(_) => Err(invalid_data(
                "the archive stores its weights as model.weights.npz (Keras weights_format=\"npz\"), \
                 whose entries are pickled Python objects that even Keras 3.15 cannot load back; \
                 re-save the model with the default weights_format=\"h5\"",
            )),
        }
    }
}

fn invalid_data(message: impl Into<String>) -> Error {
    Error::Io(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        message.into(),
    ))
}

/// Reads a `.keras` archive from disk.
///
/// Fails with a message naming the file when it cannot be opened, is not a zip
/// (or is truncated), or lacks `config.json` or the weights file.
pub fn read_keras_archive(path: &Path) -> Result<KerasArchive> {
    let file = std::fs::File::open(path).map_err(|e| {
        Error::Io(std::io::Error::new(
            e.kind(),
            format!("cannot open {}: {e}", path.display()),
        ))
    })?;
    read_keras_archive_from(std::io::BufReader::new(file), &path.display().to_string())
}

/// Reads a `.keras` archive from any seekable reader; `source` names it in errors.
pub fn read_keras_archive_from<R: Read + Seek>(reader: R, source: &str) -> Result<KerasArchive> {
    let mut zip = zip::ZipArchive::new(reader).map_err(|e| {
        invalid_data(format!(
            "{source} is not a valid .keras archive (a zip file; it may be truncated or corrupt): {e}"
        ))
    })?;
    let names: Vec<String> = zip.file_names().map(str::to_string).collect();
    let entry = |zip: &mut zip::ZipArchive<R>, name: &str| -> Result<Option<Vec<u8>>> {
        let mut file = match zip.by_name(name) {
            Ok(f) => f,
            Err(zip::result::ZipError::FileNotFound) => return Ok(None),
            Err(e) => return Err(invalid_data(format!("cannot read {name} in {source}: {e}"))),
        };
        let mut bytes = Vec::with_capacity(usize::try_from(file.size()).unwrap_or(0).min(1 << 30));
        file.read_to_end(&mut bytes).map_err(|e| {
            invalid_data(format!(
                "cannot read {name} in {source} (the archive may be corrupt): {e}"
            ))
        })?;
        Ok(Some(bytes))
    };
    let json = |bytes: Vec<u8>, name: &str| -> Result<serde_json::Value> {
        serde_json::from_slice(&bytes)
            .map_err(|e| invalid_data(format!("{name} in {source} is not valid JSON: {e}")))
    };
    let listing = || names.join(", ");

    let config = match entry(&mut zip, "config.json")? {
        Some(bytes) => json(bytes, "config.json")?,
        None => {
            return Err(invalid_data(format!(
                "{source} has no config.json, so it is not a Keras .keras archive (it holds: {})",
                listing()
            )))
        }
    };
    let metadata = match entry(&mut zip, "metadata.json")? {
        Some(bytes) => json(bytes, "metadata.json")?,
        None => serde_json::Value::Null,
    };
    let weights = if let Some(bytes) = entry(&mut zip, "model.weights.h5")? {
        KerasWeights::H5(bytes)
    } else if let Some(bytes) = entry(&mut zip, "model.weights.npz")? {
        KerasWeights::Npz(bytes)
    } else {
        return Err(invalid_data(format!(
            "{source} has no model.weights.h5 (nor model.weights.npz); it holds: {}",
            listing()
        )));
    };
    Ok(KerasArchive {
        config,
        metadata,
        weights,
    })
}

/// Loads weights from a file into `model`, by the file's name: a Keras
/// `.weights.h5` / `.h5` (Keras' layout, see [`crate::h5_weights`]) or an
/// `.npz` in `get_weights()` order (see [`crate::npz`]).
pub fn load_weights_file(model: &Model, path: &Path) -> Result<()> {
    let name = path.to_string_lossy().to_lowercase();
    if name.ends_with(".h5") || name.ends_with(".hdf5") {
        load_keras_h5_weights_file(model, path)
    } else if name.ends_with(".npz") {
        load_keras_npz_weights(model, path)
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
        assert!(err.contains("config.json, metadata.json"), "{err}");
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
