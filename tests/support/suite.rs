//! What the suites over Keras fixture sets (`tests/fixtures/<set>/<case>`,
//! in the layout of `tests/fixtures/keras`) share: load a case's `.keras`
//! archive, compare the layer list and the outputs with Keras', then save it
//! as a Keras archive and natively and compare again; and a test that every
//! case directory has its test.

use std::path::PathBuf;

use tensorweave::prelude::*;

use super::fixture_in;

/// A directory under the system's temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("tensorweave-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// How a case's layer list is compared with Keras'.
#[derive(Debug, Clone, Copy)]
pub enum Order {
    /// Layers and ops, in Keras' `model.json` order.
    WithOps,
    /// Layers only (Keras leaves out the mask ops of implicit list masks).
    LayersOnly,
}

/// Loads case `name` of `set`, checks it against Keras, saves it as a Keras
/// archive and natively, and checks both again.
pub fn check_case(set: &str, name: &str, order: Order) {
    let case = fixture_in(set, name);
    let check_order = |model: &Model| match order {
        Order::WithOps => case.check_layer_order(model),
        Order::LayersOnly => case.check_layer_order_without_ops(model),
    };
    let model = Model::from_keras(case.dir.join("model.keras"), None)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    check_order(&model);
    let err = case.check_loaded(&model);
    assert!(err <= 1e-5, "{name}: {err}");

    let dir = TempDir::new(&format!("{set}-{name}"));
    let keras = dir.0.join("again.keras");
    model.save_keras(&keras).unwrap();
    let again = Model::from_keras(&keras, None).unwrap_or_else(|e| panic!("{name}: {e}"));
    check_order(&again);
    case.check_loaded(&again);
    let native = dir.0.join("native");
    model.save(&native).unwrap();
    let loaded = Model::load(&native).unwrap_or_else(|e| panic!("{name}: {e}"));
    case.check_loaded(&loaded);
}

/// Asserts that the case directories of `set` (those with a `model.keras`:
/// a case Keras refuses to build holds only its refusal) are `tested`.
pub fn every_case_is_tested(set: &str, tested: &[&str]) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(set);
    let mut on_disk: Vec<String> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().join("model.keras").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut tested: Vec<String> = tested.iter().map(|s| s.to_string()).collect();
    tested.sort();
    assert_eq!(on_disk, tested, "{set}: case directories and tests");
}

/// One test per case of a fixture set (checked by [`check_case`]), and a test
/// that the set has no other case than these and the `others` (tested by
/// hand in the suite).
#[macro_export]
macro_rules! fixture_cases {
    ($set:literal, $order:expr, [$($case:ident),* $(,)?], others = [$($other:literal),* $(,)?]) => {
        $(
            #[test]
            fn $case() {
                support::suite::check_case($set, stringify!($case), $order);
            }
        )*

        #[test]
        fn every_case_directory_has_a_test() {
            support::suite::every_case_is_tested(
                $set,
                &[$(stringify!($case),)* $($other,)*],
            );
        }
    };
}
