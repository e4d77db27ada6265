//! Fuzz target: `vjson::fuzz::manifest` (see src/fuzz.rs). Run with `./scripts/fuzz.sh manifest`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vjson::fuzz::manifest(data));
