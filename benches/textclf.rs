//! The seed's text classifier at its real size (issues 4 and 13), in the
//! eight configurations of `shared/bench`: `Input(1000 int32 tokens) →
//! Embedding(20000, 100, mask_zero = True / False) → Bidirectional(LSTM(100)
//! or GRU(100)) → Dense(2, softmax)`, batch 1 and 32, two threads; and corpus
//! mode (`Model::predict_corpus`, batches of 32) on log-normal row lengths.
//!
//! `cargo bench --bench textclf` times the models with random weights and
//! random right-padded token rows (lengths uniform in [250, 1000], the first
//! row full, as `shared/bench` makes them).
//!
//! With `TW_BENCH_MEDIAN=<iters>` it skips criterion and prints, like
//! `shared/bench/ort_time.py`, one JSON line per configuration with the
//! median of `iters` calls after two warm-up calls, to set beside ONNX
//! Runtime's numbers taken right before or after.
//!
//! With `TW_KERAS_BENCH=<dir>` (the `shared/bench` folder: `<variant>/`
//! with Keras' `model.keras`, `input_b*.npy` and `output_b*.npy`) it loads
//! Keras' models, first checks the outputs against Keras' (max abs error ≤
//! 1e-4) and then times those very inputs.

use std::fs::File;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion};
use ndarray::{Array2, ArrayD};
use ndarray_npy::ReadNpyExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, LogNormal};
use tensorweave::prelude::*;

const VOCAB: usize = 20_000;
const EMBED: usize = 100;
const STEPS: usize = 1000;
const UNITS: usize = 100;

/// One of the eight configurations' models (batch size aside).
#[derive(Clone, Copy)]
struct Variant {
    gru: bool,
    mask: bool,
}

const VARIANTS: [Variant; 4] = [
    Variant {
        gru: false,
        mask: true,
    },
    Variant {
        gru: false,
        mask: false,
    },
    Variant {
        gru: true,
        mask: true,
    },
    Variant {
        gru: true,
        mask: false,
    },
];

impl Variant {
    /// The folder name in `shared/bench`.
    fn name(self) -> &'static str {
        match (self.gru, self.mask) {
            (false, true) => "bilstm_textclf",
            (false, false) => "bilstm_textclf_nomask",
            (true, true) => "bigru_textclf",
            (true, false) => "bigru_textclf_nomask",
        }
    }

    /// The model with random weights, or Keras' own under `TW_KERAS_BENCH`.
    fn model(self) -> Model {
        if let Some(dir) = keras_bench() {
            let path = dir.join(self.name()).join("model.keras");
            return Model::from_keras(&path, None)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
        reset_names();
        let tokens = Input::new([STEPS]).dtype(DType::I32).name("tokens").build();
        let x = Embedding::new(VOCAB, EMBED)
            .mask_zero(self.mask)
            .seed(1)
            .call(&tokens)
            .expect("embedding");
        let h = if self.gru {
            Bidirectional::new(Gru::new(UNITS).seed(2)).call(&x)
        } else {
            Bidirectional::new(Lstm::new(UNITS).seed(2)).call(&x)
        }
        .expect("bidirectional");
        let y = Dense::new(2)
            .activation(Activation::Softmax)
            .seed(3)
            .call(&h)
            .expect("dense");
        Model::new(&[tokens], &[y]).expect("model")
    }
}

fn keras_bench() -> Option<PathBuf> {
    std::env::var_os("TW_KERAS_BENCH").map(PathBuf::from)
}

/// Token rows as `shared/bench` makes them: row 0 full, the others of a
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

/// A corpus as `benches/corpus/corpus_ort.py` describes it (with this
/// crate's random numbers): lengths log-normal with median 170 and sigma 0.8
/// (mean ≈ 230), clipped to 1..1000, right-padded.
fn corpus(rows: usize) -> Value {
    let mut rng = StdRng::seed_from_u64(13);
    let sigma = 0.8f64;
    let lengths = LogNormal::new(230f64.ln() - sigma * sigma / 2.0, sigma).expect("log-normal");
    let mut x = Array2::<i32>::zeros((rows, STEPS));
    for mut row in x.outer_iter_mut() {
        let n = (lengths.sample(&mut rng).round() as usize).clamp(1, STEPS);
        for v in row.iter_mut().take(n) {
            *v = rng.random_range(1..VOCAB as i32);
        }
    }
    Value::I32(x.into_dyn())
}

/// Inputs per batch size: Keras' own (checked against Keras' outputs) when
/// the environment points at them, random otherwise.
fn inputs(model: &Model, variant: Variant) -> Vec<(usize, Value)> {
    if let Some(bench) = keras_bench() {
        let dir = bench.join(variant.name());
        return [1, 32]
            .into_iter()
            .map(|b| {
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
                eprintln!(
                    "{} batch {b}: max abs error vs Keras {err:.2e}",
                    variant.name()
                );
                assert!(
                    err <= 1e-4,
                    "{} batch {b}: error {err} > 1e-4",
                    variant.name()
                );
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
    let rows = [corpus(2000)];
    for variant in VARIANTS {
        let model = variant.model();
        let mut group = c.benchmark_group(variant.name());
        group
            .sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(4));
        for (batch, x) in inputs(&model, variant) {
            let xs = [x];
            group.bench_function(format!("b{batch}"), |b| {
                b.iter(|| black_box(model.predict_with(&xs, &ctx).expect("predict")))
            });
        }
        group.bench_function("corpus2000_b32", |b| {
            b.iter(|| {
                black_box(
                    model
                        .predict_corpus_with(&rows, 32, &ctx, |_, _| {})
                        .expect("predict_corpus"),
                )
            })
        });
        group.finish();
    }
}

/// `ort_time.py`'s protocol: two warm-up calls, then the median of `iters`;
/// before it, one pass over all eight configurations warms the process (the
/// allocator's first large blocks, the threads' first stacks).
fn medians(iters: usize) {
    let ctx = CallContext::with_threads(2);
    let cases: Vec<(Variant, Model)> = VARIANTS.into_iter().map(|v| (v, v.model())).collect();
    let inputs: Vec<Vec<(usize, Value)>> = cases.iter().map(|(v, m)| inputs(m, *v)).collect();
    for ((_, model), xs) in cases.iter().zip(&inputs) {
        for (_, x) in xs {
            black_box(
                model
                    .predict_with(std::slice::from_ref(x), &ctx)
                    .expect("predict"),
            );
        }
    }
    for ((variant, model), xs) in cases.iter().zip(&inputs) {
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
                variant.name(),
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
