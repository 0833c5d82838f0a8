//! tensorweave's native format from bytes: a model JSON (its length in 4
//! little-endian bytes after a first byte that picks a fixture model) and
//! safetensors weights. The JSON is built into a model; the weights are read
//! for that model, and for the picked fixture model.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;
use tensorweave_core::Model;
use tensorweave_fuzz::{model_for, BUDGET};
use tensorweave_io::native::weights_from_safetensors;
use tensorweave_io::ModelIo;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Some(len) = rest.get(..4) else {
        return;
    };
    let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
    let rest = &rest[4..];
    let (json, weights) = rest.split_at(len.min(rest.len()));
    let source = Path::new("fuzz.safetensors");
    if let Ok(text) = std::str::from_utf8(json) {
        if let Ok(model) = <Model as ModelIo>::from_json(text) {
            if let Ok(w) = weights_from_safetensors(&model, weights, source, &BUDGET) {
                let _ = model.set_weights(&w);
            }
        }
    }
    if let Some(model) = model_for(pick) {
        let _ = weights_from_safetensors(model, weights, source, &BUDGET);
    }
});
