//! A siamese text matcher: one encoder, shared by two inputs, so both texts are
//! read with the same weights (Keras' shared layers).
//!
//! ```python
//! embed = Embedding(1000, 32, mask_zero=True)
//! encoder = Bidirectional(LSTM(32))
//! a, b = encoder(embed(left)), encoder(embed(right))
//! merged = Concatenate()([a, b, Subtract()([a, b]), Multiply()([a, b])])
//! same = Dense(1, activation="sigmoid")(merged)
//! ```
//!
//! Run it with `cargo run --release --example siamese`.

use ndarray::array;
use tensorweave::prelude::*;

fn main() -> tensorweave::Result<()> {
    set_random_seed(3);
    let left = Input::new([8]).dtype(DType::I32).name("left").build();
    let right = Input::new([8]).dtype(DType::I32).name("right").build();

    // `into_layer` makes a layer you can call many times; every call shares its weights.
    let embed = Embedding::new(1_000, 32).mask_zero(true).into_layer();
    let encoder = Bidirectional::new(Lstm::new(32)).into_layer();
    let a = encoder.call(&embed.call(&left)?)?;
    let b = encoder.call(&embed.call(&right)?)?;

    let diff = Subtract::new().call_many(&[&a, &b])?;
    let prod = Multiply::new().call_many(&[&a, &b])?;
    let merged = Concatenate::new().call_many(&[&a, &b, &diff, &prod])?;
    let same = Dense::new(1)
        .activation(Activation::Sigmoid)
        .call(&merged)?;
    let model = Model::new(&[left, right], &[same])?;
    println!("{}", model.summary());

    // The encoder is one layer with two nodes: its weights are counted once.
    println!(
        "encoder '{}' has {:?} (trainable, frozen) parameters",
        encoder.name(),
        encoder.count_params()
    );

    let left_batch = array![[4, 8, 15, 16, 23, 42, 0, 0], [7, 7, 7, 0, 0, 0, 0, 0]];
    let right_batch = array![[4, 8, 15, 16, 23, 42, 0, 0], [9, 1, 2, 3, 0, 0, 0, 0]];
    let out = model.predict(&[left_batch.into(), right_batch.into()])?;
    println!("match scores: {:.4}", out[0].as_f32()?);
    Ok(())
}
