//! Fuzz target: `vjson::fuzz::graph` (see src/fuzz.rs). Run with `./scripts/fuzz.sh graph`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vjson::fuzz::graph(data));
