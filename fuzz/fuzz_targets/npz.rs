//! An `.npz` of weights from bytes (a zip of `.npy` members).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tensorweave_fuzz::BUDGET;

fuzz_target!(|data: &[u8]| {
    let _ =
        tensorweave_io::npz::read_npz_arrays_with(std::io::Cursor::new(data), "fuzz.npz", &BUDGET);
});
