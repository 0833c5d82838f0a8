//! Loading GloVe-format word vectors (`word v1 v2 … vd` per line) into a frozen
//! `Embedding`, the first step of the seed's text classifier:
//!
//! ```python
//! embedding_matrix = np.zeros((len(word_index) + 1, EMBEDDING_DIM))
//! for word, i in word_index.items():
//!     vector = embeddings_index.get(word)
//!     if vector is not None:
//!         embedding_matrix[i] = vector
//! embedding_layer = Embedding(len(word_index) + 1, EMBEDDING_DIM,
//!                             weights=[embedding_matrix], trainable=False, mask_zero=True)
//! ```
//!
//! This example writes a small vectors file first, so it runs anywhere; point
//! `read_glove` at `glove.6B.100d.txt` for the real thing.
//!
//! Run it with `cargo run --release --example glove`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use ndarray::{array, Array2};
use tensorweave::prelude::*;
use tensorweave::Error;

/// Reads `word v1 … vd` lines into a map, checking that every vector has `dim` values.
fn read_glove(path: &Path, dim: usize) -> tensorweave::Result<HashMap<String, Vec<f32>>> {
    let mut vectors = HashMap::new();
    for (n, line) in BufReader::new(std::fs::File::open(path)?)
        .lines()
        .enumerate()
    {
        let line = line?;
        let mut parts = line.split_whitespace();
        let Some(word) = parts.next() else { continue };
        let values: Vec<f32> = parts
            .map(|v| {
                v.parse::<f32>()
                    .map_err(|e| Error::Config(format!("{}:{}: {e}", path.display(), n + 1)))
            })
            .collect::<tensorweave::Result<_>>()?;
        if values.len() != dim {
            return Err(Error::Config(format!(
                "{}:{}: {} values, expected {dim}",
                path.display(),
                n + 1,
                values.len()
            )));
        }
        vectors.insert(word.to_string(), values);
    }
    Ok(vectors)
}

fn main() -> tensorweave::Result<()> {
    const DIM: usize = 4;
    let path = std::env::temp_dir().join("tensorweave-glove-example.txt");
    let mut file = std::fs::File::create(&path)?;
    writeln!(file, "the 0.1 0.2 0.3 0.4")?;
    writeln!(file, "movie 0.9 -0.1 0.0 0.3")?;
    writeln!(file, "great 0.5 0.5 -0.5 0.8")?;
    writeln!(file, "awful -0.7 0.2 0.9 -0.4")?;
    drop(file);

    // The tokenizer's word index: ids from 1; 0 is padding.
    let word_index = [
        ("the", 1),
        ("movie", 2),
        ("was", 3),
        ("great", 4),
        ("awful", 5),
    ];
    let glove = read_glove(&path, DIM)?;
    let mut matrix = Array2::<f32>::zeros((word_index.len() + 1, DIM));
    for (word, id) in word_index {
        if let Some(v) = glove.get(word) {
            matrix.row_mut(id).assign(&ndarray::ArrayView1::from(v));
        } // words without a vector ("was") keep zeros, as in the Keras recipe
    }

    let tokens = Input::new([None]).dtype(DType::I32).name("tokens").build();
    let embedded = Embedding::new(word_index.len() + 1, DIM)
        .weights(matrix.into_dyn())
        .trainable(false)
        .mask_zero(true)
        .call(&tokens)?;
    let pooled = GlobalAveragePooling1D::new().call(&embedded)?; // averages real words only
    let model = Model::new(&[tokens], &[pooled])?;
    println!("{}", model.summary()); // the table is non-trainable: the vectors are frozen

    let sentences = array![[1, 2, 3, 4, 0, 0], [1, 2, 5, 0, 0, 0]];
    let out = model.predict(&[sentences.into()])?;
    println!("mean word vector per sentence:\n{:.4}", out[0].as_f32()?);
    Ok(())
}
