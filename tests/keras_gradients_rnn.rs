//! First-batch gradients of recurrent models equal to Keras'. Each case in
//! `tests/fixtures/keras_train` (written by Keras 3.15.1 on TensorFlow 2.21.0;
//! see its README) holds the model before training, the data, and the
//! gradient of the first batch's training loss with respect to every
//! trainable weight as Keras' `train_step` computes it (`tape.gradient` through
//! the recurrent loop: backpropagation through time with Keras' masking).
//! `check_case` runs `train::loss_and_gradients` on the same batch and compares
//! the loss and every gradient within the case's tolerances (`train.json`:
//! gradients abs 1e-5 + rel 1e-4).

mod support;

use support::keras_train::check_case;

/// Masking, then a SimpleRNN with `go_backwards` and `return_sequences` (its
/// sequence reversed, its mask not), a GRU with the reset gate first, Dense; mse.
#[test]
fn stacked_rnn_mse_adagrad_first_batch_gradients_equal_keras() {
    let worst = check_case("stacked_rnn_mse_adagrad");
    eprintln!("stacked_rnn_mse_adagrad: max gradient error {worst:e}");
}

/// Embedding with `mask_zero`, an LSTM returning its sequence, a softmax Dense
/// per step; the loss averages over the valid steps only.
#[test]
fn seq_tagging_masked_loss_first_batch_gradients_equal_keras() {
    let worst = check_case("seq_tagging_masked_loss");
    eprintln!("seq_tagging_masked_loss: max gradient error {worst:e}");
}

/// Embedding with `mask_zero`, a Bidirectional LSTM (concat) returning its
/// sequences (zeros at padded steps; rows of length 1 and an all-padding row),
/// GlobalMaxPooling1D over every step, softmax Dense; Adam.
#[test]
fn bilstm_seed_adam_first_batch_gradients_equal_keras() {
    let worst = check_case("bilstm_seed_adam");
    eprintln!("bilstm_seed_adam: max gradient error {worst:e}");
}

/// One Embedding and one LSTM shared by two inputs (their gradients sum over
/// both calls), Subtract, Multiply, sigmoid Dense; binary cross-entropy.
#[test]
fn siamese_shared_lstm_first_batch_gradients_equal_keras() {
    let worst = check_case("siamese_shared_lstm");
    eprintln!("siamese_shared_lstm: max gradient error {worst:e}");
}

/// Made by `tests/fixtures/keras_train_more/make_cases.py`: Embedding with
/// `mask_zero`, a Bidirectional GRU and an LSTM with L1, L2 and L1L2 penalties
/// on their kernels, recurrent kernels and biases, a regularized softmax
/// Dense; the penalties enter the loss and the gradients.
#[test]
fn regularized_rnn_sgd_first_batch_gradients_equal_keras() {
    let worst = check_case("regularized_rnn_sgd");
    eprintln!("regularized_rnn_sgd: max gradient error {worst:e}");
}

/// Made by `tests/fixtures/keras_train_more/make_cases.py`: activity
/// regularizers on a masking Embedding (L2), an LSTM (L1) and a tanh Dense
/// (L1L2), each penalty divided by the batch size as Keras 3 divides it, over
/// every step (masked ones included).
#[test]
fn activity_regularized_first_batch_gradients_equal_keras() {
    let worst = check_case("activity_regularized");
    eprintln!("activity_regularized: max gradient error {worst:e}");
}
