//! How the masked BiLSTM classifier's cost grows with sequence length and
//! batch (issue 13, item 6), and what one call allocates (item 4): for every
//! (length, batch) of the grid, full rows of random tokens, the embedding
//! folded (warmed until the table exists), then the median of a few calls'
//! time, the time per token, the call's peak heap above what was live before
//! it, and the number and bytes of its allocations, from a counting global
//! allocator.
//!
//! `cargo bench --bench cost_growth` prints a markdown table (and one JSON
//! line per cell on stderr); `TW_GROWTH_QUICK=1` runs a small grid.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

use ndarray::Array2;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tensorweave::prelude::*;

/// The system allocator, counting what passes through it.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static COUNT: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);

fn grew(size: usize) {
    COUNT.fetch_add(1, Relaxed);
    BYTES.fetch_add(size, Relaxed);
    let live = LIVE.fetch_add(size, Relaxed) + size;
    PEAK.fetch_max(live, Relaxed);
}

// SAFETY: every call forwards to `System` with the caller's layout; the
// counters are only statistics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        System.dealloc(p, layout);
        LIVE.fetch_sub(layout.size(), Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        let q = System.realloc(p, layout, new);
        if !q.is_null() {
            LIVE.fetch_sub(layout.size(), Relaxed);
            grew(new);
        }
        q
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const VOCAB: usize = 20_000;
const EMBED: usize = 100;
const UNITS: usize = 100;

/// The seed's classifier with a free time axis and random weights.
fn model() -> Model {
    let tokens = Input::new([None]).dtype(DType::I32).name("tokens").build();
    let x = Embedding::new(VOCAB, EMBED)
        .mask_zero(true)
        .seed(1)
        .call(&tokens)
        .expect("embedding");
    let h = Bidirectional::new(Lstm::new(UNITS).seed(2))
        .call(&x)
        .expect("bidirectional");
    let y = Dense::new(2)
        .activation(Activation::Softmax)
        .seed(3)
        .call(&h)
        .expect("dense");
    Model::new(&[tokens], &[y]).expect("model")
}

/// What one cell of the grid measured.
struct Cell {
    median_ms: f64,
    peak_mb: f64,
    allocs: usize,
    alloc_mb: f64,
}

fn measure(model: &Model, ctx: &CallContext, steps: usize, batch: usize) -> Cell {
    let mut rng = StdRng::seed_from_u64(5);
    let x = Value::I32(
        Array2::from_shape_fn((batch, steps), |_| rng.random_range(1..VOCAB as i32)).into_dyn(),
    );
    let xs = std::slice::from_ref(&x);
    let call = || black_box(model.predict_with(xs, ctx).expect("predict"));
    // Warm up until the embedding is folded (it takes half a vocabulary of
    // tokens), and at least twice.
    let mut warm = 0;
    while warm < 2 || (model.cache_bytes() == 0 && warm < 400) {
        call();
        warm += 1;
    }
    let t = Instant::now();
    call();
    let once = t.elapsed().as_secs_f64();
    let iters = ((1.0 / once).ceil() as usize).clamp(3, 21);
    let mut ms = Vec::with_capacity(iters);
    let (mut peak, mut allocs, mut bytes) = (0usize, usize::MAX, usize::MAX);
    for _ in 0..iters {
        let live = LIVE.load(Relaxed);
        PEAK.store(live, Relaxed);
        let (c0, b0) = (COUNT.load(Relaxed), BYTES.load(Relaxed));
        let t = Instant::now();
        let out = call();
        ms.push(t.elapsed().as_secs_f64() * 1e3);
        drop(out);
        peak = peak.max(PEAK.load(Relaxed) - live);
        allocs = allocs.min(COUNT.load(Relaxed) - c0);
        bytes = bytes.min(BYTES.load(Relaxed) - b0);
    }
    ms.sort_by(f64::total_cmp);
    Cell {
        median_ms: ms[ms.len() / 2],
        peak_mb: peak as f64 / 1e6,
        allocs,
        alloc_mb: bytes as f64 / 1e6,
    }
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is read from the arguments.
    let quick = std::env::var_os("TW_GROWTH_QUICK").is_some();
    let lengths: &[usize] = if quick {
        &[100, 1000]
    } else {
        &[100, 300, 1000, 3000, 10_000]
    };
    let batches: &[usize] = if quick {
        &[1, 32]
    } else {
        &[1, 8, 32, 128, 256]
    };
    let ctx = CallContext::with_threads(2);
    println!(
        "| length | batch | median ms | ns per token | peak heap MB | allocations | allocated MB |"
    );
    println!("|---|---|---|---|---|---|---|");
    for &steps in lengths {
        for &batch in batches {
            // A fresh model per cell: the fold's table is built in the warm-up.
            let model = model();
            let c = measure(&model, &ctx, steps, batch);
            let per_token = c.median_ms * 1e6 / (steps * batch) as f64;
            println!(
                "| {steps} | {batch} | {:.2} | {per_token:.0} | {:.2} | {} | {:.2} |",
                c.median_ms, c.peak_mb, c.allocs, c.alloc_mb
            );
            eprintln!(
                "{{\"length\": {steps}, \"batch\": {batch}, \"median_ms\": {:.3}, \"ns_per_token\": {per_token:.1}, \"peak_mb\": {:.3}, \"allocs\": {}, \"alloc_mb\": {:.3}}}",
                c.median_ms, c.peak_mb, c.allocs, c.alloc_mb
            );
        }
    }
}
