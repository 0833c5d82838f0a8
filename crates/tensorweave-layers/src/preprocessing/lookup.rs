//! Keras' `IndexLookup`, the table behind `StringLookup`, `IntegerLookup` and
//! `TextVectorization`: a vocabulary of tokens mapped to indices after the
//! special ones.
//!
//! In `int` mode with a mask token, index 0 is the mask; then come
//! `num_oov_indices` out-of-vocabulary indices, then the vocabulary in
//! order. In the other modes the mask has no index (a masked token adds
//! nothing) and the OOV indices start at 0. An OOV token goes to the single
//! OOV index, or with several to `Fingerprint64(utf8) % n` (strings) or
//! `floormod(value, n)` (integers). A vocabulary given with its special
//! tokens first (as Keras' `get_vocabulary()` and its asset files list it)
//! is taken without them; in `tf_idf` mode idf weights given without the
//! OOV entries get the mean weight in front, as Keras pads them.

use std::collections::HashMap;
use std::hash::Hash;

use super::encoding::{encode, OutputMode};
use super::hash::fingerprint64;

/// A token type of a lookup table.
pub trait Token: Clone + Eq + Hash + std::fmt::Debug {
    /// The OOV index among `n > 1` for this token.
    fn oov_bucket(&self, n: usize) -> usize;
}

impl Token for String {
    fn oov_bucket(&self, n: usize) -> usize {
        (fingerprint64(self.as_bytes()) % n as u64) as usize
    }
}

impl Token for i64 {
    fn oov_bucket(&self, n: usize) -> usize {
        self.rem_euclid(n as i64) as usize
    }
}

/// How a table is set up (the layer's options).
#[derive(Debug, Clone)]
pub struct LookupSpec<K> {
    /// The mask token, if any.
    pub mask_token: Option<K>,
    /// The OOV token (what `get_vocabulary()` shows for the OOV indices).
    pub oov_token: K,
    /// How many OOV indices.
    pub num_oov_indices: usize,
    /// The output mode.
    pub output_mode: OutputMode,
    /// The largest vocabulary size allowed (special tokens included).
    pub max_tokens: Option<usize>,
    /// Non-int modes: output width `max_tokens` instead of the vocabulary size.
    pub pad_to_max_tokens: bool,
}

/// A built table.
#[derive(Debug, Clone)]
pub struct Lookup<K: Token> {
    spec: LookupSpec<K>,
    tokens: Vec<K>,
    index: HashMap<K, usize>,
    idf: Option<Vec<f32>>,
}

impl<K: Token> Lookup<K> {
    /// The first OOV index.
    fn oov_start(spec: &LookupSpec<K>) -> usize {
        usize::from(spec.mask_token.is_some() && spec.output_mode == OutputMode::Int)
    }

    /// The table for `vocabulary` (with or without its special tokens first)
    /// and, in `tf_idf` mode, its idf weights. Errors say what is wrong.
    pub fn new(
        spec: LookupSpec<K>,
        vocabulary: Vec<K>,
        idf_weights: Option<Vec<f32>>,
    ) -> Result<Lookup<K>, String> {
        let oov_start = Self::oov_start(&spec);
        let token_start = oov_start + spec.num_oov_indices;
        let mut special: Vec<K> = Vec::with_capacity(token_start);
        if oov_start == 1 {
            special.extend(spec.mask_token.clone());
        }
        special.extend(std::iter::repeat_n(
            spec.oov_token.clone(),
            spec.num_oov_indices,
        ));
        let found_special =
            vocabulary.len() >= token_start && vocabulary[..token_start] == special[..];
        let tokens: Vec<K> = if found_special {
            vocabulary[token_start..].to_vec()
        } else {
            vocabulary
        };
        let mut index = HashMap::with_capacity(tokens.len());
        for (i, t) in tokens.iter().enumerate() {
            if spec.mask_token.as_ref() == Some(t) {
                return Err(format!(
                    "the vocabulary holds the mask token {t:?} (entry {i}); it is reserved"
                ));
            }
            if spec.num_oov_indices > 0 && t == &spec.oov_token {
                return Err(format!(
                    "the vocabulary holds the OOV token {t:?} (entry {i}); it is reserved"
                ));
            }
            if index.insert(t.clone(), token_start + i).is_some() {
                return Err(format!("the vocabulary repeats the token {t:?}"));
            }
        }
        let size = token_start + tokens.len();
        if let Some(max) = spec.max_tokens {
            if size > max {
                return Err(format!(
                    "the vocabulary has {size} entries (special tokens included), more than \
                     max_tokens = {max}"
                ));
            }
        }
        let idf = match (spec.output_mode, idf_weights) {
            (OutputMode::TfIdf, None) => {
                return Err("output_mode 'tf_idf' needs `idf_weights` with the vocabulary".into())
            }
            (OutputMode::TfIdf, Some(w)) => {
                let front = if found_special { 0 } else { token_start };
                if w.len() + front != size {
                    return Err(format!(
                        "idf_weights has {} entries for a vocabulary of {} tokens",
                        w.len(),
                        tokens.len()
                    ));
                }
                let mean = if w.is_empty() {
                    0.0
                } else {
                    (w.iter().map(|&x| f64::from(x)).sum::<f64>() / w.len() as f64) as f32
                };
                let mut full = vec![mean; front];
                full.extend(w);
                Some(full)
            }
            (_, _) => None,
        };
        Ok(Lookup {
            spec,
            tokens,
            index,
            idf,
        })
    }

