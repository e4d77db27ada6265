#!/usr/bin/env bash
# Runs every test of vjson: native Rust (unit, integration, doc, CLI), the core's tests
# on wasm32 under Node, the npm package in Node and headless Chromium, the Python
# package (built with maturin into a virtualenv, tested with pytest), and a short run of
# every fuzz target.
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
cargo clippy --all-targets --features failpoints -- -D warnings

# --- native (issue 2: core) ---------------------------------------------------------------
# Every Rust test target (unit tests, tests/*.rs including the property tests of
# tests/proptest.rs, the benches once each in test mode) and the doc tests; then the core's
# tests on the sample again with their output, to show the recall figures they measure.
step "native: unit, integration and doc tests"
cargo test --release --all-targets
cargo test --release --doc
step "native: the core's tests on the sample, with their recall figures (tests/core.rs)"
cargo test --release --test core -- --nocapture

# --- native on-disk mode (issue 3: storage) ----------------------------------------------
# `cargo test --all-targets` above already ran tests/disk.rs (reopen, log replay, torn and
# damaged logs, damaged files, lock, compaction), tests/crash.rs (20 kill -9 rounds of a
# child process writing, checked against a reference model of the acknowledged writes),
# tests/concurrency.rs (8 readers + 1 writer; 8 readers + 2 writers for 3 s), and
# tests/tantivy_parity.rs, plus a toy-size pass of benches/disk.rs. Here the parity test
# and the crash rounds run again with their output, for the figures they print. The long
# crash run (`cargo test --release --test crash -- --ignored`, 300 rounds) is not run here.
step "native on-disk: BM25 / Tantivy parity and kill -9 crash rounds, with their figures"
cargo test --release --test tantivy_parity --test crash -- --nocapture

# --- reliability (issue 13) --------------------------------------------------------------
# I/O faults: every write, fsync, rename and commit failing (injected at the file layer;
# the `failpoints` feature builds the points in, src/fault.rs), a full tmpfs, a read-only
# bind mount, files removed while open. tests/concurrency.rs's short soak (2 writers, 8
# readers) ran above; the 60 s soak is `cargo test --release --test concurrency -- --ignored`.
step "reliability: I/O faults (tests/faults.rs, feature failpoints)"
cargo test --release --features failpoints --test faults -- --nocapture

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

# --- Python package (issue 11) ------------------------------------------------------------
# A virtualenv with maturin, pytest, numpy and mypy; clippy on the binding crate; the wheel
# built and installed by `maturin develop --release`; mypy.stubtest on the stubs; then
# pytest: the seed's examples verbatim, every method and error type, numpy without copies,
# threads, and the cross-target checks (a database from Python read by the CLI built above,
# snapshots between Python and the npm package built above: VJSON_REQUIRE_ALL makes a
# missing one a failure, not a skip).
step "Python package: build (maturin), stubtest, pytest"
VJSON_REQUIRE_ALL=1 ./scripts/python.sh

# --- fuzzing (issue 13) --------------------------------------------------------------------
# Every decoder of outside input under cargo fuzz (libFuzzer + AddressSanitizer, nightly),
# 10 s per target from the committed seeds; the long runs are `./scripts/fuzz.sh --runs N`
# (RELIABILITY.md). Skipped, saying so, where no nightly toolchain is installed.
step "fuzzing: every decoder, 10 s each"
./scripts/fuzz.sh --seconds 10
step "done"
