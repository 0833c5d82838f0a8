//! Zip members (`.keras`, `.npz`) and safetensors headers that lie about their
//! sizes: each is refused before memory is reserved, with one line that names
//! the member or tensor at fault ("the header" when it is no one tensor's).

use std::io::{Cursor, Write};
use std::path::Path;

use tensorweave_core::{MemoryBudget, Model};
use tensorweave_io::keras_archive::read_keras_archive_from_with;
use tensorweave_io::native::weights_from_safetensors;
use tensorweave_io::npz::read_npz_arrays_with;
use tensorweave_layers::prelude::*;

fn zip_of(entries: &[(&str, &[u8])], stored: bool) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(if stored {
        zip::CompressionMethod::Stored
    } else {
        zip::CompressionMethod::Deflated
    });
    for (name, bytes) in entries {
        zip.start_file(*name, options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// Replaces every occurrence of the 4-byte little-endian `from` by `to`.
fn patch_u32(bytes: &mut [u8], from: u32, to: u32) -> usize {
    let (f, t) = (from.to_le_bytes(), to.to_le_bytes());
    let mut n = 0;
    for i in 0..bytes.len().saturating_sub(3) {
        if bytes[i..i + 4] == f {
            bytes[i..i + 4].copy_from_slice(&t);
            n += 1;
        }
    }
    n
}

const BUDGET: MemoryBudget = MemoryBudget::new(1 << 30);

#[test]
fn a_member_inflating_past_its_declared_size_is_refused() {
    // 70001 bytes of one value, declared (in both headers) as 1000 bytes.
    let big = vec![b'{'; 70_001];
    let mut bytes = zip_of(&[("config.json", &big), ("model.weights.h5", b"")], false);
    assert!(patch_u32(&mut bytes, 70_001, 1000) >= 2);
    let err = read_keras_archive_from_with(Cursor::new(bytes), "bomb.keras", &BUDGET)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("config.json") && err.contains("bomb.keras"),
        "{err}"
    );
    assert!(err.len() < 400, "{err}");
}

#[test]
fn a_member_shorter_than_declared_is_refused() {
    let data = vec![7u8; 5000];
    let mut bytes = zip_of(&[("config.json", b"{}"), ("model.weights.h5", &data)], true);
    assert!(patch_u32(&mut bytes, 5000, 6000) >= 2);
    let err = read_keras_archive_from_with(Cursor::new(bytes), "short.keras", &BUDGET)
        .unwrap_err()
        .to_string();
    assert!(err.contains("model.weights.h5"), "{err}");
}

#[test]
fn declared_sizes_over_the_budget_are_refused_before_inflating() {
    let zeros = vec![0u8; 8 << 20];
    let bytes = zip_of(
        &[("config.json", b"{}"), ("model.weights.h5", &zeros)],
        false,
    );
    let err =
        read_keras_archive_from_with(Cursor::new(bytes), "z.keras", &MemoryBudget::new(1 << 20))
            .unwrap_err()
            .to_string();
    assert!(
        err.contains("model.weights.h5 in z.keras (uncompressed size declared in the archive)")
            && err.contains("over the memory budget of 1 MiB"),
        "{err}"
    );
}

#[test]
fn empty_archives_say_so() {
    let empty = zip_of(&[], false);
    let err = read_keras_archive_from_with(Cursor::new(empty.clone()), "e.keras", &BUDGET)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the archive is empty") && !err.contains("holds: )"),
        "{err}"
    );
    let err = read_npz_arrays_with(Cursor::new(empty), "w.npz", &BUDGET)
        .unwrap_err()
        .to_string();
    assert!(err.contains("the archive is empty"), "{err}");
}

#[test]
fn npz_members_with_lying_headers_are_named() {
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000, 10), }\n";
    npy.extend((header.len() as u16).to_le_bytes());
    npy.extend(header.as_bytes());
    npy.extend([0u8; 40]);
    let bytes = zip_of(&[("arr_0.npy", &npy)], false);
    let err = read_npz_arrays_with(Cursor::new(bytes), "w.npz", &BUDGET)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("array 'arr_0' of w.npz") && err.contains("(1000000000000, 10)"),
        "{err}"
    );
}

