//! Fuzz target: `vjson::fuzz::snapshot` (see src/fuzz.rs). Run with `./scripts/fuzz.sh snapshot`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vjson::fuzz::snapshot(data));
