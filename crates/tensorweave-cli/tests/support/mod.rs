//! What the command-line tests share: the fixtures, scratch directories, a
//! way to run the binary, and the check that a failure is one short line.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `tests/fixtures/keras/NAME` of the workspace.
pub fn fixture_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/keras")
        .join(name)
}

/// The names of the Keras fixtures (17, written by Keras 3.15.1), sorted.
pub fn fixture_names() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/keras");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 17, "the Keras fixtures: {names:?}");
    names
}

/// A fresh, empty directory `GROUP/NAME` under Cargo's test scratch space.
pub fn scratch(group: &str, name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(group)
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs the `tensorweave` binary with `args`.
pub fn tensorweave(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tensorweave"))
        .args(args)
        .output()
        .expect("the tensorweave binary runs")
}

/// `tensorweave predict MODEL --input INPUT --out OUT EXTRA…`.
pub fn predict(model: &Path, input: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["predict", p(model), "--input", p(input), "--out", p(out)];
    args.extend_from_slice(extra);
    tensorweave(&args)
}

/// A path as a command-line argument.
pub fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Asserts a failure with one short line on stderr that starts with
/// `tensorweave: error: `, contains each needle and none of the `absent`
/// strings; returns the line.
pub fn one_line_error(out: &Output, needles: &[&str], absent: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "must fail; stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr:?}");
    assert!(stderr.len() < 700, "short line: {} bytes", stderr.len());
    assert!(stderr.starts_with("tensorweave: error: "), "{stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "{needle:?} not in {stderr:?}");
    }
    for bad in absent {
        assert!(!stderr.contains(bad), "{bad:?} in {stderr:?}");
    }
    stderr
}
