//! [`BufferPool`]: the buffers of freed intermediates, kept for later steps
//! and later calls (tract's plan frees a value after its last use; this
//! also hands its memory to the next value of a similar size).
//!
//! A [`crate::Model`] owns one pool. Its runs return every intermediate the
//! plan frees (float32 and boolean arrays) to the pool, and layers that make
//! large per-call buffers (the mask of an `Embedding(mask_zero=True)`, a
//! recurrent layer's sequence output) take them from it through
//! [`crate::CallContext::pool`]. After the first call with given shapes, a
//! `predict` with the same shapes finds its buffers in the pool instead of
//! allocating them.
//!
//! The pool keeps at most [`MAX_BUFFERS`] buffers of each element type and
//! [`MAX_BYTES`] bytes of each in total, dropping the smallest buffers first
//! when a new one would exceed either.

use std::fmt;
use std::sync::{Mutex, MutexGuard};

use ndarray::ArrayD;

use crate::value::Value;

/// Buffers a pool keeps per element type.
pub const MAX_BUFFERS: usize = 32;
/// Bytes a pool keeps per element type.
pub const MAX_BYTES: usize = 64 << 20;
/// Buffers smaller than this many bytes are not worth keeping.
const MIN_BYTES: usize = 1024;

/// Reusable buffers of float32 and boolean values; shared by the runs of
/// one model (safe to use from several threads at once).
///
/// ```
/// use tensorweave_core::BufferPool;
///
/// let pool = BufferPool::default();
/// let buffer = pool.f32_zeros(4096);
/// let address = buffer.as_ptr();
/// pool.give_f32(buffer);
/// // The same memory comes back, zeroed, for a buffer of the same size or smaller.
/// let again = pool.f32_zeros(1000);
/// assert_eq!(again.as_ptr(), address);
/// assert!(again.iter().all(|&v| v == 0.0));
/// ```
#[derive(Default)]
pub struct BufferPool {
    f32s: Mutex<Shelf<f32>>,
    bools: Mutex<Shelf<bool>>,
}

impl fmt::Debug for BufferPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufferPool")
            .field("bytes", &self.bytes())
            .finish()
    }
}

/// The kept buffers of one element type, with their total size in bytes.
struct Shelf<T> {
    buffers: Vec<Vec<T>>,
    bytes: usize,
}

impl<T> Default for Shelf<T> {
    fn default() -> Self {
        Shelf {
            buffers: Vec::new(),
            bytes: 0,
        }
    }
}

impl<T: Copy> Shelf<T> {
    /// The smallest kept buffer holding at least `len` values, emptied.
    fn take(&mut self, len: usize) -> Option<Vec<T>> {
        let best = self
            .buffers
            .iter()
            .enumerate()
            .filter(|(_, b)| b.capacity() >= len)
            .min_by_key(|(_, b)| b.capacity())
            .map(|(i, _)| i)?;
        let mut buffer = self.buffers.swap_remove(best);
        self.bytes -= bytes_of(&buffer);
        buffer.clear();
        Some(buffer)
    }

    /// Keeps `buffer` unless it is too small, or too large for the limits
    /// even after dropping every smaller buffer.
    fn give(&mut self, buffer: Vec<T>) {
        let size = bytes_of(&buffer);
        if !(MIN_BYTES..=MAX_BYTES).contains(&size) {
            return;
        }
        while self.buffers.len() >= MAX_BUFFERS || self.bytes + size > MAX_BYTES {
            let smallest = self
                .buffers
                .iter()
                .enumerate()
                .min_by_key(|(_, b)| b.capacity())
                .map(|(i, b)| (i, b.capacity()));
            match smallest {
                Some((i, cap)) if cap <= buffer.capacity() => {
                    let dropped = self.buffers.swap_remove(i);
                    self.bytes -= bytes_of(&dropped);
                }
                // Everything kept is larger: the new buffer is the one to drop.
                _ => return,
            }
        }
        // Room for every buffer at once, so that the shelf itself never
        // grows in a steady state.
        self.buffers.reserve_exact(MAX_BUFFERS - self.buffers.len());
        self.bytes += size;
        self.buffers.push(buffer);
    }
}

fn bytes_of<T>(buffer: &Vec<T>) -> usize {
    buffer.capacity() * std::mem::size_of::<T>()
}

