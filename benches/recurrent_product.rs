//! How close the batch-1 recurrent product gets to the memory limit: the
//! packed one-row product (`gemv`) of the seed's LSTM (`[1, 100] × [100, 400]`)
//! and GRU (`[1, 100] × [100, 300]`) recurrent kernels, against a plain read
//! of the same bytes, on one core and on both at once (a Bidirectional runs
//! one direction per core). Criterion reports bytes per second
//! (`Throughput::Bytes`: the kernel's size). At batch 32 it compares the
//! `gemm` crate's product with [`panel_product`] on the same shapes
//! (`Throughput::Elements`: multiply-adds). `docs/performance.md` gives the
//! numbers of the reference machine.
//!
//! `cargo bench --bench recurrent_product`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tensorweave_kernels::{gemv, matmul, panel_product, Mat, Panels};

/// Sums `data` in 64 independent lanes: the fastest read the compiler makes of
/// it (16-wide loads with AVX-512), the yardstick for the product's read.
#[inline(always)]
fn read_body(data: &[f32]) -> f32 {
    let mut acc = [0f32; 64];
    for chunk in data.chunks_exact(64) {
        for (a, &v) in acc.iter_mut().zip(chunk) {
            *a += v;
        }
    }
    acc.iter().sum()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn read_avx512(data: &[f32]) -> f32 {
    read_body(data)
}

fn read(data: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if tensorweave_kernels::cpu().avx512f {
        // SAFETY: the CPU has AVX-512F.
        return unsafe { read_avx512(data) };
    }
    read_body(data)
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("recurrent_product");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    for (name, k, n) in [("lstm100", 100, 400), ("gru100", 100, 300)] {
        let w: Vec<f32> = (0..k * n).map(|i| ((i % 17) as f32 - 8.0) * 0.01).collect();
        let panels = Panels::pack(Mat::dense(&w, k, n)).expect("pack");
        let h: Vec<f32> = (0..k).map(|i| (i as f32 * 0.1).sin()).collect();
        group.throughput(Throughput::Bytes((k * n * 4) as u64));
        let mut out = vec![0f32; n];
        group.bench_function(format!("{name}/gemv_1core"), |b| {
            b.iter(|| gemv(black_box(&h), &panels, &mut out).expect("gemv"))
        });
        group.bench_function(format!("{name}/read_1core"), |b| {
            b.iter(|| read(black_box(&w)))
        });
        // Both cores, each on its own copy (as the two directions are): the
        // time of 1000 back-to-back products per core, per product.
        let copies = [
            Panels::pack(Mat::dense(&w, k, n)).expect("pack"),
            Panels::pack(Mat::dense(&w, k, n)).expect("pack"),
        ];
        group.throughput(Throughput::Bytes((2 * 1000 * k * n * 4) as u64));
        group.bench_function(format!("{name}/gemv_2cores_x1000"), |b| {
            b.iter(|| {
                std::thread::scope(|s| {
                    for p in &copies {
                        let h = &h;
                        s.spawn(move || {
                            let mut out = vec![0f32; n];
                            for _ in 0..1000 {
                                gemv(black_box(h), p, &mut out).expect("gemv");
                            }
                        });
                    }
                })
            })
        });
        // A batch of 32 rows: the `gemm` crate's product against the panel
        // product (which allocates nothing), one core.
        let rows = 32;
        let hs: Vec<f32> = (0..rows * k).map(|i| (i as f32 * 0.1).sin()).collect();
        let mut outs = vec![0f32; rows * n];
        group.throughput(Throughput::Elements((rows * k * n) as u64));
        group.bench_function(format!("{name}/batch32_gemm_crate"), |b| {
            b.iter(|| {
                matmul(
                    black_box(&hs),
                    rows,
                    Mat::dense(&w, k, n),
                    &mut outs,
                    n,
                    false,
                )
                .expect("matmul")
            })
        });
        group.bench_function(format!("{name}/batch32_panel_product"), |b| {
            b.iter(|| panel_product(black_box(&hs), rows, &panels, &mut outs, n).expect("panels"))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
