//! A Keras `to_json` config from bytes, built into a model with the default
//! registry (`Model::from_json` via tensorweave-io).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tensorweave_core::Model;
use tensorweave_io::ModelIo;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = <Model as ModelIo>::from_json(text);
    }
});
