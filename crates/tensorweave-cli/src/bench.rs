//! `tensorweave bench`: load once, run `predict` warm-up + timed times, print one
//! JSON line with the median, min and max milliseconds, the heap held by the
//! loaded model and inputs (`model_mb`) and the peak extra heap of a `predict`
//! (`predict_peak_mb`), and the folded embedding tables the model built
//! (`folded_mb`, in `model_mb` once built during the warm-up). With `--batch-size N` it times corpus mode over all
//! rows and adds the rows per second.

use std::path::{Path, PathBuf};
use std::time::Instant;

use tensorweave_core::{CallContext, MemoryBudget};

use crate::inspect::{check_input_file, load};
use crate::predict::read_inputs;

/// What `bench` was asked to do.
pub struct BenchArgs {
    /// The model file.
    pub model: PathBuf,
    /// Optional weights file.
    pub weights: Option<PathBuf>,
    /// One `.npy` per model input.
    pub inputs: Vec<PathBuf>,
    /// Timed runs.
    pub iters: usize,
    /// Untimed runs first.
    pub warmup: usize,
    /// Threads a layer may use (default: all cores).
    pub threads: Option<usize>,
    /// Time corpus mode ([`tensorweave_core::Model::predict_corpus`]) at this
    /// batch size instead of one `predict` on all rows.
    pub batch_size: Option<usize>,
    /// What loading the model and reading the inputs may reserve.
    pub budget: MemoryBudget,
}

/// Runs the benchmark and returns the JSON line.
pub fn run(args: &BenchArgs) -> Result<String, String> {
    for input in &args.inputs {
        check_input_file(input)?;
    }
    let model = load(&args.model, args.weights.as_deref(), &args.budget)?;
    let inputs = read_inputs(&model, &args.inputs, &args.budget)?;
    let mut ctx = CallContext::default();
    if let Some(t) = args.threads {
        ctx.threads = t.max(1);
    }
    let once = |ctx: &CallContext| match args.batch_size {
        Some(b) => model
            .predict_corpus_with(&inputs, b, ctx, |_, _| {})
            .map_err(|e| format!("predict failed: {e}")),
        None => model
            .predict_with(&inputs, ctx)
            .map_err(|e| format!("predict failed: {e}")),
    };
    for _ in 0..args.warmup {
        once(&ctx)?;
    }
    let mut times = Vec::with_capacity(args.iters.max(1));
    // Heap in use with the model loaded and the inputs read, then the peak of the
    // timed runs above it: what predict itself needs (activations, temporaries).
    let resident = crate::peak_alloc::live_bytes();
    crate::peak_alloc::reset_peak();
    for _ in 0..args.iters.max(1) {
        let start = Instant::now();
        once(&ctx)?;
        times.push(start.elapsed().as_secs_f64() * 1e3);
    }
    let predict_peak = crate::peak_alloc::peak_bytes().saturating_sub(resident);
    times.sort_by(f64::total_cmp);
    let median = if times.len() % 2 == 1 {
        times[times.len() / 2]
    } else {
        (times[times.len() / 2 - 1] + times[times.len() / 2]) / 2.0
    };
    let batch = inputs
        .first()
        .and_then(|v| v.shape().first().copied())
        .unwrap_or(0);
    let mut line = serde_json::json!({
        "median_ms": round(median),
        "min_ms": round(times[0]),
        "max_ms": round(times[times.len() - 1]),
        "batch": batch,
        "threads": ctx.threads,
        "iters": times.len(),
        "model_mb": mb(resident),
        "predict_peak_mb": mb(predict_peak),
        "folded_mb": mb(model.cache_bytes()),
        "model": model_label(&args.model),
    });
    if let Some(b) = args.batch_size {
        line["corpus_batch_size"] = b.into();
        line["rows_per_s"] = (batch as f64 / (median / 1e3)).round().into();
        line["cuts_padding"] = model.corpus_cuts_padding().into();
    }
    Ok(line.to_string())
}

fn mb(bytes: usize) -> f64 {
    (bytes as f64 / (1024.0 * 1024.0) * 100.0).round() / 100.0
}

fn round(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

fn model_label(path: &Path) -> String {
    path.display().to_string()
}
