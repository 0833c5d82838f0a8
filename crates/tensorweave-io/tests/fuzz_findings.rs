//! Every input the fuzz targets once crashed on (`tests/fixtures/hostile/fuzz_findings/`)
//! is run through the same code as its target: it must load or fail with an
//! error, never panic. See the folder's README.md.

use std::path::{Path, PathBuf};

use tensorweave_core::{MemoryBudget, Model};
use tensorweave_io::ModelIo;

const BUDGET: MemoryBudget = MemoryBudget::new(256 << 20);

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

/// The fixture model a fuzz input's first byte names (sorted fixture dirs, as
/// the fuzz targets and the `fuzz_seeds` example number them).
fn model_for(byte: u8) -> Option<Model> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root().join("keras"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("model.keras").is_file())
        .collect();
    dirs.sort();
    let dir = &dirs[usize::from(byte) % dirs.len()];
    tensorweave_io::load::load_model(&dir.join("model.keras"), None).ok()
}

fn run(target: &str, data: &[u8]) {
    match target {
        "keras_archive" => {
            if let Ok(a) = tensorweave_io::keras_archive::read_keras_archive_from_with(
                std::io::Cursor::new(data),
                "f.keras",
                &BUDGET,
            ) {
                let registry = tensorweave_io::default_registry();
                if let Ok(m) = tensorweave_io::model_from_keras_config(&a.config, &registry) {
                    let _ = a.load_weights_into_with(&m, &BUDGET);
                }
            }
        }
        "keras_config" => {
            if let Ok(text) = std::str::from_utf8(data) {
                let _ = <Model as ModelIo>::from_json(text);
            }
        }
        "h5_weights" => {
            if let Some((&pick, h5)) = data.split_first() {
                if let Some(model) = model_for(pick) {
                    let _ = tensorweave_io::h5_weights::keras_h5_weights_with(&model, h5, &BUDGET);
                }
            }
        }
        "native" => {
            if data.len() >= 5 {
                let len = u32::from_le_bytes([data[1], data[2], data[3], data[4]]) as usize;
                let rest = &data[5..];
                let (json, weights) = rest.split_at(len.min(rest.len()));
                let source = Path::new("f.safetensors");
                if let Ok(text) = std::str::from_utf8(json) {
                    if let Ok(model) = <Model as ModelIo>::from_json(text) {
                        let _ = tensorweave_io::native::weights_from_safetensors(
                            &model, weights, source, &BUDGET,
                        );
                    }
                }
                if let Some(model) = model_for(data[0]) {
                    let _ = tensorweave_io::native::weights_from_safetensors(
                        &model, weights, source, &BUDGET,
                    );
                }
            }
        }
        "safetensors" => {
            if let Some((&pick, weights)) = data.split_first() {
                if let Some(model) = model_for(pick) {
                    let _ = tensorweave_io::native::weights_from_safetensors(
                        &model,
                        weights,
                        Path::new("f.safetensors"),
                        &BUDGET,
                    );
                }
            }
        }
        "npy" => {
            if let Ok(npy) = tensorweave_io::npy::Npy::from_bytes(data.to_vec(), "f.npy", &BUDGET) {
                let _ = (npy.to_f32(), npy.to_i32(), npy.to_bool());
            }
        }
        "npz" => {
            let _ = tensorweave_io::npz::read_npz_arrays_with(
                std::io::Cursor::new(data),
                "f.npz",
                &BUDGET,
            );
        }
        other => panic!("unknown fuzz target '{other}' in a finding's name"),
    }
}

#[test]
fn every_finding_now_loads_or_fails_cleanly() {
    let dir = root().join("hostile/fuzz_findings");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".md") {
            continue;
        }
        let target = name.split('-').next().unwrap();
        run(target, &std::fs::read(&path).unwrap());
        count += 1;
    }
    assert!(count > 0, "no findings in {}", dir.display());
}
