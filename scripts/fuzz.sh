#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo fuzz: libFuzzer with AddressSanitizer, nightly toolchain) of
# every decoder of outside input. src/fuzz.rs holds the entry points, fuzz/fuzz_targets/ one
# target each (manifest, rows, graph, wal, snapshot, filter, jsonl, query), fuzz/seeds/ a
# seed corpus made from valid files (tests/data/v1 and hand-written inputs).
#
# Usage: scripts/fuzz.sh [--seconds N | --runs N] [TARGET ...]
#   default: every target for 30 s; --runs N stops each target after N executions.
# Every run caps memory (-rss_limit_mb=2048, -malloc_limit_mb=512: no allocation larger
# than the input justifies) and time per input (-timeout=10). It prints each target's
# executions; a crash, a panic, a leak or a capped allocation stops it and fails the script,
# the input saved under $CARGO_TARGET_DIR/fuzz/artifacts/TARGET/. The growing corpus lives
# in $CARGO_TARGET_DIR/fuzz/corpus/TARGET (git-ignored). Installs cargo-fuzz when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

LIMIT=(-max_total_time=30)
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) LIMIT=(-max_total_time="$2"); shift 2 ;;
    --runs) LIMIT=(-runs="$2"); shift 2 ;;
    *) break ;;
  esac
done
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
  TARGETS=(manifest rows graph wal snapshot filter jsonl query)
fi

if ! rustup toolchain list | grep -q '^nightly'; then
  echo "fuzz: no nightly toolchain here (cargo fuzz needs one): fuzzing skipped" >&2
  exit 0
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz"
  cargo install cargo-fuzz
fi

TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/fuzz
for t in "${TARGETS[@]}"; do
  corpus="$TARGET_DIR/corpus/$t"
  artifacts="$TARGET_DIR/artifacts/$t/"
  mkdir -p "$corpus" "$artifacts"
  echo "fuzz: $t (${LIMIT[*]})"
  log="$TARGET_DIR/$t.log"
  if ! cargo +nightly fuzz run --fuzz-dir fuzz --target-dir "$TARGET_DIR/build" "$t" "$corpus" "fuzz/seeds/$t" -- \
      "${LIMIT[@]}" -rss_limit_mb=2048 -malloc_limit_mb=512 -timeout=10 \
      -artifact_prefix="$artifacts" -print_final_stats=1 > "$log" 2>&1; then
    tail -40 "$log" >&2
    echo "fuzz: $t FAILED; the input is in $artifacts" >&2
    exit 1
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  echo "fuzz: $t passed: ${runs:-?} executions, corpus $(ls "$corpus" | wc -l) inputs"
done
