//! Load a model saved by Keras (`model.save("model.keras")`), look at it, and run
//! it — no Python, no libhdf5:
//!
//! ```sh
//! cargo run --release --example keras_import                 # a bundled Keras 3.15.1 file
//! cargo run --release --example keras_import -- path/to/model.keras
//! ```

use std::path::PathBuf;

use ndarray::ArrayD;
use ndarray_npy::ReadNpyExt;
use tensorweave::prelude::*;
use tensorweave::Error;

fn main() -> tensorweave::Result<()> {
    let fixture =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keras/bilstm_classifier");
    let path = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| fixture.join("model.keras"));

    // The graph comes from the archive's config.json, the weights from model.weights.h5.
    let model = Model::from_keras(&path, None)?;
    println!("{}", model.summary());

    // Inputs: the bundled fixture's token ids, or zeros of the right shape.
    let inputs: Vec<Value> = if path.starts_with(&fixture) {
        let ids = ArrayD::<i32>::read_npy(std::fs::File::open(fixture.join("input_0.npy"))?)
            .map_err(|e| Error::Config(format!("input_0.npy: {e}")))?;
        vec![ids.into()]
    } else {
        model
            .inputs()
            .iter()
            .map(|t| {
                let shape: Vec<usize> = std::iter::once(2)
                    .chain(t.shape()[1..].iter().map(|d| d.unwrap_or(8)))
                    .collect();
                match t.dtype() {
                    DType::I32 => Value::I32(ArrayD::zeros(shape)),
                    _ => Value::F32(ArrayD::zeros(shape)),
                }
            })
            .collect()
    };
    for (i, out) in model.predict(&inputs)?.iter().enumerate() {
        println!("output {i}: shape {:?}\n{:.5}", out.shape(), out.as_f32()?);
    }
    if path.starts_with(&fixture) {
        let keras = ArrayD::<f32>::read_npy(std::fs::File::open(fixture.join("output_0.npy"))?)
            .map_err(|e| Error::Config(format!("output_0.npy: {e}")))?;
        let ours = model.predict(&inputs)?.remove(0).into_f32()?;
        let err = (&ours - &keras)
            .mapv(f32::abs)
            .fold(0.0f32, |m, &v| m.max(v));
        println!("largest difference from Keras' own output: {err:.2e}");
    }
    Ok(())
}
