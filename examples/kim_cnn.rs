//! Kim (2014)-style CNN for sentence classification: parallel Conv1D branches
//! with different window sizes, each max-pooled over time, concatenated.
//!
//! ```python
//! x = Embedding(10000, 64)(tokens)
//! pooled = [GlobalMaxPooling1D()(Conv1D(32, k, activation="relu")(x)) for k in (3, 4, 5)]
//! x = Dropout(0.5)(Concatenate()(pooled))
//! preds = Dense(4, activation="softmax")(x)
//! ```
//!
//! Run it with `cargo run --release --example kim_cnn`.

use ndarray::Array2;
use tensorweave::prelude::*;

fn main() -> tensorweave::Result<()> {
    set_random_seed(11);
    let tokens = Input::new([50]).dtype(DType::I32).name("tokens").build();
    let x = Embedding::new(10_000, 64).call(&tokens)?;

    // One branch per window size: n-gram detectors of width 3, 4 and 5.
    let mut pooled = Vec::new();
    for k in [3, 4, 5] {
        let features = Conv1D::new(32, k)
            .activation(Activation::Relu)
            .name(format!("conv_{k}"))
            .call(&x)?;
        pooled.push(GlobalMaxPooling1D::new().call(&features)?);
    }
    let refs: Vec<&Tensor> = pooled.iter().collect();
    let x = Concatenate::new().call_many(&refs)?;
    let x = Dropout::new(0.5).call(&x)?; // the identity at inference
    let preds = Dense::new(4).activation(Activation::Softmax).call(&x)?;
    let model = Model::new(&[tokens], &[preds])?;
    println!("{}", model.summary());

    let batch = Array2::from_shape_fn((2, 50), |(i, t)| ((i * 131 + t * 17) % 9_999 + 1) as i32);
    let out = model.predict(&[batch.into()])?;
    println!("class probabilities:\n{:.4}", out[0].as_f32()?);
    Ok(())
}
