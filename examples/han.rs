//! A hierarchical attention network (Yang et al. 2016) for document
//! classification: a sentence encoder *model* runs on every sentence through
//! `TimeDistributed`, then a second bidirectional GRU with attention reads the
//! sentence vectors. The attention layer is user-defined (`shared/att_layer.rs`)
//! and registered under Keras' name, so the model also saves and loads.
//!
//! ```python
//! sentence_input = Input(shape=(MAX_WORDS,), dtype="int32")
//! embedded = Embedding(VOCAB, 50, mask_zero=True)(sentence_input)
//! l_lstm = Bidirectional(GRU(25, return_sequences=True))(embedded)
//! sent_encoder = Model(sentence_input, AttLayer(20)(l_lstm))
//!
//! review_input = Input(shape=(MAX_SENTS, MAX_WORDS), dtype="int32")
//! review_encoder = TimeDistributed(sent_encoder)(review_input)
//! l_lstm_sent = Bidirectional(GRU(25, return_sequences=True))(review_encoder)
//! preds = Dense(2, activation="softmax")(AttLayer(20)(l_lstm_sent))
//! ```
//!
//! Run it with `cargo run --release --example han`.

#[path = "shared/att_layer.rs"]
mod att_layer;

use att_layer::AttLayer;
use ndarray::Array3;
use rand::{rngs::StdRng, Rng, SeedableRng};
use tensorweave::prelude::*;

const VOCAB: usize = 5_000;
const MAX_SENTS: usize = 6;
const MAX_WORDS: usize = 20;

fn main() -> tensorweave::Result<()> {
    set_random_seed(1);

    // The sentence encoder: words -> one vector per sentence.
    let sentence = Input::new([MAX_WORDS])
        .dtype(DType::I32)
        .name("sentence")
        .build();
    let embedded = Embedding::new(VOCAB, 50).mask_zero(true).call(&sentence)?;
    let words = Bidirectional::new(Gru::new(25).return_sequences(true)).call(&embedded)?;
    // The attention layer uses the padding mask of the words, then drops it.
    let sentence_vector = AttLayer::new(20).call(&words)?;
    let sent_encoder = Model::with_name("sent_encoder", &[sentence], &[sentence_vector])?;

    // The document model: the encoder runs on each sentence.
    let review = Input::new([MAX_SENTS, MAX_WORDS])
        .dtype(DType::I32)
        .name("review")
        .build();
    let sentences = TimeDistributed::new(&sent_encoder).call(&review)?;
    let doc = Bidirectional::new(Gru::new(25).return_sequences(true)).call(&sentences)?;
    let doc_vector = AttLayer::new(20).call(&doc)?;
    let preds = Dense::new(2)
        .activation(Activation::Softmax)
        .call(&doc_vector)?;
    let model = Model::new(&[review], &[preds])?;
    println!("{}", model.summary());

    // A batch of 3 documents, each sentence right-padded with zeros.
    let mut rng = StdRng::seed_from_u64(5);
    let mut batch = Array3::<i32>::zeros((3, MAX_SENTS, MAX_WORDS));
    for doc in 0..3 {
        for sent in 0..MAX_SENTS {
            let len = rng.random_range(3..=MAX_WORDS);
            for word in 0..len {
                batch[[doc, sent, word]] = rng.random_range(1..VOCAB as i32);
            }
        }
    }
    let probs = model.predict(&[batch.clone().into()])?.remove(0);
    println!("class probabilities:\n{:.4}", probs.as_f32()?);

    // Save and load: the user layer is found by its registered Keras name.
    register_layer("textclf>AttLayer", att_layer::from_config);
    let dir = std::env::temp_dir().join("tensorweave-han-example");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("han");
    model.save(&path)?;
    let loaded = Model::load(&path)?;
    let again = loaded.predict(&[batch.into()])?.remove(0);
    println!(
        "after save + load, the predictions are identical: {}",
        again == probs
    );
    Ok(())
}
