//! One training step (forward in training mode, backward, Adam update) of the
//! seed's BiLSTM classifier at the bench size: `Embedding(20000, 100,
//! mask_zero) → Bidirectional(LSTM(100)) → Dense(2, softmax)`, sparse
//! categorical cross-entropy, batch 32, sequences of 200 and 1,000 steps
//! (right-padded rows of lengths uniform in [T/4, T], the first row full), two
//! threads.
//!
//! `cargo bench --bench train_step` runs it under criterion. With
//! `TW_BENCH_MEDIAN=<iters>` it prints one JSON line per length with the
//! median of `iters` steps after two warm-up steps, and the activations the
//! forward kept, to set beside `benches/keras_train_step.py` (Keras'
//! `train_on_batch` on the same model, TensorFlow with two threads) run right
//! before or after.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion};
use ndarray::{Array2, ArrayD};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use tensorweave::prelude::*;
use tensorweave::train::{loss_from_config, optimizer_from_config, Trainer};

const VOCAB: usize = 20_000;
const EMBED: usize = 100;
const UNITS: usize = 100;
const BATCH: usize = 32;

fn build(steps: usize) -> Model {
    reset_names();
    let tokens = Input::new([steps]).dtype(DType::I32).build();
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

fn batch(steps: usize) -> (Value, ArrayD<f32>) {
    let mut rng = StdRng::seed_from_u64(7);
    let mut x = Array2::<i32>::zeros((BATCH, steps));
    for (i, mut row) in x.outer_iter_mut().enumerate() {
        let n = if i == 0 {
            steps
        } else {
            rng.random_range(steps / 4..=steps)
        };
        for v in row.iter_mut().take(n) {
            *v = rng.random_range(1..VOCAB as i32);
        }
    }
    let y = ArrayD::from_shape_fn(vec![BATCH], |_| rng.random_range(0..2) as f32);
    (Value::I32(x.into_dyn()), y)
}

fn trainer(model: &Model) -> Trainer {
    let adam =
        optimizer_from_config(&json!({"class_name": "Adam", "config": {"learning_rate": 0.001}}))
            .expect("adam");
    let loss = loss_from_config(&json!("sparse_categorical_crossentropy")).expect("loss");
    Trainer::new(model, adam, vec![Some(loss)])
        .expect("trainer")
        .threads(2)
}

fn medians(iters: usize) {
    for steps in [200, 1000] {
        let model = build(steps);
        let (x, y) = batch(steps);
        let mut t = trainer(&model);
        let xs = [x];
        let ys = [y];
        for _ in 0..2 {
            t.train_on_batch(&xs, &ys, None).expect("step");
        }
        let mut times: Vec<f64> = (0..iters)
            .map(|_| {
                let start = Instant::now();
                t.train_on_batch(&xs, &ys, None).expect("step");
                start.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        times.sort_by(|a, b| a.total_cmp(b));
        let run = model
            .forward_train(&xs, &CallContext::with_threads(2))
            .expect("forward");
        println!(
            "{}",
            json!({"model": "bilstm_textclf", "steps": steps, "batch": BATCH,
                   "median_ms": times[times.len() / 2], "activation_bytes": run.activation_bytes()})
        );
    }
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("train_step");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    for steps in [200, 1000] {
        let model = build(steps);
        let (x, y) = batch(steps);
        let mut t = trainer(&model);
        let (xs, ys) = ([x], [y]);
        group.bench_function(format!("bilstm_b{BATCH}_t{steps}"), |b| {
            b.iter(|| black_box(t.train_on_batch(&xs, &ys, None).expect("step")))
        });
    }
    group.finish();
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
