//! The seed's BiLSTM text classifier at its real size (issue 4): `Input(1000
//! int32 tokens) → Embedding(20000, 100, mask_zero) → Bidirectional(LSTM(100))
//! → Dense(2, softmax)`, masked and unmasked, batch 1 and 32, two threads.
//!
//! `cargo bench --bench bilstm_textclf` times the model with random weights and
//! random right-padded token rows (lengths uniform in [250, 1000], the first
//! row full), as `shared/bench/make_and_time_peers.py` makes them.
//!
//! With `TW_BENCH_MEDIAN=<iters>` it skips criterion and prints, like
//! `shared/bench/ort_time.py`, one JSON line per variant and batch size with
//! the median of `iters` calls after two warm-up calls, to set beside ONNX
//! Runtime's numbers taken right before or after.
//!
//! With `TW_KERAS_BENCH=<dir>` (the folder holding `bilstm_textclf/` and
//! `bilstm_textclf_nomask/` with `input_b*.npy` and Keras' `output_b*.npy`) and
//! `TW_KERAS_WEIGHTS=<dir>` (holding `bench_weights_<variant>.npz`, Keras'
//! `get_weights()` saved with `np.savez`), it first checks the outputs against
//! Keras' (max abs error ≤ 1e-4) and then times those very inputs.

use std::fs::File;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion};
use ndarray::{Array2, ArrayD};
use ndarray_npy::{NpzReader, ReadNpyExt};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tensorweave::prelude::*;

const VOCAB: usize = 20_000;
const EMBED: usize = 100;
const STEPS: usize = 1000;
const UNITS: usize = 100;

fn build(mask: bool) -> Model {
    reset_names();
    let tokens = Input::new([STEPS]).dtype(DType::I32).name("tokens").build();
    let x = Embedding::new(VOCAB, EMBED)
        .mask_zero(mask)
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

/// Token rows as the peers' script makes them: row 0 full, the others of a
/// length uniform in [T/4, T], right-padded with zeros.
fn tokens(batch: usize, rng: &mut StdRng) -> Array2<i32> {
    let mut x = Array2::zeros((batch, STEPS));
    for (i, mut row) in x.outer_iter_mut().enumerate() {
        let n = if i == 0 {
            STEPS
        } else {
            rng.random_range(STEPS / 4..=STEPS)
        };
        for v in row.iter_mut().take(n) {
            *v = rng.random_range(1..VOCAB as i32);
        }
    }
    x
}

fn variant_name(mask: bool) -> &'static str {
    if mask {
        "bilstm_textclf"
    } else {
        "bilstm_textclf_nomask"
    }
}

/// Inputs per batch size: Keras' own (checked against Keras' outputs) when the
/// environment points at them, random otherwise.
fn inputs(model: &Model, mask: bool) -> Vec<(usize, Value)> {
    let bench = std::env::var_os("TW_KERAS_BENCH").map(PathBuf::from);
    let weights = std::env::var_os("TW_KERAS_WEIGHTS").map(PathBuf::from);
    let variant = variant_name(mask);
    if let (Some(bench), Some(weights)) = (bench, weights) {
        let path = weights.join(format!("bench_weights_{variant}.npz"));
        let mut npz = NpzReader::new(File::open(&path).expect("weights npz")).expect("npz");
        let n = npz.names().expect("names").len();
        let ws: Vec<ArrayD<f32>> = (0..n)
            .map(|i| npz.by_name(&format!("arr_{i}.npy")).expect("weight"))
            .collect();
        model.set_weights(&ws).expect("set_weights");
        return [1, 32]
            .into_iter()
            .map(|b| {
                let dir = bench.join(variant);
                let x = ArrayD::<i32>::read_npy(
                    File::open(dir.join(format!("input_b{b}.npy"))).expect("input"),
                )
                .expect("i32 input");
                let want = ArrayD::<f32>::read_npy(
                    File::open(dir.join(format!("output_b{b}.npy"))).expect("output"),
                )
                .expect("f32 output");
                let got = model.predict(&[Value::I32(x.clone())]).expect("predict");
                let got = got[0].as_f32().expect("f32");
                let err = (got - &want).iter().fold(0f32, |m, v| m.max(v.abs()));
                eprintln!("{variant} batch {b}: max abs error vs Keras {err:.2e}");
                assert!(err <= 1e-4, "{variant} batch {b}: error {err} > 1e-4");
                (b, Value::I32(x))
            })
            .collect();
    }
    let mut rng = StdRng::seed_from_u64(3);
    [1, 32]
        .into_iter()
        .map(|b| (b, Value::I32(tokens(b, &mut rng).into_dyn())))
        .collect()
}

fn bench(c: &mut Criterion) {
    let ctx = CallContext::with_threads(2);
    for mask in [true, false] {
        let model = build(mask);
        let name = variant_name(mask);
        let mut group = c.benchmark_group(name);
        group
            .sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(4));
        for (batch, x) in inputs(&model, mask) {
            let xs = [x];
            group.bench_function(format!("b{batch}"), |b| {
                b.iter(|| black_box(model.predict_with(&xs, &ctx).expect("predict")))
            });
        }
        group.finish();
    }
}

/// `ort_time.py`'s protocol: two warm-up calls, then the median of `iters`;
/// before it, one pass over all four configurations warms the process (the
/// allocator's first large blocks, the threads' first stacks).
fn medians(iters: usize) {
    let ctx = CallContext::with_threads(2);
    let cases: Vec<(bool, Model)> = [true, false].into_iter().map(|m| (m, build(m))).collect();
    let inputs: Vec<Vec<(usize, Value)>> =
        cases.iter().map(|(m, model)| inputs(model, *m)).collect();
    for ((_, model), xs) in cases.iter().zip(&inputs) {
        for (_, x) in xs {
            black_box(
                model
                    .predict_with(std::slice::from_ref(x), &ctx)
                    .expect("predict"),
            );
        }
    }
    for ((mask, model), xs) in cases.iter().zip(&inputs) {
        for (batch, x) in xs {
            let xs = std::slice::from_ref(x);
            for _ in 0..2 {
                black_box(model.predict_with(xs, &ctx).expect("predict"));
            }
            let mut ms: Vec<f64> = (0..iters.max(1))
                .map(|_| {
                    let t = Instant::now();
                    black_box(model.predict_with(xs, &ctx).expect("predict"));
                    t.elapsed().as_secs_f64() * 1e3
                })
                .collect();
            ms.sort_by(f64::total_cmp);
            println!(
                "{{\"runtime\": \"tensorweave\", \"model\": \"{}\", \"batch\": {batch}, \"threads\": 2, \"median_ms\": {:.2}}}",
                variant_name(*mask),
                ms[ms.len() / 2]
            );
        }
    }
}

criterion_group!(benches, bench);

fn main() {
    if let Some(iters) = std::env::var("TW_BENCH_MEDIAN")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        medians(iters);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