/// A model with weights `a/kernel` [2, 3] and `a/bias` [3], and its safetensors.
fn model_and_safetensors() -> (Model, Vec<u8>) {
    let x = Input::new([2]).name("x").build();
    let y = Dense::new(3).name("a").call(&x).unwrap();
    let model = Model::new(&[x], &[y]).unwrap();
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("tw-hostile-st-{}-{call}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    tensorweave_io::ModelIo::save_weights_safetensors(&model, dir.join("w.safetensors")).unwrap();
    let bytes = std::fs::read(dir.join("w.safetensors")).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    (model, bytes)
}

/// `bytes` with its header JSON changed by `edit`.
fn with_header(bytes: &[u8], edit: impl Fn(&mut serde_json::Value)) -> Vec<u8> {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    edit(&mut header);
    let text = serde_json::to_vec(&header).unwrap();
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend(text);
    out.extend(&bytes[8 + n..]);
    out
}

fn st_error(model: &Model, bytes: &[u8]) -> String {
    weights_from_safetensors(model, bytes, Path::new("w.safetensors"), &BUDGET)
        .unwrap_err()
        .to_string()
}

#[test]
fn safetensors_errors_name_the_tensor_at_fault() {
    let (model, bytes) = model_and_safetensors();
    weights_from_safetensors(&model, &bytes, Path::new("w.safetensors"), &BUDGET).unwrap();

    // a/bias's end offset pushed past the data: a/bias is named, not a/kernel.
    let bad = with_header(&bytes, |h| {
        let end = h["a/bias"]["data_offsets"][1].as_u64().unwrap();
        h["a/bias"]["data_offsets"][1] = (end + 4000).into();
    });
    let err = st_error(&model, &bad);
    assert!(
        err.contains("tensor 'a/bias'") && !err.contains("a/kernel"),
        "{err}"
    );

    let bad = with_header(&bytes, |h| {
        h["a/kernel"]["shape"] = serde_json::json!([1u64 << 62, 1u64 << 62])
    });
    let err = st_error(&model, &bad);
    assert!(
        err.contains("tensor 'a/kernel'") && err.contains("64-bit"),
        "{err}"
    );

    let bad = with_header(&bytes, |h| h["a/kernel"]["dtype"] = "Q7".into());
    let err = st_error(&model, &bad);
    assert!(
        err.contains("tensor 'a/kernel' has an unknown dtype \"Q7\""),
        "{err}"
    );

    let bad = with_header(&bytes, |h| h["a/bias"]["dtype"] = "F16".into());
    let err = st_error(&model, &bad);
    assert!(err.contains("tensor 'a/bias'"), "{err}");
}

#[test]
fn safetensors_header_errors_say_the_header() {
    let (model, bytes) = model_and_safetensors();
    let mut bad = bytes.clone();
    bad[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    let err = st_error(&model, &bad);
    assert!(
        err.contains("the header claims 18446744073709551615 bytes"),
        "{err}"
    );
    let mut bad = bytes.clone();
    bad[..8].copy_from_slice(&(bytes.len() as u64).to_le_bytes());
    let err = st_error(&model, &bad);
    assert!(err.contains("truncated"), "{err}");
    let err = st_error(&model, &bytes[..5]);
    assert!(err.contains("8-byte header length"), "{err}");
    let mut longer = bytes.clone();
    longer.extend([0u8; 12]);
    let err = st_error(&model, &longer);
    assert!(err.contains("the header: the tensors cover"), "{err}");
    let err = st_error(&model, &bytes[..bytes.len() - 4]);
    assert!(err.contains("tensor '"), "{err}");
}

#[test]
fn many_problems_are_summarised_in_one_line() {
    let (_, bytes) = model_and_safetensors();
    let x = Input::new([2]).build();
    let mut t = x.clone();
    for i in 0..20 {
        t = Dense::new(2).name(format!("other_{i}")).call(&t).unwrap();
    }
    let other = Model::new(&[x], &[t]).unwrap();
    let err = weights_from_safetensors(&other, &bytes, Path::new("w.safetensors"), &BUDGET)
        .unwrap_err()
        .to_string();
    assert!(err.contains("more problems") && err.len() < 500, "{err}");
}
