//! Builds the seed corpora of the fuzz targets in `fuzz/` from the Keras
//! fixtures in `tests/fixtures/keras/*`:
//!
//! - `keras_archive/`: each `model.keras`;
//! - `keras_config/`: each `model.json` (Keras `to_json`);
//! - `h5_weights/`: one byte naming the fixture (its index in the sorted list
//!   of fixtures), then its `model.weights.h5`;
//! - `native/`: one byte naming the fixture, then the length of the native
//!   JSON as 4 little-endian bytes, the JSON, and the safetensors bytes;
//! - `safetensors/`: one byte naming the fixture, then the safetensors bytes;
//! - `npy/`: each `input_*.npy` and `output_*.npy`;
//! - `npz/`: each `weights.npz`.
//!
//! `cargo run -p tensorweave-io --example fuzz_seeds -- OUT_DIR`
//! (`fuzz/run.sh` does this). Fixtures whose model does not load (a
//! user-defined layer) give only the seeds that need no model.

use std::io::Read;
use std::path::{Path, PathBuf};

use tensorweave_core::Model;
use tensorweave_io::load::load_model;
use tensorweave_io::ModelIo;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/keras")
}

/// The fixture directories, sorted: the fuzz targets pick a model by index.
pub fn fixture_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .expect("tests/fixtures/keras exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("model.keras").is_file())
        .collect();
    dirs.sort();
    dirs
}

fn member(archive: &Path, name: &str) -> Vec<u8> {
    let file = std::fs::File::open(archive).expect("fixture archive opens");
    let mut zip = zip::ZipArchive::new(file).expect("fixture archive is a zip");
    let mut bytes = Vec::new();
    zip.by_name(name)
        .expect("fixture archive has the member")
        .read_to_end(&mut bytes)
        .expect("fixture member reads");
    bytes
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(dir).expect("corpus directory");
    std::fs::write(dir.join(name), bytes).expect("seed written");
}

/// The native seed (`index`, JSON length, JSON, safetensors) and the
/// safetensors seed (`index`, safetensors) of a model.
fn native_seeds(index: u8, model: &Model) -> (Vec<u8>, Vec<u8>) {
    let json = model.to_json().expect("model to JSON");
    let tmp = std::env::temp_dir().join(format!("tw-fuzz-seed-{}-{index}", std::process::id()));
    model.save(&tmp).expect("native save");
    let weights = std::fs::read(tmp.with_extension("safetensors")).expect("safetensors");
    let _ = std::fs::remove_file(tmp.with_extension("json"));
    let _ = std::fs::remove_file(tmp.with_extension("safetensors"));
    let mut native = vec![index];
    native.extend((json.len() as u32).to_le_bytes());
    native.extend(json.as_bytes());
    native.extend(&weights);
    let mut st = vec![index];
    st.extend(weights);
    (native, st)
}

fn main() {
    let out = PathBuf::from(std::env::args().nth(1).expect("usage: fuzz_seeds OUT_DIR"));
    let mut count = 0usize;
    for (i, dir) in fixture_dirs().iter().enumerate() {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let index = u8::try_from(i).expect("fewer than 256 fixtures");
        let archive = dir.join("model.keras");
        write(
            &out.join("keras_archive"),
            &name,
            &std::fs::read(&archive).unwrap(),
        );
        write(
            &out.join("keras_config"),
            &name,
            &std::fs::read(dir.join("model.json")).unwrap(),
        );
        let mut h5 = vec![index];
        h5.extend(member(&archive, "model.weights.h5"));
        write(&out.join("h5_weights"), &name, &h5);
        write(
            &out.join("npz"),
            &name,
            &std::fs::read(dir.join("weights.npz")).unwrap(),
        );
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let file = entry.file_name().to_string_lossy().into_owned();
            if file.ends_with(".npy") {
                write(
                    &out.join("npy"),
                    &format!("{name}-{file}"),
                    &std::fs::read(entry.path()).unwrap(),
                );
            }
        }
        count += 1;
        if let Ok(model) = load_model(&archive, None) {
            let (native, st) = native_seeds(index, &model);
            write(&out.join("native"), &name, &native);
            write(&out.join("safetensors"), &name, &st);
        }
    }
    println!(
        "seeded the fuzz corpora in {} from {count} fixtures",
        out.display()
    );
}
