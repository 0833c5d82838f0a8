//! The `tensorweave` binary on hostile or unlucky input: lying `.npy`
//! headers, directories and devices given as files, archives that are empty or
//! hold huge names, user-defined layers, memory budgets, and stale outputs.
//! Every failure is one short line that names the real cause.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Output;

mod support;

use support::{fixture_dir, one_line_error, p, predict, tensorweave};

fn scratch(name: &str) -> PathBuf {
    support::scratch("hostile", name)
}

/// `predict` of the `bilstm_classifier` fixture (one int32 input `tokens`).
fn predict_classifier(input: &Path, out: &Path, extra: &[&str]) -> Output {
    let model = fixture_dir("bilstm_classifier").join("model.keras");
    predict(&model, input, out, extra)
}

/// The fixture's 328-byte input with its header's shape replaced by `shape`,
/// the header kept at its 128 bytes.
fn input_claiming(shape: &str) -> Vec<u8> {
    let bytes = std::fs::read(fixture_dir("bilstm_classifier").join("input_0.npy")).unwrap();
    assert_eq!(bytes.len(), 328);
    let dict = format!("{{'descr': '<i4', 'fortran_order': False, 'shape': {shape}, }}");
    let header = format!("{dict:<117}\n");
    assert_eq!(header.len(), 118);
    let mut out = bytes[..10].to_vec();
    out.extend(header.as_bytes());
    out.extend(&bytes[128..]);
    out
}

#[test]
fn a_small_npy_claiming_a_huge_shape_is_refused_by_name() {
    let dir = scratch("huge_npy");
    let input = dir.join("tokens.npy");
    std::fs::write(&input, input_claiming("(1000000000000, 10)")).unwrap();
    let out = predict_classifier(&input, &dir.join("out"), &[]);
    one_line_error(
        &out,
        &[
            "tokens.npy",
            "(1000000000000, 10)",
            "328 bytes",
            "truncated or its header lies",
        ],
        &["holds int32"],
    );
    assert!(
        !dir.join("out").exists(),
        "no output directory for a failed run"
    );
}

#[test]
fn truncated_and_padded_npy_files_say_so() {
    let dir = scratch("truncated_npy");
    let bytes = std::fs::read(fixture_dir("bilstm_classifier").join("input_0.npy")).unwrap();
    let input = dir.join("cut.npy");
    std::fs::write(&input, &bytes[..bytes.len() - 7]).unwrap();
    one_line_error(
        &predict_classifier(&input, &dir.join("out"), &[]),
        &["cut.npy", "(5, 10)", "truncated"],
        &["holds int32"],
    );
    let mut longer = bytes.clone();
    longer.extend([0u8; 8]);
    std::fs::write(&input, &longer).unwrap();
    one_line_error(
        &predict_classifier(&input, &dir.join("out"), &[]),
        &["disagrees with the data"],
        &["holds int32"],
    );
    std::fs::write(&input, input_claiming("(5, 10, 18446744073709551615)")).unwrap();
    one_line_error(
        &predict_classifier(&input, &dir.join("out"), &[]),
        &["64-bit"],
        &[],
    );
}

#[test]
fn directories_and_devices_are_not_files() {
    let dir = scratch("not_files");
    one_line_error(
        &predict_classifier(&dir, &dir.join("out"), &[]),
        &["is a directory"],
        &["does not exist"],
    );
    one_line_error(
        &predict_classifier(Path::new("/dev/zero"), &dir.join("out"), &[]),
        &["/dev/zero", "not a regular file"],
        &["does not exist"],
    );
    let input = fixture_dir("bilstm_classifier").join("input_0.npy");
    let fake_model = dir.join("model.keras");
    std::fs::create_dir_all(&fake_model).unwrap();
    one_line_error(
        &tensorweave(&["summary", p(&fake_model)]),
        &["is a directory"],
        &[],
    );
    let out = tensorweave(&[
        "predict",
        p(&fixture_dir("bilstm_classifier").join("model.json")),
        "--weights",
        "/dev/zero.weights.h5",
        "--input",
        p(&input),
        "--out",
        p(&dir.join("out")),
    ]);
    one_line_error(&out, &["weights file", "does not exist"], &[]);
}

