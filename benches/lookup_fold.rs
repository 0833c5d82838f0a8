//! The embedding fold into a `Dense` that follows an `Embedding`
//! (`core_layers/lookup_fold.rs`): a token tagger `Embedding(20000, 100) →
//! Dense(64, relu) → Dense(5, softmax)` on 32 rows of 1000 random tokens, run
//! folded (the first Dense a gather from a 20,000 × 64 table) and unfolded
//! (the same model with the embedding's output also a model output, which
//! keeps the plan from deferring the lookup). Two threads.
//!
//! `cargo bench --bench lookup_fold`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use ndarray::Array2;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tensorweave::prelude::*;

fn tagger(keep_embedding: bool) -> Model {
    let tokens = Input::new([1000]).dtype(DType::I32).build();
    let x = Embedding::new(20_000, 100)
        .seed(1)
        .call(&tokens)
        .expect("embedding");
    let h = Dense::new(64)
        .activation(Activation::Relu)
        .seed(2)
        .call(&x)
        .expect("dense");
    let y = Dense::new(5)
        .activation(Activation::Softmax)
        .seed(3)
        .call(&h)
        .expect("dense");
    let outputs = if keep_embedding { vec![y, x] } else { vec![y] };
    Model::new(&[tokens], &outputs).expect("model")
}

fn bench(c: &mut Criterion) {
    let ctx = CallContext::with_threads(2);
    let mut rng = StdRng::seed_from_u64(9);
    let x = [Value::I32(
        Array2::from_shape_fn((32, 1000), |_| rng.random_range(1..20_000)).into_dyn(),
    )];
    let mut group = c.benchmark_group("lookup_fold");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for (name, keep) in [("folded_b32", false), ("unfolded_b32", true)] {
        let model = tagger(keep);
        model.predict_with(&x, &ctx).expect("predict");
        assert_eq!(model.cache_bytes() > 0, !keep, "{name}: fold state");
        group.bench_function(name, |b| {
            b.iter(|| black_box(model.predict_with(&x, &ctx).expect("predict")))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
