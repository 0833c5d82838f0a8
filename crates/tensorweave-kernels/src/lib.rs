//! The CPU kernels of tensorweave, kept apart from the layers that call them
//! (as tract keeps its kernels in `tract-linalg`):
//!
//! * [`mod@cpu`]: the CPU's SIMD features, detected once per process;
//! * [`gemm`]: the one matrix-product path of every layer (the `gemm` crate,
//!   chosen by measurement), and a packed one-row product for recurrent steps;
//! * [`mod@panel_product`]: the recurrent product of a batch on the same
//!   packed panels, without the `gemm` crate's per-call allocation;
//! * [`cells`]: the fused LSTM, GRU and SimpleRNN updates in AVX2/FMA and
//!   AVX-512F intrinsics;
//! * [`math`]: branch-free `exp`, sigmoid and tanh that the compiler vectorizes.
//!
//! Kernels check the sizes of the slices they are given and report a
//! [`KernelError`] rather than reading or writing out of bounds.
#![warn(missing_docs)]

pub mod cells;
pub mod cpu;
pub mod gemm;
pub mod math;
pub mod panel_product;

pub use cpu::{cpu, Cpu};
pub use gemm::{gemv, matmul, matmul_views, same_bits, Mat, Panels};
pub use panel_product::panel_product;

/// Slices too small for the product or update a kernel was asked to do: a bug
/// in the caller, reported instead of an out-of-bounds access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelError(pub String);

impl std::fmt::Display for KernelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "internal kernel error: {}", self.0)
    }
}

impl std::error::Error for KernelError {}

/// `Result` of the kernels.
pub type Result<T, E = KernelError> = std::result::Result<T, E>;
