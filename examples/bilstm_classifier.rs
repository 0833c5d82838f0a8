//! The seed's text classifier, end to end:
//!
//! ```python
//! tokens = keras.Input(shape=(100,), dtype="int32", name="tokens")
//! embedded_sequences = layers.Embedding(20000, 100, weights=[glove], mask_zero=True)(tokens)
//! l_lstm = layers.Bidirectional(layers.LSTM(64, return_sequences=True))(embedded_sequences)
//! pooled = layers.GlobalMaxPooling1D()(l_lstm)
//! preds = layers.Dense(2, activation="softmax")(pooled)
//! model = keras.Model(tokens, preds)
//! ```
//!
//! Run it with `cargo run --release --example bilstm_classifier`.

use ndarray::{Array2, ArrayD, IxDyn};
use rand::{rngs::StdRng, Rng, SeedableRng};
use tensorweave::prelude::*;

const VOCAB: usize = 20_000;
const EMBED: usize = 100;
const STEPS: usize = 100;

fn main() -> tensorweave::Result<()> {
    // Stand-in for GloVe vectors: a fixed random table (row 0 is padding).
    let mut rng = StdRng::seed_from_u64(42);
    let glove =
        ArrayD::from_shape_simple_fn(IxDyn(&[VOCAB, EMBED]), || rng.random_range(-0.5f32..0.5));
    set_random_seed(7); // reproducible LSTM and Dense initial weights

    // 1. Record the graph: every call returns a symbolic tensor.
    let tokens = Input::new([STEPS]).dtype(DType::I32).name("tokens").build();
    let embedded = Embedding::new(VOCAB, EMBED)
        .mask_zero(true)
        .weights(glove)
        .call(&tokens)?;
    println!(
        "embedded:  {}  (mask: {})",
        embedded.shape(),
        embedded.mask().is_some()
    );
    let l_lstm = Bidirectional::new(Lstm::new(64).return_sequences(true)).call(&embedded)?;
    println!(
        "l_lstm:    {}  (forward and backward halves concatenated)",
        l_lstm.shape()
    );
    let pooled = GlobalMaxPooling1D::new().call(&l_lstm)?;
    let preds = Dense::new(2)
        .activation(Activation::Softmax)
        .call(&pooled)?;
    println!("preds:     {}", preds.shape());

    // 2. Capture and compile the DAG between the input and the output.
    let model = Model::new(&[tokens], &[preds])?;
    let (trainable, frozen) = model.count_params();
    println!(
        "\nmodel '{}': {} layers, {} parameters ({} trainable)",
        model.name(),
        model.layers().len(),
        trainable + frozen,
        trainable
    );
    for layer in model.layers() {
        println!(
            "  {:<22} {:<20} {:>9} params",
            layer.name(),
            layer.class_name(),
            {
                let (t, f) = layer.count_params();
                t + f
            }
        );
    }

    // 3. Predict on a padded batch: zeros are padding, masked out of the LSTMs.
    let lengths = [100, 60, 12, 3];
    let mut batch = Array2::<i32>::zeros((lengths.len(), STEPS));
    for (row, &len) in lengths.iter().enumerate() {
        for t in 0..len {
            batch[[row, t]] = rng.random_range(1..VOCAB as i32);
        }
    }
    let started = std::time::Instant::now();
    let outputs = model.predict(&[batch.into()])?;
    let elapsed = started.elapsed();
    let probs = outputs[0].as_f32()?;
    println!(
        "\npredictions for a batch of {} (shape {}, {:.1} ms):",
        lengths.len(),
        format_dims(probs.shape()),
        elapsed.as_secs_f64() * 1e3
    );
    for (row, len) in lengths.iter().enumerate() {
        println!(
            "  {len:>3} tokens -> p = [{:.4}, {:.4}]",
            probs[[row, 0]],
            probs[[row, 1]]
        );
    }
    Ok(())
}
