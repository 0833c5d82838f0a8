//! Recurrent kernels alone: LSTM, GRU and SimpleRNN layers on random float
//! sequences, and a Bidirectional LSTM, at a few sizes (one thread for the
//! single layers, two for Bidirectional and for `lstm_2t`, where the two
//! threads take half of the batch each).

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use ndarray::Array3;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tensorweave::prelude::*;

fn sequence(batch: usize, steps: usize, features: usize) -> Value {
    let mut rng = StdRng::seed_from_u64(7);
    Value::F32(
        Array3::from_shape_fn((batch, steps, features), |_| rng.random_range(-1.0..1.0)).into_dyn(),
    )
}

fn model_of(layer: impl IntoLayer, features: usize) -> Model {
    let x = Input::new([None, Some(features)]).build();
    let y = layer.call(&x).expect("call");
    Model::new(&[x], &[y]).expect("model")
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("rnn");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    // (batch, steps, features, units)
    for (batch, steps, features, units) in
        [(1, 200, 32, 32), (1, 500, 100, 100), (32, 200, 100, 100)]
    {
        let x = [sequence(batch, steps, features)];
        let tag = format!("b{batch}_t{steps}_f{features}_u{units}");
        let one = CallContext::with_threads(1);
        let two = CallContext::with_threads(2);
        let cases: Vec<(&str, Model, &CallContext)> = vec![
            ("lstm", model_of(Lstm::new(units).seed(1), features), &one),
            (
                "lstm_2t",
                model_of(Lstm::new(units).seed(1), features),
                &two,
            ),
            ("gru", model_of(Gru::new(units).seed(1), features), &one),
            (
                "simple_rnn",
                model_of(SimpleRnn::new(units).seed(1), features),
                &one,
            ),
            (
                "bilstm",
                model_of(Bidirectional::new(Lstm::new(units).seed(1)), features),
                &two,
            ),
        ];
        for (name, model, ctx) in cases {
            group.bench_function(format!("{name}/{tag}"), |b| {
                b.iter(|| black_box(model.predict_with(&x, ctx).expect("predict")))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
