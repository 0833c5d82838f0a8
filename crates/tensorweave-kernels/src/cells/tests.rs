//! Each kernel on both widths against the cell formulas evaluated in f64.

use super::x86;

/// Deterministic values in about [-4, 4] (gates) or [-2, 2] (states).
fn values(n: usize, seed: usize, scale: f32) -> Vec<f32> {
    (0..n)
        .map(|i| (((i * 37 + seed * 11) % 41) as f32 - 20.0) / 20.0 * scale)
        .collect()
}

fn sig(v: f64) -> f64 {
    1.0 / (1.0 + (-v).exp())
}

/// The widths this CPU runs, by name (a kernel entry per width is chosen by
/// the caller).
fn widths() -> Vec<usize> {
    let cpu = crate::cpu();
    let mut w = Vec::new();
    if cpu.avx2_fma {
        w.push(8);
    }
    if cpu.avx512f {
        w.push(16);
    }
    w
}

const UNITS: [usize; 8] = [1, 5, 8, 13, 16, 17, 33, 100];

fn close(got: &[f32], want: &[f64], what: &str) {
    for (j, (&g, &w)) in got.iter().zip(want).enumerate() {
        // States reach ±10 here, where an f32 ulp is 1e-6.
        assert!(
            (g as f64 - w).abs() <= 1e-6 * w.abs().max(1.0),
            "{what}[{j}]: {g} against {w}"
        );
    }
}

#[test]
fn lstm_matches_the_formulas() {
    for width in widths() {
        for u in UNITS {
            let (z, x) = (values(4 * u, 1, 4.0), values(4 * u, 2, 3.0));
            let (mut c, mut h) = (values(u, 3, 10.0), vec![0f32; u]);
            let c0 = c.clone();
            let (zp, xp, cp, hp) = (z.as_ptr(), x.as_ptr(), c.as_mut_ptr(), h.as_mut_ptr());
            // SAFETY: `widths()` checked the features; sizes as required.
            unsafe {
                match width {
                    8 => x86::lstm8(zp, xp, cp, hp, u),
                    _ => x86::lstm16(zp, xp, cp, hp, u),
                }
            }
            let v = |g: usize, j: usize| (z[g * u + j] + x[g * u + j]) as f64;
            let cn: Vec<f64> = (0..u)
                .map(|j| sig(v(1, j)) * c0[j] as f64 + sig(v(0, j)) * v(2, j).tanh())
                .collect();
            let hn: Vec<f64> = (0..u).map(|j| sig(v(3, j)) * cn[j].tanh()).collect();
            close(&c, &cn, &format!("lstm{width} u={u} c"));
            close(&h, &hn, &format!("lstm{width} u={u} h"));
        }
    }
}

#[test]
fn gru_reset_after_matches_the_formulas() {
    for width in widths() {
        for u in UNITS {
            let (z, x, b) = (
                values(3 * u, 4, 4.0),
                values(3 * u, 5, 3.0),
                values(3 * u, 6, 0.5),
            );
            let mut h = values(u, 7, 1.0);
            let h0 = h.clone();
            let (zp, xp, bp, hp) = (z.as_ptr(), x.as_ptr(), b.as_ptr(), h.as_mut_ptr());
            // SAFETY: as above.
            unsafe {
                match width {
                    8 => x86::gru_after8(zp, xp, bp, hp, u),
                    _ => x86::gru_after16(zp, xp, bp, hp, u),
                }
            }
            let rec = |g: usize, j: usize| (z[g * u + j] + b[g * u + j]) as f64;
            let want: Vec<f64> = (0..u)
                .map(|j| {
                    let zg = sig(rec(0, j) + x[j] as f64);
                    let r = sig(rec(1, j) + x[u + j] as f64);
                    let hh = (x[2 * u + j] as f64 + r * rec(2, j)).tanh();
                    zg * h0[j] as f64 + (1.0 - zg) * hh
                })
                .collect();
            close(&h, &want, &format!("gru_after{width} u={u}"));
        }
    }
}

#[test]
fn gru_reset_before_matches_the_formulas() {
    for width in widths() {
        for u in UNITS {
            let (mut z, x) = (values(3 * u, 8, 4.0), values(3 * u, 9, 3.0));
            let z0 = z.clone();
            let mut h = values(u, 10, 1.0);
            let h0 = h.clone();
            let mut reset_h = vec![0f32; u];
            let (zp, xp, hp, rp) = (
                z.as_mut_ptr(),
                x.as_ptr(),
                h.as_mut_ptr(),
                reset_h.as_mut_ptr(),
            );
            // SAFETY: as above.
            unsafe {
                match width {
                    8 => x86::gru_before_gates8(zp, xp, hp, rp, u),
                    _ => x86::gru_before_gates16(zp, xp, hp, rp, u),
                }
            }
            let gates: Vec<f64> = (0..2 * u).map(|j| sig((z0[j] + x[j]) as f64)).collect();
            close(&z[..2 * u], &gates, &format!("gru_gates{width} u={u}"));
            let rh: Vec<f64> = (0..u).map(|j| gates[u + j] * h0[j] as f64).collect();
            close(&reset_h, &rh, &format!("gru_reset_h{width} u={u}"));
            // The candidate's product would fill z[2u..]; any values do.
            // SAFETY: as above.
            unsafe {
                match width {
                    8 => x86::gru_before_candidate8(z.as_ptr(), xp, hp, u),
                    _ => x86::gru_before_candidate16(z.as_ptr(), xp, hp, u),
                }
            }
            let want: Vec<f64> = (0..u)
                .map(|j| {
                    let zg = z[j] as f64;
                    let hh = ((z[2 * u + j] + x[2 * u + j]) as f64).tanh();
                    zg * h0[j] as f64 + (1.0 - zg) * hh
                })
                .collect();
            close(&h, &want, &format!("gru_candidate{width} u={u}"));
        }
    }
}

#[test]
fn simple_rnn_matches_the_formula() {
    for width in widths() {
        for u in UNITS {
            let (z, x) = (values(u, 11, 4.0), values(u, 12, 3.0));
            let mut h = vec![0f32; u];
            let (zp, xp, hp) = (z.as_ptr(), x.as_ptr(), h.as_mut_ptr());
            // SAFETY: as above.
            unsafe {
                match width {
                    8 => x86::simple8(zp, xp, hp, u),
                    _ => x86::simple16(zp, xp, hp, u),
                }
            }
            let want: Vec<f64> = (0..u).map(|j| ((z[j] + x[j]) as f64).tanh()).collect();
            close(&h, &want, &format!("simple{width} u={u}"));
        }
    }
}

#[test]
fn short_slices_are_refused_untouched() {
    let (z, x) = (vec![1f32; 7], vec![1f32; 8]);
    let (mut c, mut h) = (vec![2f32; 2], vec![3f32; 2]);
    assert!(!super::lstm_row(&z, &x, &mut c, &mut h));
    assert!(!super::gru_row(&z[..5], &x, &x, &mut h));
    assert!(!super::simple_row(&z[..1], &x, &mut h));
    let mut zz = vec![0f32; 3];
    assert!(!super::gru_gates_row(&mut zz, &x, &h.clone(), &mut c));
    assert_eq!((c, h), (vec![2f32; 2], vec![3f32; 2]));
}

#[test]
fn the_public_rows_use_a_simd_path_when_there_is_one() {
    let u = 10;
    let (z, x) = (values(3 * u, 1, 2.0), values(3 * u, 2, 2.0));
    let mut h = vec![0.5f32; u];
    assert_eq!(super::gru_row(&z, &x, &x, &mut h), super::available());
}
