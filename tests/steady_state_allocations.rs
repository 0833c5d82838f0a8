//! A steady-state `predict` allocates nothing that grows with the sequence
//! length (issue 13, item 4): the recurrent product of a batch makes no
//! allocation per step, and the large per-call buffers (the mask, a
//! recurrent layer's sequence output, the merged directions) are the freed
//! intermediates of the previous call, kept in the model's buffer pool.
//! A counting global allocator (this binary has one test, so nothing else
//! allocates meanwhile) counts the allocations and bytes of one call after
//! two warm-up calls of the same shape, at two lengths eight times apart.
//! The same calls check that reused buffers change no output: each equals,
//! bit for bit, the output of a call with a new, empty pool.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use std::sync::Arc;

use ndarray::Array2;
use tensorweave::core::BufferPool;
use tensorweave::prelude::*;

struct Counting;

static COUNT: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);

fn counted(size: usize) {
    COUNT.fetch_add(1, Relaxed);
    BYTES.fetch_add(size, Relaxed);
}

// SAFETY: forwards every call to `System` with the caller's layout; the
// counters are only statistics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        counted(layout.size());
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        counted(layout.size());
        System.alloc_zeroed(layout)
    }
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        System.dealloc(p, layout)
    }
    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        counted(new);
        System.realloc(p, layout, new)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const VOCAB: usize = 300;

/// The seed's classifier shape (masked embedding, BiLSTM, softmax), and a
/// BiGRU returning sequences into a max pooling (unmasked): the second has
/// a sequence output of `batch × length × 64` floats per direction.
fn model(gru: bool) -> Model {
    let tokens = Input::new([None]).dtype(DType::I32).build();
    let x = Embedding::new(VOCAB, 16)
        .mask_zero(!gru)
        .seed(1)
        .call(&tokens)
        .unwrap();
    let h = if gru {
        let s = Bidirectional::new(Gru::new(32).seed(2).return_sequences(true))
            .call(&x)
            .unwrap();
        GlobalMaxPooling1D::new().call(&s).unwrap()
    } else {
        Bidirectional::new(Lstm::new(32).seed(2)).call(&x).unwrap()
    };
    let y = Dense::new(2)
        .activation(Activation::Softmax)
        .seed(3)
        .call(&h)
        .unwrap();
    Model::new(&[tokens], &[y]).unwrap()
}

/// `batch` rows of `length` tokens, the last rows ending in padding.
fn tokens(batch: usize, length: usize) -> Value {
    Value::I32(
        Array2::from_shape_fn((batch, length), |(r, t)| {
            if t + r * length / (2 * batch) >= length {
                0
            } else {
                ((r * 131 + t * 17) % (VOCAB - 1) + 1) as i32
            }
        })
        .into_dyn(),
    )
}

/// Allocations and bytes of one call, after two calls of the same shape.
fn steady_call(model: &Model, x: &Value, ctx: &CallContext) -> (usize, usize, Vec<Value>) {
    for _ in 0..2 {
        drop(model.predict_with(std::slice::from_ref(x), ctx).unwrap());
    }
    let (c0, b0) = (COUNT.load(Relaxed), BYTES.load(Relaxed));
    let out = model.predict_with(std::slice::from_ref(x), ctx).unwrap();
    (COUNT.load(Relaxed) - c0, BYTES.load(Relaxed) - b0, out)
}

#[test]
fn steady_state_predict_allocates_nothing_that_grows_with_length() {
    let ctx = CallContext::with_threads(2);
    for gru in [false, true] {
        for batch in [1, 8] {
            let model = model(gru);
            let (short, long) = (tokens(batch, 250), tokens(batch, 2000));
            // A first long call folds the embedding (it waits for half the
            // vocabulary's worth of tokens), so that both measured calls run
            // the same way.
            drop(
                model
                    .predict_with(std::slice::from_ref(&long), &ctx)
                    .unwrap(),
            );
            let (n_short, bytes_short, out_short) = steady_call(&model, &short, &ctx);
            let (n_long, bytes_long, out_long) = steady_call(&model, &long, &ctx);
            let what = format!("{} at batch {batch}", if gru { "BiGRU" } else { "BiLSTM" });
            assert_eq!(
                n_short, n_long,
                "{what}: {n_short} allocations at length 250, {n_long} at 2000"
            );
            // Byte for byte the same: the mask alone would grow by 1,750
            // bytes per row, the BiGRU's sequence output by 448 KB per row
            // and direction.
            assert_eq!(
                bytes_short, bytes_long,
                "{what}: bytes allocated at length 250 and at 2000"
            );
            assert!(model.pool_bytes() > 0, "{what}: nothing kept for reuse");
            eprintln!("{what}: {n_long} allocations, {bytes_short} and {bytes_long} bytes");
            // Outputs of reused buffers equal, bit for bit, those of the
            // same model run with a new, empty pool (every buffer fresh), at
            // both lengths, back and forth.
            let again = model
                .predict_with(std::slice::from_ref(&short), &ctx)
                .unwrap();
            let fresh_pool = CallContext {
                pool: Some(Arc::new(BufferPool::default())),
                ..ctx.clone()
            };
            for (x, out) in [(&short, &out_short), (&long, &out_long), (&short, &again)] {
                let fresh = model
                    .predict_with(std::slice::from_ref(x), &fresh_pool)
                    .unwrap();
                assert_eq!(
                    out[0].as_f32().unwrap(),
                    fresh[0].as_f32().unwrap(),
                    "{what}"
                );
            }
            model.release_buffers();
            assert_eq!(model.pool_bytes(), 0);
        }
    }
}