    /// The vocabulary with its special tokens first (`get_vocabulary()`).
    pub fn vocabulary(&self) -> Vec<K> {
        let mut v = Vec::with_capacity(self.size());
        if Self::oov_start(&self.spec) == 1 {
            v.extend(self.spec.mask_token.clone());
        }
        v.extend(std::iter::repeat_n(
            self.spec.oov_token.clone(),
            self.spec.num_oov_indices,
        ));
        v.extend(self.tokens.iter().cloned());
        v
    }

    /// The idf weights, one per index (tf_idf mode).
    pub fn idf_weights(&self) -> Option<&[f32]> {
        self.idf.as_deref()
    }

    /// The number of indices (special ones included).
    pub fn size(&self) -> usize {
        Self::oov_start(&self.spec) + self.spec.num_oov_indices + self.tokens.len()
    }

    /// The width of a non-int output.
    pub fn depth(&self) -> usize {
        match self.spec.max_tokens {
            Some(max) if self.spec.pad_to_max_tokens => max,
            _ => self.size(),
        }
    }

    /// The index of `token`: `-1` for the mask outside int mode.
    pub fn index(&self, token: &K) -> Result<i64, String> {
        if self.spec.mask_token.as_ref() == Some(token) {
            return Ok(if self.spec.output_mode == OutputMode::Int {
                0
            } else {
                -1
            });
        }
        if let Some(&i) = self.index.get(token) {
            return Ok(i as i64);
        }
        let start = Self::oov_start(&self.spec);
        match self.spec.num_oov_indices {
            0 => Err(format!(
                "{token:?} is not in the vocabulary and num_oov_indices is 0"
            )),
            1 => Ok(start as i64),
            n => Ok((start + token.oov_bucket(n)) as i64),
        }
    }

    /// The output mode.
    pub fn mode(&self) -> OutputMode {
        self.spec.output_mode
    }

    /// Indices of shape `shape` encoded in the table's mode.
    pub fn encode(
        &self,
        indices: &ndarray::ArrayD<i64>,
    ) -> tensorweave_core::Result<ndarray::ArrayD<f32>> {
        encode(
            indices,
            self.spec.output_mode,
            self.depth(),
            self.idf.as_deref(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(mode: OutputMode, mask: Option<&str>, n: usize) -> LookupSpec<String> {
        LookupSpec {
            mask_token: mask.map(String::from),
            oov_token: "[OOV]".into(),
            num_oov_indices: n,
            output_mode: mode,
            max_tokens: None,
            pad_to_max_tokens: false,
        }
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// `tests/fixtures/keras_text/string_lookup`: mask '' -> 0, vocabulary
    /// from 3, OOV to 1 + Fingerprint64 % 2; without the mask index in one_hot.
    #[test]
    fn indices_as_keras() {
        let vocab = strings(&["red", "green", "blue"]);
        let int = Lookup::new(spec(OutputMode::Int, Some(""), 2), vocab.clone(), None).unwrap();
        assert_eq!(int.index(&"".into()), Ok(0));
        assert_eq!(int.index(&"red".into()), Ok(3));
        let oov = int.index(&"Red".into()).unwrap();
        assert_eq!(oov, 1 + (fingerprint64(b"Red") % 2) as i64);
        assert_eq!(
            int.vocabulary(),
            strings(&["", "[OOV]", "[OOV]", "red", "green", "blue"])
        );
        let hot = Lookup::new(spec(OutputMode::OneHot, Some(""), 2), vocab, None).unwrap();
        assert_eq!(hot.index(&"".into()), Ok(-1));
        assert_eq!(hot.index(&"red".into()), Ok(2));
        assert_eq!(hot.depth(), 5);
    }

    #[test]
    fn special_tokens_first_are_recognized_and_reserved_tokens_refused() {
        let with = strings(&["", "[OOV]", "a", "b"]);
        let t = Lookup::new(spec(OutputMode::Int, Some(""), 1), with, None).unwrap();
        assert_eq!(t.size(), 4);
        let bad = strings(&["a", "[OOV]"]);
        assert!(Lookup::new(spec(OutputMode::Int, None, 1), bad, None)
            .unwrap_err()
            .contains("OOV token"));
        let twice = strings(&["a", "a"]);
        assert!(Lookup::new(spec(OutputMode::Int, None, 1), twice, None)
            .unwrap_err()
            .contains("repeats"));
    }

    #[test]
    fn integer_oov_is_floormod() {
        let s = LookupSpec {
            mask_token: Some(0i64),
            oov_token: -1,
            num_oov_indices: 2,
            output_mode: OutputMode::Int,
            max_tokens: None,
            pad_to_max_tokens: false,
        };
        let t = Lookup::new(s, vec![10, 20], None).unwrap();
        assert_eq!(t.index(&-7), Ok(2));
        assert_eq!(t.index(&-2), Ok(1));
        assert_eq!(t.index(&20), Ok(4));
        assert_eq!(t.index(&0), Ok(0));
    }
}
