//! A `.keras` archive from bytes: read (zip, config.json, weights), build the
//! model from its config, load its weights. Errors are fine; panics, aborts and
//! allocations past the budget are findings.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tensorweave_fuzz::BUDGET;
use tensorweave_io::keras_archive::read_keras_archive_from_with;

fuzz_target!(|data: &[u8]| {
    let Ok(archive) =
        read_keras_archive_from_with(std::io::Cursor::new(data), "fuzz.keras", &BUDGET)
    else {
        return;
    };
    let registry = tensorweave_io::default_registry();
    if let Ok(model) = tensorweave_io::model_from_keras_config(&archive.config, &registry) {
        let _ = archive.load_weights_into_with(&model, &BUDGET);
    }
});
