#!/usr/bin/env bash
# Regenerates the benchmark tables of BENCHMARKS.md and the recall-QPS plot the README
# links, measuring vjson and its peers side by side in one run:
#   1. ANN: vjson (default int8 walk + exact re-rank, and the f32 walk), hnswlib, faiss
#      HNSW32 and flat, usearch on rustdocs, a uniform and a clustered set
#      (benches/peers/ann.py: build time, peak RSS, index bytes / vector, QPS and recall
#      per ef) -> the "ann-bench" table and benches/peers/recall_qps.png.
#   2. Ingest: vjson's insert_batch (vectors; with text and metadata; durably on disk)
#      against hnswlib's add_items on rustdocs and 10,000 x 768 real-like and random sets
#      (benches/peers/ingest.py) -> the "ingest-bench" table.
# The JS table (vjson's npm package vs Orama and Voy) is benches/js/bench.mjs's.
#
# Usage: scripts/bench.sh [--rustdocs DIR] [--quick]
#   --rustdocs DIR   the rustdocs corpus (default: $VJSON_CORPUS, else ../shared/data/rustdocs
#                    when present; without it the rustdocs rows are skipped)
#   --quick          generated sets ten times smaller (a smoke run)
# Honours CARGO_TARGET_DIR (datasets and raw results go under it, in ann-bench/).
set -euo pipefail
cd "$(dirname "$0")/.."

RUSTDOCS=${VJSON_CORPUS:-}
if [ -z "$RUSTDOCS" ] && [ -f ../shared/data/rustdocs/docs.f32 ]; then
  RUSTDOCS=$(cd ../shared/data/rustdocs && pwd)
fi
EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --rustdocs) RUSTDOCS=$2; shift 2 ;;
    --quick) EXTRA+=(--quick); shift ;;
    *) echo "bench: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ -n "$RUSTDOCS" ]; then EXTRA+=(--rustdocs "$RUSTDOCS"); fi

python3 benches/peers/ann.py "${EXTRA[@]}" --markdown BENCHMARKS.md \
  --plot benches/peers/recall_qps.png
python3 benches/peers/ingest.py "${EXTRA[@]}" --markdown BENCHMARKS.md
