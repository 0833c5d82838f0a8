//! A memory budget: the most bytes one load or one `predict` may reserve for
//! data whose size comes from a file, a config or a user's array.
//!
//! Sizes written in files are untrusted: a 328-byte `.npy` can claim a shape of
//! `(10^12, 10)`. Readers compute what a claimed shape needs with
//! [`MemoryBudget::bytes_for`] (checked arithmetic: an overflow is an error, not
//! a wrapped number) and compare it with the budget through
//! [`MemoryBudget::check`] *before* reserving memory, so a hostile file gives a
//! one-line error instead of an abort.
//!
//! The default is [`MemoryBudget::DEFAULT_BYTES`] (16 GiB), a fixed number
//! rather than a fraction of the machine, so a file loads or fails the same way
//! everywhere. Raise or lower it with [`MemoryBudget::new`], or parse a size
//! such as `8G` or `500M` with [`str::parse`]:
//!
//! ```
//! use tensorweave_core::budget::MemoryBudget;
//!
//! let budget: MemoryBudget = "1G".parse().unwrap();
//! assert_eq!(budget.limit(), 1 << 30);
//! let bytes = MemoryBudget::bytes_for("weight 'dense/kernel'", &[1000usize, 1000], 4).unwrap();
//! assert_eq!(bytes, 4_000_000);
//! budget.check("weight 'dense/kernel'", bytes).unwrap();
//! let err = budget.check("input 'x'", 2 << 30).unwrap_err().to_string();
//! assert!(err.contains("over the memory budget of 1 GiB"), "{err}");
//! ```

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// The most bytes a load or a predict may reserve for sizes that come from
/// files, configs or user arrays. Cheap to copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryBudget {
    limit: u64,
    hint: &'static str,
}

/// What the default hint tells a library user.
const LIBRARY_HINT: &str = "raise it with MemoryBudget::new(bytes)";

impl Default for MemoryBudget {
    /// [`MemoryBudget::DEFAULT_BYTES`] (16 GiB).
    fn default() -> Self {
        MemoryBudget::new(Self::DEFAULT_BYTES)
    }
}

impl MemoryBudget {
    /// The default limit: 16 GiB.
    pub const DEFAULT_BYTES: u64 = 16 << 30;

    /// A budget of `limit` bytes.
    pub const fn new(limit: u64) -> Self {
        MemoryBudget {
            limit,
            hint: LIBRARY_HINT,
        }
    }

    /// A budget with no limit (`u64::MAX` bytes); sizes are still checked for
    /// overflow and against the bytes a file actually holds.
    pub const fn unlimited() -> Self {
        MemoryBudget::new(u64::MAX)
    }

    /// The same limit with another piece of advice in its errors, e.g.
    /// `"raise it with --max-memory SIZE"` for a command-line tool, whose users
    /// cannot call [`MemoryBudget::new`].
    pub const fn with_hint(self, hint: &'static str) -> Self {
        MemoryBudget {
            limit: self.limit,
            hint,
        }
    }

    /// The limit in bytes.
    pub const fn limit(&self) -> u64 {
        self.limit
    }

    /// The bytes `shape` needs at `elem_size` bytes per element, computed
    /// without overflow. Fails, naming `what` and the shape, when the product
    /// does not fit in 64 bits (or a dimension does not).
    pub fn bytes_for<S>(what: &str, shape: &[S], elem_size: usize) -> Result<u64>
    where
        S: Copy + TryInto<u64> + fmt::Debug,
    {
        let overflow = || {
            let dims = tuple(shape);
            Error::Config(format!(
                "{what}: the shape {dims} of {elem_size}-byte elements needs more bytes \
                 than a 64-bit size can count; the file or config is corrupt or hostile"
            ))
        };
        let mut bytes = u64::try_from(elem_size).map_err(|_| overflow())?;
        for &d in shape {
            let d: u64 = d.try_into().map_err(|_| overflow())?;
            bytes = bytes.checked_mul(d).ok_or_else(overflow)?;
        }
        Ok(bytes)
    }

    /// `Ok` when `bytes` fits the budget; otherwise an error naming `what`, the
    /// size, the budget and how to raise it.
    pub fn check(&self, what: &str, bytes: u64) -> Result<()> {
        if bytes <= self.limit {
            return Ok(());
        }
        Err(Error::Config(format!(
            "{what} needs {} ({bytes} bytes), over the memory budget of {}; {}",
            HumanBytes(bytes),
            HumanBytes(self.limit),
            self.hint
        )))
    }

    /// [`MemoryBudget::bytes_for`] then [`MemoryBudget::check`]: the bytes of
    /// `shape`, when they are countable and within the budget.
    pub fn check_shape<S>(&self, what: &str, shape: &[S], elem_size: usize) -> Result<u64>
    where
        S: Copy + TryInto<u64> + fmt::Debug,
    {
        let bytes = Self::bytes_for(what, shape, elem_size)?;
        self.check(&format!("{what} (shape {})", tuple(shape)), bytes)?;
        Ok(bytes)
    }
}

/// A shape as numpy prints it, `(3, 4)`, for any integer type.
fn tuple<S: fmt::Debug>(shape: &[S]) -> String {
    let dims: Vec<String> = shape.iter().map(|d| format!("{d:?}")).collect();
    match dims.as_slice() {
        [one] => format!("({one},)"),
        _ => format!("({})", dims.join(", ")),
    }
}

