#!/usr/bin/env bash
# Runs every test of vjson: native Rust (unit, integration, doc, CLI), the core's tests
# on wasm32 under Node, and the npm package in Node and headless Chromium.
# Installs what it needs first (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

./scripts/setup.sh

echo "== lint: rustfmt, clippy"
cargo fmt --all -- --check
cargo clippy --all-targets --release -- -D warnings

echo "== native: unit, integration and doc tests"
cargo test --release --all-targets
cargo test --release --doc

echo "== wasm32: the core's tests under Node (wasm-bindgen-test)"
cargo test --release --target wasm32-unknown-unknown --test core
