//! What the fuzz targets share: the memory budget they load within and the
//! fixture models that the weights targets load into.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use tensorweave_core::{MemoryBudget, Model};

/// The budget every target loads within: 256 MiB. libFuzzer's
/// `-malloc_limit_mb` (set by `fuzz/run.sh`) is above it, so an allocation
/// that bypassed the budget's checks is reported as a finding.
pub const BUDGET: MemoryBudget = MemoryBudget::new(256 << 20);

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/keras")
}

/// The Keras fixture models (sorted by directory name, as `fuzz_seeds` numbers
/// them), loaded once; `None` for those that do not load (user-defined layers).
pub fn models() -> &'static [Option<Model>] {
    static MODELS: OnceLock<Vec<Option<Model>>> = OnceLock::new();
    MODELS.get_or_init(|| {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(fixtures())
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        dirs.retain(|p| p.join("model.keras").is_file());
        dirs.sort();
        dirs.iter()
            .map(|d| tensorweave_io::load::load_model(&d.join("model.keras"), None).ok())
            .collect()
    })
}

/// The model a seed's first byte names, if it loads.
pub fn model_for(byte: u8) -> Option<&'static Model> {
    let models = models();
    if models.is_empty() {
        return None;
    }
    models[usize::from(byte) % models.len()].as_ref()
}