impl fmt::Display for MemoryBudget {
    /// The limit in binary units, e.g. `16 GiB`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.limit == u64::MAX {
            f.write_str("unlimited")
        } else {
            HumanBytes(self.limit).fmt(f)
        }
    }
}

impl FromStr for MemoryBudget {
    type Err = Error;

    /// Parses a size: a number of bytes (`1048576`), or a number with a unit
    /// `K`, `M`, `G` or `T` (binary: `1K` is 1024 bytes; an optional `B` or
    /// `iB` may follow, any case, e.g. `500M`, `8GiB`, `1.5G`), or `unlimited`.
    fn from_str(text: &str) -> Result<Self> {
        let t = text.trim();
        let bad = || {
            Error::Config(format!(
                "cannot read the memory size '{}': use bytes or a number with K, M, G or T \
                 (e.g. 500M, 8G), or 'unlimited'",
                shorten(t, 40)
            ))
        };
        if t.eq_ignore_ascii_case("unlimited") {
            return Ok(MemoryBudget::unlimited());
        }
        let lower = t.to_ascii_lowercase();
        let number_end = lower
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(lower.len());
        let (number, unit) = lower.split_at(number_end);
        let shift = match unit.trim() {
            "" | "b" => 0,
            "k" | "kb" | "kib" => 10,
            "m" | "mb" | "mib" => 20,
            "g" | "gb" | "gib" => 30,
            "t" | "tb" | "tib" => 40,
            _ => return Err(bad()),
        };
        let value: f64 = number.parse().map_err(|_| bad())?;
        let bytes = value * (1u64 << shift) as f64;
        if !bytes.is_finite() || bytes < 1.0 || bytes >= u64::MAX as f64 {
            return Err(bad());
        }
        Ok(MemoryBudget::new(bytes as u64))
    }
}

/// A byte count in binary units for messages: `16 GiB`, `38.1 MiB`, `512 B`.
pub fn format_bytes(bytes: u64) -> String {
    HumanBytes(bytes).to_string()
}

/// A byte count in binary units for messages (`40.0 TiB`, `512 B`).
struct HumanBytes(u64);

impl fmt::Display for HumanBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
        if self.0 < 1024 {
            return write!(f, "{} B", self.0);
        }
        let mut value = self.0 as f64 / 1024.0;
        let mut unit = 0;
        while value >= 1024.0 && unit + 1 < UNITS.len() {
            value /= 1024.0;
            unit += 1;
        }
        if value.fract() == 0.0 {
            write!(f, "{value} {}", UNITS[unit])
        } else {
            write!(f, "{value:.1} {}", UNITS[unit])
        }
    }
}

/// `text` cut to at most `max` characters, with an ellipsis when cut.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max.saturating_sub(1)).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_binary_units() {
        for (text, bytes) in [
            ("1024", 1024),
            ("1K", 1024),
            ("500M", 500 << 20),
            ("8G", 8 << 30),
            ("8GiB", 8 << 30),
            ("8gb", 8 << 30),
            ("1.5G", 3 << 29),
            (" 2T ", 2 << 40),
        ] {
            let b: MemoryBudget = text.parse().unwrap();
            assert_eq!(b.limit(), bytes, "{text}");
        }
        assert_eq!(
            "unlimited".parse::<MemoryBudget>().unwrap(),
            MemoryBudget::unlimited()
        );
        for bad in ["", "G", "8X", "-1G", "0", "1e400", "99999999999T", "1..5G"] {
            let err = bad.parse::<MemoryBudget>().unwrap_err().to_string();
            assert!(err.contains("cannot read the memory size"), "{bad}: {err}");
        }
    }

    #[test]
    fn bytes_for_is_checked() {
        assert_eq!(MemoryBudget::bytes_for("x", &[3usize, 4], 4).unwrap(), 48);
        assert_eq!(
            MemoryBudget::bytes_for("x", &[0u64, u64::MAX], 4).unwrap(),
            0
        );
        assert_eq!(MemoryBudget::bytes_for::<u64>("x", &[], 8).unwrap(), 8);
        let huge = [1u64 << 40, 1 << 30];
        let err = MemoryBudget::bytes_for("input 'tokens'", &huge, 4).unwrap_err();
        for needle in ["input 'tokens'", "(1099511627776, 1073741824)"] {
            assert!(err.to_string().contains(needle), "{needle}: {err}");
        }
    }

    #[test]
    fn check_names_what_the_size_the_budget_and_the_hint() {
        let budget = MemoryBudget::new(1 << 20).with_hint("raise it with --max-memory SIZE");
        budget.check("x", 1 << 20).unwrap();
        let err = budget
            .check_shape("weight 'dense/kernel'", &[1000usize, 10_000], 4)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("weight 'dense/kernel' (shape (1000, 10000))"),
            "{err}"
        );
        assert!(err.contains("38.1 MiB (40000000 bytes)"), "{err}");
        assert!(err.contains("memory budget of 1 MiB"), "{err}");
        assert!(err.contains("--max-memory"), "{err}");
        let err = MemoryBudget::default().check("x", u64::MAX).unwrap_err();
        for needle in ["16 GiB", "MemoryBudget::new"] {
            assert!(err.to_string().contains(needle), "{needle}: {err}");
        }
    }

    #[test]
    fn display_is_human() {
        assert_eq!(MemoryBudget::default().to_string(), "16 GiB");
        assert_eq!(MemoryBudget::new(1536).to_string(), "1.5 KiB");
        assert_eq!(MemoryBudget::new(10).to_string(), "10 B");
        assert_eq!(MemoryBudget::unlimited().to_string(), "unlimited");
    }
}
