//! Fuzz target: `vjson::fuzz::rows` (see src/fuzz.rs). Run with `./scripts/fuzz.sh rows`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vjson::fuzz::rows(data));
