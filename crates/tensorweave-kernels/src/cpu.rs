//! The SIMD features of this CPU, detected once per process and then read
//! from a static: kernels pick their code path without asking the CPU again.

use std::sync::OnceLock;

/// What the kernels may use on this CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cpu {
    /// AVX2 and FMA (x86-64-v3).
    pub avx2_fma: bool,
    /// AVX-512F (x86-64-v4 as far as the kernels need it).
    pub avx512f: bool,
}

impl Cpu {
    fn detect() -> Cpu {
        #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
        {
            Cpu {
                avx2_fma: std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma"),
                avx512f: std::arch::is_x86_feature_detected!("avx512f"),
            }
        }
        #[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
        {
            Cpu::default()
        }
    }
}

static CPU: OnceLock<Cpu> = OnceLock::new();

/// This CPU's features (detected on the first call).
pub fn cpu() -> Cpu {
    *CPU.get_or_init(Cpu::detect)
}
