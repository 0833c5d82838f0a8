//! An `.npy` input from bytes, checked and converted to each input dtype.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tensorweave_fuzz::BUDGET;
use tensorweave_io::npy::Npy;

fuzz_target!(|data: &[u8]| {
    if let Ok(npy) = Npy::from_bytes(data.to_vec(), "fuzz.npy", &BUDGET) {
        let _ = npy.to_f32();
        let _ = npy.to_i32();
        let _ = npy.to_bool();
    }
});
