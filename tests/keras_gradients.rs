//! First-batch gradients equal to Keras'. Each case in `tests/fixtures/keras_train`
//! (written by Keras 3.15.1, TensorFlow 2.21.0; see its README) holds the model
//! before training (`model.keras`), the data, and `grads.npz`: the gradient of the
//! first batch's training loss with respect to every trainable weight, as
//! Keras' `train_step` computes it:
//!
//! ```python
//! with tf.GradientTape() as tape:
//!     y_pred = model(x[:batch_size], training=True)
//!     loss = model._compute_loss(x, y[:batch_size], y_pred, sample_weight)
//! grads = tape.gradient(loss, model.trainable_weights)
//! ```
//!
//! Here: `Model::from_keras`, then `train::loss_and_gradients` on the same first
//! batch; the loss must equal `first_loss` (relative tolerance of `train.json`) and
//! every gradient its Keras array within the case's absolute and relative
//! tolerance. Gradients are matched by position in `trainable_paths` (Keras
//! renames some paths on load; the order is the same).

mod support;

use support::keras_train::check_case;

#[test]
fn mlp_sgd_first_batch_gradients_equal_keras() {
    let worst = check_case("mlp_sgd");
    eprintln!("mlp_sgd: max gradient error {worst:e}");
}

/// Embedding (no mask) → two Conv1D (same and valid, relu) → GlobalMaxPooling1D
/// each → Concatenate → Dense(1) logits; BinaryCrossentropy(from_logits=True).
#[test]
fn cnn_binary_adamw_first_batch_gradients_equal_keras() {
    let worst = check_case("cnn_binary_adamw");
    eprintln!("cnn_binary_adamw: max gradient error {worst:e}");
}

/// Dense(no bias) → BatchNormalization (batch statistics) → relu →
/// LayerNormalization → two heads with their own losses and loss weights, and
/// sample weights (one of them 0).
#[test]
fn bn_ln_two_outputs_first_batch_gradients_equal_keras() {
    let worst = check_case("bn_ln_two_outputs");
    eprintln!("bn_ln_two_outputs: max gradient error {worst:e}");
}

/// Embedding(mask_zero) → Bidirectional(GRU, return_sequences) → the
/// user-defined `textclf>AttLayer` of the examples (its backward written by
/// hand) → Dense(softmax); sparse categorical cross-entropy.
#[test]
fn bigru_attention_rmsprop_first_batch_gradients_equal_keras() {
    tensorweave::io::register_layer("textclf>AttLayer", support::att_layer::from_config);
    let worst = check_case("bigru_attention_rmsprop");
    eprintln!("bigru_attention_rmsprop: max gradient error {worst:e}");
}

/// Made by `tests/fixtures/keras_train_more/make_cases.py`: an MLP whose first
/// batch is weighted by `class_weight` (Keras' sample weight per row is the
/// weight of the row's class).
#[test]
fn fit_validation_class_weight_first_batch_gradients_equal_keras() {
    let worst = check_case("fit_validation_class_weight");
    eprintln!("fit_validation_class_weight: max gradient error {worst:e}");
}

/// Made by `tests/fixtures/keras_train_more/make_cases.py`: a tanh MLP with mse.
#[test]
fn fit_callbacks_first_batch_gradients_equal_keras() {
    let worst = check_case("fit_callbacks");
    eprintln!("fit_callbacks: max gradient error {worst:e}");
}
