#!/usr/bin/env bash
# The concurrency tests (tests/concurrency.rs: readers beside writers, read-only opens
# beside a writer, the 2-writer 8-reader soak) under ThreadSanitizer: nightly, with the
# standard library rebuilt instrumented (-Zbuild-std; without it TSan cannot see std's
# synchronisation). A data race fails the run (halt_on_error).
#
# Usage: scripts/tsan.sh [--soak]   (--soak adds the 60 s soak to the short tests)
#
# Suppressed (scripts/tsan-suppressions.txt): the `oneshot` channel inside Tantivy, which
# synchronises through standalone `fence(Acquire)`s that TSan does not model (its known
# false positive: google/sanitizers#1415); nothing of vjson's own code is suppressed.
# Not part of scripts/test.sh: the instrumented build of std and every dependency takes
# ~4 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! rustup toolchain list | grep -q '^nightly'; then
  echo "tsan: no nightly toolchain here (ThreadSanitizer needs one)" >&2
  exit 1
fi
rustup component add rust-src --toolchain nightly >/dev/null
EXTRA=()
if [ "${1:-}" = "--soak" ]; then EXTRA=(--include-ignored); fi
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/tsan
export RUSTFLAGS="-Zsanitizer=thread"
export TSAN_OPTIONS="halt_on_error=1 suppressions=$PWD/scripts/tsan-suppressions.txt"
cargo +nightly test -Zbuild-std --target x86_64-unknown-linux-gnu --release \
  --target-dir "$TARGET_DIR" --test concurrency -- --nocapture --test-threads 1 "${EXTRA[@]}"
echo "tsan: no data race in vjson's concurrency tests"
