#!/usr/bin/env bash
# Runs every test of vjson: native Rust (unit, integration, doc, CLI), the core's tests
# on wasm32 under Node, and the npm package in Node and headless Chromium.
# Installs what it needs first (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

./scripts/setup.sh
SECONDS=0
step() { echo "== [$((SECONDS / 60))m$((SECONDS % 60))s] $*"; }

step "lint: rustfmt, clippy"
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings

# --- native (issue 2: core) ---------------------------------------------------------------
# Every Rust test target (unit tests, tests/*.rs including the property tests of
# tests/proptest.rs, the benches once each in test mode) and the doc tests; then the core's
# tests on the sample again with their output, to show the recall figures they measure.
step "native: unit, integration and doc tests"
cargo test --release --all-targets
cargo test --release --doc
step "native: the core's tests on the sample, with their recall figures (tests/core.rs)"
cargo test --release --test core -- --nocapture

# --- wasm32 (issue 2: core) ---------------------------------------------------------------
# The same tests/core.rs compiled to wasm32 and run in Node by wasm-bindgen-test-runner
# (release: the sample is indexed at default settings, single-threaded).
step "wasm32: the core's tests under Node (wasm-bindgen-test)"
cargo test --release --target wasm32-unknown-unknown --test core -- --nocapture

# --- npm package (issue 4) ---------------------------------------------------------------
# Builds pkg/ (one wasm32 compile, wasm-bindgen web + nodejs, wasm-opt -Oz from npm
# binaryen; prints the gzipped size), packs it, installs the tarball into a temporary
# project and runs the Node tests there (API, every error code, native <-> Node snapshot
# parity on the sample, TypeScript declarations, the edge example under the node, worker
# and workerd conditions); then the www/ demo in headless Chromium (playwright-core).
step "npm package: dev packages (npm ci) and Chromium"
npm ci --no-audit --no-fund --loglevel=error
if ! command -v chromium >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y chromium
fi
step "npm package: build, then Node tests on the packed package"
node tests/js/run.mjs
step "npm package: the www/ demo in headless Chromium"
CHROMIUM="$(command -v chromium)" node --test tests/browser/