/// The lock, even if a thread panicked while holding it (the shelf is
/// consistent between any two statements that touch it).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl BufferPool {
    /// `len` zeros from `pool` when there is one, else newly allocated.
    pub fn f32_zeros_in(pool: Option<&BufferPool>, len: usize) -> Vec<f32> {
        match pool {
            Some(pool) => pool.f32_zeros(len),
            None => vec![0.0; len],
        }
    }

    /// `len` zeros, in a kept buffer when one is large enough.
    pub fn f32_zeros(&self, len: usize) -> Vec<f32> {
        match lock(&self.f32s).take(len) {
            Some(mut buffer) => {
                buffer.resize(len, 0.0);
                buffer
            }
            None => vec![0.0; len],
        }
    }

    /// `len` copies of `fill`, in a kept buffer when one is large enough.
    pub fn bools(&self, len: usize, fill: bool) -> Vec<bool> {
        match lock(&self.bools).take(len) {
            Some(mut buffer) => {
                buffer.resize(len, fill);
                buffer
            }
            None => vec![fill; len],
        }
    }

    /// An empty buffer with room for at least `len` booleans (filled by the
    /// caller with `extend`, no allocation while it fits).
    pub fn bools_with_capacity(&self, len: usize) -> Vec<bool> {
        lock(&self.bools)
            .take(len)
            .unwrap_or_else(|| Vec::with_capacity(len))
    }

    /// Keeps a float32 buffer for later.
    pub fn give_f32(&self, buffer: Vec<f32>) {
        lock(&self.f32s).give(buffer);
    }

    /// Keeps a boolean buffer for later.
    pub fn give_bools(&self, buffer: Vec<bool>) {
        lock(&self.bools).give(buffer);
    }

    /// Keeps the memory of a value that is no longer needed (float32 and
    /// boolean arrays; other values are dropped).
    pub fn recycle(&self, value: Value) {
        match value {
            Value::F32(a) => self.give_f32(into_vec(a)),
            Value::Bool(a) => self.give_bools(into_vec(a)),
            Value::I32(_) | Value::Str(_) => {}
        }
    }

    /// The bytes the pool holds.
    pub fn bytes(&self) -> usize {
        lock(&self.f32s).bytes + lock(&self.bools).bytes
    }

    /// Drops every kept buffer.
    pub fn clear(&self) {
        *lock(&self.f32s) = Shelf::default();
        *lock(&self.bools) = Shelf::default();
    }
}

/// The storage of an owned array.
fn into_vec<T>(a: ArrayD<T>) -> Vec<T> {
    a.into_raw_vec_and_offset().0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_the_smallest_buffer_that_fits_and_zeroes_it() {
        let pool = BufferPool::default();
        let mut big = pool.f32_zeros(10_000);
        big.iter_mut().for_each(|v| *v = 7.0);
        let small = vec![3.0f32; 2_000];
        let (big_at, small_at) = (big.as_ptr(), small.as_ptr());
        pool.give_f32(big);
        pool.give_f32(small);
        let got = pool.f32_zeros(1_500);
        assert_eq!(got.as_ptr(), small_at);
        assert!(got.len() == 1_500 && got.iter().all(|&v| v == 0.0));
        let got = pool.f32_zeros(5_000);
        assert_eq!(got.as_ptr(), big_at);
        assert!(got.len() == 5_000 && got.iter().all(|&v| v == 0.0));
        assert_eq!(pool.bytes(), 0);
    }

    #[test]
    fn keeps_within_its_limits() {
        let pool = BufferPool::default();
        for _ in 0..2 * MAX_BUFFERS {
            pool.give_bools(vec![true; 4096]);
        }
        assert_eq!(pool.bytes(), MAX_BUFFERS * 4096);
        // Too small, too large: not kept.
        pool.give_f32(vec![0.0; 10]);
        pool.give_f32(vec![0.0; MAX_BYTES / 4 + 1]);
        assert_eq!(pool.bytes(), MAX_BUFFERS * 4096);
        // A larger buffer pushes out smaller ones to stay under the byte limit.
        pool.give_f32(vec![0.0; MAX_BYTES / 4]);
        pool.give_f32(vec![0.0; MAX_BYTES / 8]);
        assert!(pool.bytes() <= 2 * MAX_BYTES);
        assert_eq!(lock(&pool.f32s).bytes, MAX_BYTES);
        pool.clear();
        assert_eq!(pool.bytes(), 0);
    }

    #[test]
    fn recycles_values() {
        let pool = BufferPool::default();
        let a = ArrayD::from_elem(ndarray::IxDyn(&[32, 100]), 1.5f32);
        let at = a.as_ptr();
        pool.recycle(Value::F32(a));
        pool.recycle(Value::I32(ArrayD::zeros(ndarray::IxDyn(&[1000]))));
        let taken = pool.f32_zeros(3200);
        assert_eq!(taken.as_ptr(), at);
        let m = ArrayD::from_elem(ndarray::IxDyn(&[32, 1000]), true);
        let at = m.as_ptr();
        pool.recycle(Value::Bool(m));
        let mut b = pool.bools_with_capacity(32_000);
        assert!(b.is_empty());
        b.extend(std::iter::repeat_n(false, 32_000));
        assert_eq!(b.as_ptr(), at);
    }
}
