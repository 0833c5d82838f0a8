//! The string hashes of Keras' `Hashing` and of OOV buckets, as TensorFlow
//! computes them: FarmHash's `Fingerprint64` (`tf.strings.to_hash_bucket_fast`)
//! and, with a salt, SipHash-2-4 keyed by the two salt words
//! (`tf.strings.to_hash_bucket_strong`).

use std::hash::Hasher;

/// FarmHash `Fingerprint64` of the bytes (TensorFlow's `Fingerprint64`).
pub fn fingerprint64(bytes: &[u8]) -> u64 {
    farmhash::fingerprint64(bytes)
}

/// SipHash-2-4 of the bytes with the key `(k0, k1)`.
pub fn siphash24(bytes: &[u8], key: [u64; 2]) -> u64 {
    let mut h = siphasher::sip::SipHasher24::new_with_keys(key[0], key[1]);
    h.write(bytes);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hashes `tests/fixtures/keras_text/hashing/case.json` records
    /// (re-derived there and checked against TensorFlow's buckets).
    #[test]
    fn hashes_equal_tensorflows() {
        let cases: [(&str, u64, u64); 5] = [
            ("", 0x9ae16a3b2f90404f, 0x8628af35e1cba77b),
            ("a", 0xb3454265b6df75e3, 0x4795cb2ed678fcf6),
            ("Crème", 0x55b70959d01e24aa, 0x6463561a37eed3fa),
            ("42", 0x08a893485641f708, 0x6ac3ee679b8c95b5),
            (
                "a string that is longer than sixty-four bytes, to use farmhash's long path",
                0x67aa5d79f2eb66bf,
                0xaec4c743ec4a885d,
            ),
        ];
        for (s, farm, sip) in cases {
            assert_eq!(fingerprint64(s.as_bytes()), farm, "{s:?}");
            assert_eq!(siphash24(s.as_bytes(), [1, 2]), sip, "{s:?}");
        }
    }
}
