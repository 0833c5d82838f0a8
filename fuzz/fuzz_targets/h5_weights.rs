//! Keras HDF5 weights from bytes, read for one of the fixture models (the
//! first byte picks it) within the budget.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tensorweave_fuzz::{model_for, BUDGET};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, h5)) = data.split_first() else {
        return;
    };
    if let Some(model) = model_for(pick) {
        let _ = tensorweave_io::h5_weights::keras_h5_weights_with(model, h5, &BUDGET);
    }
});
