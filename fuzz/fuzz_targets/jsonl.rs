//! Fuzz target: `vjson::fuzz::jsonl` (see src/fuzz.rs). Run with `./scripts/fuzz.sh jsonl`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vjson::fuzz::jsonl(data));
