//! Fuzz target: `vjson::fuzz::filter` (see src/fuzz.rs). Run with `./scripts/fuzz.sh filter`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vjson::fuzz::filter(data));
