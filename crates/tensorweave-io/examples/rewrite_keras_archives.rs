//! Rewrites every Keras fixture archive with tensorweave's HDF5 writer, for
//! the one-off check with real Keras (`tests/h5_write_check.py`):
//!
//! ```text
//! cargo run -p tensorweave-io --example rewrite_keras_archives -- OUT_DIR
//! /work/venv/bin/python crates/tensorweave-io/tests/h5_write_check.py OUT_DIR/manifest.json
//! ```
//!
//! For each archive (the inference fixtures; when `shared/` is beside the
//! repository, all training fixtures and the benchmark model, otherwise the
//! trained archives committed in this crate) it reads `model.weights.h5` whole,
//! writes it again with `H5Writer`, zips it with the original `config.json`
//! and `metadata.json` (`write_keras_archive`) as `OUT_DIR/NN-CASE-FILE.keras`,
//! and lists the pairs in `OUT_DIR/manifest.json`. It also prints how long
//! encoding each weights file took (best of five, from the decoded arrays to
//! finished bytes).

#[path = "../tests/h5_tree/mod.rs"]
mod h5_tree;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use h5_tree::H5Tree;
use tensorweave_io::h5_weights::writer::write_keras_archive;

fn archives_in(folder: &Path, file: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path().join(file))
        .filter(|p| p.exists())
        .collect();
    found.sort();
    found
}

fn member(path: &Path, name: &str) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut entry = zip
        .by_name(name)
        .map_err(|e| format!("{}: {name}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    entry
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{}: {name}: {e}", path.display()))?;
    Ok(bytes)
}

fn main() -> Result<(), String> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or("usage: rewrite_keras_archives OUT_DIR")?,
    );
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let shared = crate_dir.join("../../../shared");
    let mut archives = archives_in(&crate_dir.join("../../tests/fixtures/keras"), "model.keras");
    let shared_train = shared.join("fixtures/keras_train");
    if shared_train.is_dir() {
        // All eight training cases, with their inputs beside them.
        archives.extend(archives_in(&shared_train, "model.keras"));
        archives.extend(archives_in(&shared_train, "trained.keras"));
    } else {
        archives.extend(archives_in(
            &crate_dir.join("tests/fixtures/keras_train"),
            "trained.keras",
        ));
    }
    let bench = shared.join("bench/bilstm_textclf/model.keras");
    if bench.exists() {
        archives.push(bench);
    }

    let mut entries = Vec::new();
    for (i, path) in archives.iter().enumerate() {
        let config = String::from_utf8(member(path, "config.json")?).map_err(|e| e.to_string())?;
        let metadata =
            String::from_utf8(member(path, "metadata.json")?).map_err(|e| e.to_string())?;
        let original = member(path, "model.weights.h5")?;
        let tree =
            H5Tree::read(original.clone()).map_err(|e| format!("{}: {e}", path.display()))?;
        // Best of five: H5Writer from arrays to finished bytes.
        let mut weights = Vec::new();
        let mut elapsed = std::time::Duration::MAX;
        for _ in 0..5 {
            let start = Instant::now();
            weights = tree
                .rewrite()
                .map_err(|e| format!("{}: {e}", path.display()))?;
            elapsed = elapsed.min(start.elapsed());
        }
        let case = path
            .parent()
            .and_then(|p| p.file_name())
            .map_or("case".into(), |n| n.to_string_lossy());
        let file = path
            .file_stem()
            .map_or("model".into(), |n| n.to_string_lossy());
        let name = format!("{i:02}-{case}-{file}.keras");
        write_keras_archive(&out.join(&name), &config, &metadata, &weights)
            .map_err(|e| e.to_string())?;
        println!(
            "{name}: weights {} B (Keras: {} B), encoded in {:.2} ms",
            weights.len(),
            original.len(),
            elapsed.as_secs_f64() * 1e3
        );
        let original = std::fs::canonicalize(path).map_err(|e| e.to_string())?;
        entries.push(serde_json::json!({"original": original, "rewritten": name}));
    }
    let manifest = serde_json::json!({ "archives": entries });
    let text = serde_json::to_string_pretty(&manifest).map_err(|e| e.to_string())?;
    std::fs::write(out.join("manifest.json"), text).map_err(|e| e.to_string())?;
    println!(
        "{} archives and manifest.json written to {}",
        archives.len(),
        out.display()
    );
    Ok(())
}
