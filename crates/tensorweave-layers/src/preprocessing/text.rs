//! What `TextVectorization` does to a string before the lookup, exactly as
//! TensorFlow does it under Keras 3.15.1 (verified on non-ASCII text in
//! `tests/fixtures/keras_text`):
//!
//! - `lower` is `tf.strings.lower` without an encoding: only `A`–`Z` become
//!   `a`–`z`; every other byte is kept (`À`, `Ç`, `İ`, `Σ`, `ß` unchanged);
//! - `strip_punctuation` removes exactly the 32 ASCII characters of Python's
//!   `string.punctuation` (Keras' regex); `…`, `¿`, `«`, `—` are kept;
//! - `whitespace` splitting is `tf.strings.split(x)`: runs of ASCII
//!   whitespace (space, `\t`, `\n`, `\v`, `\f`, `\r`) separate tokens, and
//!   there are no empty tokens (U+00A0, U+2028, U+3000 are not separators);
//! - `character` splitting gives one token per Unicode code point (a letter
//!   with a combining accent is two tokens);
//! - n-grams (`tf.strings.ngrams`, separator `" "`): for each width in
//!   order, every window of that many tokens; a row shorter than a width
//!   has no n-gram of that width.

/// The characters Keras' `lower_and_strip_punctuation` removes.
pub const PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

/// `tf.strings.lower(x)`: ASCII letters only.
pub fn lower_ascii(text: &str) -> String {
    text.to_ascii_lowercase()
}

/// Keras' punctuation regex: every character of [`PUNCTUATION`] removed.
pub fn strip_punctuation(text: &str) -> String {
    text.chars().filter(|c| !PUNCTUATION.contains(*c)).collect()
}

/// Whether `c` separates tokens for `tf.strings.split` (absl's `ascii_isspace`).
fn is_tf_whitespace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

/// `tf.strings.split(x)`: the tokens between runs of ASCII whitespace.
pub fn split_whitespace(text: &str) -> Vec<String> {
    text.split(is_tf_whitespace)
        .filter(|t| !t.is_empty())
        .map(String::from)
        .collect()
}

/// `tf.strings.unicode_split(x, "UTF-8")`: one token per code point.
pub fn split_characters(text: &str) -> Vec<String> {
    text.chars().map(String::from).collect()
}

/// `tf.strings.ngrams(tokens, widths, separator=" ")`.
pub fn ngrams(tokens: &[String], widths: &[usize]) -> Vec<String> {
    let mut out = Vec::new();
    for &w in widths {
        if w == 0 || w > tokens.len() {
            continue;
        }
        out.extend(tokens.windows(w).map(|win| win.join(" ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The standardizations `case.json` of `tests/fixtures/keras_text` records
    /// for TensorFlow (`checks`), on the same strings.
    #[test]
    fn lowercasing_is_ascii_only_as_tensorflow() {
        assert_eq!(
            lower_ascii("Crème Brûlée À LA CARTE!"),
            "crème brûlée À la carte!"
        );
        assert_eq!(lower_ascii("Straße GROSS ß"), "straße gross ß");
        assert_eq!(lower_ascii("İstanbul ıI"), "İstanbul ıi");
        assert_eq!(lower_ascii("BRÛLÉE"), "brÛlÉe");
    }

    #[test]
    fn only_ascii_punctuation_is_stripped() {
        assert_eq!(PUNCTUATION.chars().count(), 32);
        assert_eq!(strip_punctuation("a.b,c-d_e'f\"g"), "abcdefg");
        assert_eq!(strip_punctuation("…¿¡«»“”—–"), "…¿¡«»“”—–");
    }

    #[test]
    fn whitespace_is_ascii_whitespace_runs() {
        assert_eq!(split_whitespace("  a\t\x0bb\r\n c  "), ["a", "b", "c"]);
        assert!(split_whitespace("   ").is_empty());
        assert_eq!(split_whitespace("a\u{a0}b\u{2028}c"), ["a\u{a0}b\u{2028}c"]);
    }

    #[test]
    fn characters_are_code_points() {
        assert_eq!(split_characters("e\u{301}👍🏽"), ["e", "\u{301}", "👍", "🏽"]);
    }

    #[test]
    fn ngrams_are_unigrams_then_bigrams() {
        let t: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        assert_eq!(ngrams(&t, &[1, 2]), ["a", "b", "c", "a b", "b c"]);
        assert_eq!(ngrams(&t[..1], &[2]), Vec::<String>::new());
    }
}
