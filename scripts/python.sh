#!/usr/bin/env bash
# Builds the Python package (bindings/python) and runs its checks and tests:
#   1. a virtualenv at bindings/python/.venv (or $VJSON_PY_VENV) with maturin, pytest, numpy,
#      mypy and ray from PyPI (skipped when they are there; where Ray cannot be installed the
#      Ray tests are skipped, saying so),
#   2. clippy on the binding crate, then `maturin develop --release` (builds the abi3 wheel
#      and installs it into the virtualenv; honours CARGO_TARGET_DIR),
#   3. mypy.stubtest (the hand-written stubs against the built module) and mypy on the
#      package, then pytest on bindings/python/tests.
# Usage: scripts/python.sh [--build-only] [pytest arguments...]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD_ONLY=0
if [ "${1:-}" = "--build-only" ]; then
  BUILD_ONLY=1
  shift
fi

VENV=${VJSON_PY_VENV:-$ROOT/bindings/python/.venv}
PY=${PYTHON:-python3}
if [ ! -x "$VENV/bin/python" ]; then
  echo "python: creating the virtualenv $VENV"
  "$PY" -m venv "$VENV"
fi
# shellcheck disable=SC1091
. "$VENV/bin/activate"
if ! python -c "import maturin, pytest, numpy, mypy" 2>/dev/null; then
  echo "python: installing maturin, pytest, numpy and mypy"
  python -m pip install --quiet --upgrade pip
  python -m pip install --quiet "maturin>=1.9.4,<2" pytest numpy mypy
fi
if ! python -c "import ray" 2>/dev/null; then
  echo "python: installing ray (vjson.distributed and its tests)"
  if ! python -m pip install --quiet "ray>=2.9"; then
    echo "python: Ray cannot be installed on this machine: the vjson.distributed tests will be skipped" >&2
    export VJSON_NO_RAY=1
  fi
fi
export PYO3_PYTHON="$VENV/bin/python"
export RAY_USAGE_STATS_ENABLED=0

echo "python: clippy on the binding crate"
cargo clippy -p vjson-python --all-targets -- -D warnings
echo "python: maturin develop --release"
(cd bindings/python && maturin develop --release --quiet)
if [ "$BUILD_ONLY" = 1 ]; then
  exit 0
fi

echo "python: stubtest and mypy"
(cd "$ROOT/bindings/python" && python -m mypy.stubtest vjson && python -m mypy --strict python/vjson tests/typing_usage.py)

TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | python -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
export VJSON_CLI=${VJSON_CLI:-$TARGET_DIR/release/vjson}
export VJSON_NPM_PKG=${VJSON_NPM_PKG:-$ROOT/pkg}
echo "python: pytest"
python -m pytest bindings/python/tests "$@"