#[test]
fn the_memory_budget_is_a_flag() {
    let dir = scratch("budget");
    let input = fixture_dir("bilstm_classifier").join("input_0.npy");
    let out = predict_classifier(&input, &dir.join("out"), &["--max-memory", "4K"]);
    one_line_error(
        &out,
        &["memory budget of 4 KiB", "--max-memory"],
        &["MemoryBudget"],
    );
    let out = predict_classifier(&input, &dir.join("out"), &["--max-memory", "lots"]);
    one_line_error(
        &out,
        &["--max-memory", "cannot read the memory size 'lots'"],
        &[],
    );
    let out = predict_classifier(&input, &dir.join("out"), &["--max-memory", "64M"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let model = fixture_dir("bilstm_classifier").join("model.keras");
    for command in ["summary", "convert", "plot"] {
        let mut args = vec![command, p(&model), "--max-memory", "2K"];
        if command != "summary" {
            args.extend(["-o", "x.dot"]);
        }
        one_line_error(&tensorweave(&args), &["memory budget of 2 KiB"], &[]);
    }
}

#[test]
fn user_defined_layers_get_command_line_advice() {
    let dir = fixture_dir("custom_attention");
    let out = predict(
        &dir.join("model.keras"),
        &dir.join("input_0.npy"),
        &scratch("user_layer"),
        &[],
    );
    one_line_error(
        &out,
        &["AttLayer", "user-defined", "prebuilt tensorweave command"],
        &["register_layer(", "LayerRegistry"],
    );
}

/// A zip of `entries` (deflated).
fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in entries {
        zip.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

#[test]
fn empty_archives_and_huge_names_give_short_lines() {
    let dir = scratch("archives");
    let empty = dir.join("empty.keras");
    std::fs::write(&empty, zip_of(&[])).unwrap();
    one_line_error(
        &tensorweave(&["summary", p(&empty)]),
        &["the archive is empty"],
        &["(it holds: )"],
    );

    // A class name of 10^7 characters must not come back as a 10 MB line.
    let config = std::fs::read_to_string(fixture_dir("bilstm_classifier").join("model.json"))
        .unwrap()
        .replacen(
            "\"Embedding\"",
            &format!("\"{}\"", "E".repeat(10_000_000)),
            1,
        );
    let h5 = {
        let archive = tensorweave_io::keras_archive::read_keras_archive(
            &fixture_dir("bilstm_classifier").join("model.keras"),
        )
        .unwrap();
        match archive.weights {
            tensorweave_io::keras_archive::KerasWeights::H5(b) => b,
            _ => unreachable!(),
        }
    };
    let huge = dir.join("huge_name.keras");
    std::fs::write(
        &huge,
        zip_of(&[
            ("config.json", config.as_bytes()),
            ("model.weights.h5", &h5),
        ]),
    )
    .unwrap();
    let input = fixture_dir("bilstm_classifier").join("input_0.npy");
    let out = dir.join("huge_out");
    one_line_error(
        &tensorweave(&["predict", p(&huge), "--input", p(&input), "--out", p(&out)]),
        &["EEEE", "user-defined"],
        &[],
    );
    // `summary` describes the unknown class from the file; the weights file
    // then has no group under its key, which is one short line too.
    one_line_error(
        &tensorweave(&["summary", p(&huge)]),
        &["layers/embedding"],
        &[],
    );

    // Many oddly named members: the listing is shortened.
    let names: Vec<String> = (0..50)
        .map(|i| format!("{}{i}", "n".repeat(1000)))
        .collect();
    let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b""[..])).collect();
    let many = dir.join("many.keras");
    std::fs::write(&many, zip_of(&entries)).unwrap();
    one_line_error(
        &tensorweave(&["summary", p(&many)]),
        &["no config.json", "and 44 more"],
        &[],
    );
}

#[test]
fn a_compressed_member_over_the_budget_is_refused_before_inflating() {
    let dir = scratch("bomb");
    // 64 MiB of zeros deflate to about 64 KiB.
    let zeros = vec![0u8; 64 << 20];
    let bomb = dir.join("bomb.keras");
    std::fs::write(
        &bomb,
        zip_of(&[("config.json", b"{}"), ("model.weights.h5", &zeros)]),
    )
    .unwrap();
    assert!(std::fs::metadata(&bomb).unwrap().len() < 1 << 20);
    one_line_error(
        &tensorweave(&["summary", p(&bomb), "--max-memory", "16M"]),
        &["model.weights.h5", "declared", "memory budget of 16 MiB"],
        &[],
    );
}

#[test]
fn stale_outputs_of_an_earlier_run_are_removed() {
    let out = scratch("stale").join("out");
    // bigru_merge_none has two outputs, bilstm_classifier one.
    let two = fixture_dir("bigru_merge_none");
    let run = predict(
        &two.join("model.keras"),
        &two.join("input_0.npy"),
        &out,
        &[],
    );
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(out.join("output_1.npy").exists());
    let input = fixture_dir("bilstm_classifier").join("input_0.npy");
    let run = predict_classifier(&input, &out, &[]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["output_0.npy"]);
}
