//! What a folded embedding table keeps on the heap: its own size, not the
//! capacity a row-by-row build grows to (which held 50 MiB for each 30.5
//! MiB table of the reference BiLSTM). A counting global allocator (this
//! test binary has one test, so nothing else allocates meanwhile) measures
//! the live heap before and after the call that builds the table.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use ndarray::Array2;
use tensorweave::prelude::*;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to `System` with the caller's layout; the
// counter is only a statistic.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Relaxed);
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Relaxed);
        System.alloc_zeroed(layout)
    }
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Relaxed);
        System.dealloc(p, layout)
    }
    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new, Relaxed);
        LIVE.fetch_sub(layout.size(), Relaxed);
        System.realloc(p, layout, new)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[test]
fn a_folded_table_holds_its_size() {
    // 1025 rows of 4 gates × 4 units: a build doubling from one row would
    // end at a capacity of 2048 rows.
    let tokens = Input::new([None]).dtype(DType::I32).build();
    let x = Embedding::new(1025, 8).seed(1).call(&tokens).unwrap();
    let y = Lstm::new(4).seed(2).call(&x).unwrap();
    let model = Model::new(&[tokens], &[y]).unwrap();
    let ids = |n: usize| {
        Value::I32(Array2::from_shape_fn((1, n), |(_, t)| (t % 1024 + 1) as i32).into_dyn())
    };
    // 100 tokens: too few to fold (half the vocabulary is 513); warms the
    // lazily made buffers.
    drop(model.predict(&[ids(100)]).unwrap());
    assert_eq!(model.cache_bytes(), 0);
    let before = LIVE.load(Relaxed);
    drop(model.predict(&[ids(600)]).unwrap());
    let kept = LIVE.load(Relaxed) - before;
    let table = 1025 * 16 * 4;
    assert_eq!(model.cache_bytes(), table);
    assert!(
        (table..table + 4096).contains(&kept),
        "the fold kept {kept} bytes for a table of {table}"
    );
}
