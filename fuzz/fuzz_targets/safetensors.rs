//! Safetensors weights from bytes, read for one of the fixture models (the
//! first byte picks it) within the budget: the header checks and the reads
//! alone, without building a model from JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;
use tensorweave_fuzz::{model_for, BUDGET};
use tensorweave_io::native::weights_from_safetensors;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, weights)) = data.split_first() else {
        return;
    };
    if let Some(model) = model_for(pick) {
        if let Ok(w) =
            weights_from_safetensors(model, weights, Path::new("fuzz.safetensors"), &BUDGET)
        {
            assert_eq!(w.len(), model.weight_specs().len());
        }
    }
});
