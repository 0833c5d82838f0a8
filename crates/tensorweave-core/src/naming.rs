//! Automatic layer names, as Keras gives them: `lstm`, `lstm_1`, `lstm_2`, …
//!
//! Keras keeps one process-wide counter per prefix. tensorweave keeps the counters
//! per thread, so two models built on two threads never see each other's names,
//! while code on one thread gets exactly Keras' names. [`reset_names`] is Keras'
//! `clear_session()` for names.

use std::cell::RefCell;
use std::collections::HashMap;

thread_local! {
    static COUNTERS: RefCell<HashMap<String, usize>> = RefCell::new(HashMap::new());
}

/// Returns `prefix` the first time it is asked for on this thread, then
/// `prefix_1`, `prefix_2`, …
pub fn unique_name(prefix: &str) -> String {
    COUNTERS.with(|c| {
        let mut counters = c.borrow_mut();
        let n = counters.entry(prefix.to_string()).or_insert(0);
        let name = if *n == 0 {
            prefix.to_string()
        } else {
            format!("{prefix}_{n}")
        };
        *n += 1;
        name
    })
}

/// The automatic name for a Keras class: `GlobalMaxPooling1D` gives
/// `global_max_pooling1d`, then `global_max_pooling1d_1`, …
pub fn auto_name(class_name: &str) -> String {
    unique_name(&to_snake_case(class_name))
}

/// Forgets every counter on this thread, like Keras' `clear_session()`.
pub fn reset_names() {
    COUNTERS.with(|c| c.borrow_mut().clear());
}

/// Keras' `to_snake_case`: `LSTM` → `lstm`, `Conv1D` → `conv1d`,
/// `GlobalMaxPooling1D` → `global_max_pooling1d`, `SimpleRNN` → `simple_rnn`.
pub fn to_snake_case(name: &str) -> String {
    let cleaned: Vec<char> = name
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    // Pass 1: (.)([A-Z][a-z]+) -> \1_\2
    let mut pass1 = String::new();
    for (i, &c) in cleaned.iter().enumerate() {
        if i > 0
            && c.is_ascii_uppercase()
            && cleaned.get(i + 1).is_some_and(|n| n.is_ascii_lowercase())
        {
            pass1.push('_');
        }
        pass1.push(c);
    }
    // Pass 2: ([a-z])([A-Z]) -> \1_\2
    let chars: Vec<char> = pass1.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if i > 0 && c.is_ascii_uppercase() && chars[i - 1].is_ascii_lowercase() {
            out.push('_');
        }
        out.push(c);
    }
    out.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_matches_keras() {
        assert_eq!(to_snake_case("GlobalMaxPooling1D"), "global_max_pooling1d");
        assert_eq!(to_snake_case("Conv1D"), "conv1d");
        assert_eq!(to_snake_case("LSTM"), "lstm");
        assert_eq!(to_snake_case("LSTMCell"), "lstm_cell");
        assert_eq!(to_snake_case("SimpleRNN"), "simple_rnn");
        assert_eq!(to_snake_case("InputLayer"), "input_layer");
        assert_eq!(to_snake_case("NotEqual"), "not_equal");
        assert_eq!(to_snake_case("TimeDistributed"), "time_distributed");
        assert_eq!(to_snake_case("Cropping1D"), "cropping1d");
    }

    #[test]
    fn counters_count_per_prefix_and_per_thread() {
        reset_names();
        assert_eq!(auto_name("LSTM"), "lstm");
        assert_eq!(auto_name("LSTM"), "lstm_1");
        assert_eq!(auto_name("Dense"), "dense");
        let other = std::thread::spawn(|| auto_name("LSTM")).join().unwrap();
        assert_eq!(other, "lstm");
        assert_eq!(auto_name("LSTM"), "lstm_2");
        reset_names();
        assert_eq!(auto_name("LSTM"), "lstm");
    }
}
