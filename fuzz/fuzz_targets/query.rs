//! Fuzz target: `vjson::fuzz::query` (see src/fuzz.rs). Run with `./scripts/fuzz.sh query`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vjson::fuzz::query(data));
