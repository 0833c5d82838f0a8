//! Small helpers shared by every module: error construction, shape formatting and
//! float32 arithmetic the way TensorFlow rounds it.

use tensorweave_core::Error;

/// Longest user-supplied string quoted in an error message.
const MAX_QUOTED: usize = 60;

/// Quotes a user-supplied string for an error message, truncated with an ellipsis.
pub(crate) fn quote(s: &str) -> String {
    if s.chars().count() <= MAX_QUOTED {
        format!("'{s}'")
    } else {
        let head: String = s.chars().take(MAX_QUOTED).collect();
        format!("'{head}…'")
    }
}

/// A JSON value as a short string for an error message.
pub(crate) fn quote_json(v: &serde_json::Value) -> String {
    quote(&v.to_string())
}

/// Formats a shape as Keras prints it: `(4, 3)`.
pub(crate) fn shape_str(shape: &[usize]) -> String {
    match shape {
        [one] => format!("({one},)"),
        _ => {
            let parts: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
            format!("({})", parts.join(", "))
        }
    }
}

/// An [`Error::Config`].
pub(crate) fn config_err(msg: impl Into<String>) -> Error {
    Error::Config(msg.into())
}

/// An [`Error::Input`].
pub(crate) fn input_err(msg: impl Into<String>) -> Error {
    Error::Input(msg.into())
}

/// Keras' `backend.epsilon()` (a Python float, 1e-7).
pub(crate) const EPSILON: f64 = 1e-7;

/// A Python float hyperparameter as TensorFlow sees it when it meets a float32 tensor.
pub(crate) fn f32_of(x: f64) -> f32 {
    x as f32
}

/// The sum of float32 values, accumulated in float64 and rounded once.
///
/// TensorFlow's float32 reductions use blocked (vectorised) partial sums whose exact order
/// depends on the CPU; a float64 accumulator gives the correctly rounded sum, which is within
/// the few ulps those orders differ by.
pub(crate) fn sum_f32<I: IntoIterator<Item = f32>>(values: I) -> f32 {
    values.into_iter().map(f64::from).sum::<f64>() as f32
}

/// `divide_no_nan`: `a / b`, or 0 where `b` is 0.
pub(crate) fn div_no_nan(a: f32, b: f32) -> f32 {
    if b == 0.0 {
        0.0
    } else {
        a / b
    }
}

/// TensorFlow's `sign`: -1, 0 or 1 (0 for ±0 and NaN stays NaN).
pub(crate) fn tf_sign(x: f32) -> f32 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        x * 0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_truncates_long_strings() {
        let long = "x".repeat(100);
        let q = quote(&long);
        assert!(q.ends_with("…'"));
        assert!(q.chars().count() < 70);
        assert_eq!(quote("adam"), "'adam'");
    }

    #[test]
    fn shapes_print_like_python_tuples() {
        assert_eq!(shape_str(&[3]), "(3,)");
        assert_eq!(shape_str(&[4, 3]), "(4, 3)");
        assert_eq!(shape_str(&[]), "()");
    }
}
