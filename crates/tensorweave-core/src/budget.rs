//! [`MemoryBudget`]: an upper bound on what one load or one `predict` may
//! allocate, checked before memory is reserved, so that a size written in a
//! file (a layer's `units`, a weight's shape, a header) cannot make the process
//! allocate terabytes and abort.

use crate::error::{Error, Result};

/// A limit in bytes on one allocation plan (the weights of a model being
/// built or loaded, the values of one `predict`).
///
/// The default is 16 GiB; [`MemoryBudget::new`] sets another limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryBudget {
    limit: u64,
}

impl Default for MemoryBudget {
    fn default() -> Self {
        MemoryBudget {
            limit: Self::DEFAULT_BYTES,
        }
    }
}

impl MemoryBudget {
    /// The default limit: 16 GiB.
    pub const DEFAULT_BYTES: u64 = 16 << 30;

    /// A budget of `limit` bytes.
    pub fn new(limit: u64) -> Self {
        MemoryBudget { limit }
    }

    /// The limit in bytes.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// The bytes an array of `shape` with elements of `elem_size` bytes takes,
    /// computed without overflow; an error naming `what` when the product
    /// does not fit in 64 bits.
    pub fn bytes_for(what: &str, shape: &[usize], elem_size: usize) -> Result<u64> {
        shape
            .iter()
            .try_fold(elem_size as u64, |acc, &d| acc.checked_mul(d as u64))
            .ok_or_else(|| {
                Error::Config(format!(
                    "{what}: shape {} holds more elements than any computer can store",
                    crate::shape::format_dims(shape)
                ))
            })
    }

    /// Checks that `bytes` more fit in the budget; the error names `what`, the
    /// size and the budget.
    pub fn check(&self, what: &str, bytes: u64) -> Result<()> {
        if bytes <= self.limit {
            return Ok(());
        }
        Err(Error::Config(format!(
            "{what} needs {}, more than the memory budget of {}; raise the budget if this is \
             intended",
            format_bytes(bytes),
            format_bytes(self.limit)
        )))
    }
}

/// `1.50 GiB`, `512 B`.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.2} {}", UNITS[unit])
    }
}
