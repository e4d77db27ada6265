//! Fuzz target: `vjson::fuzz::wal` (see src/fuzz.rs). Run with `./scripts/fuzz.sh wal`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vjson::fuzz::wal(data));
