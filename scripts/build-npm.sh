#!/usr/bin/env bash
# Builds the `vjson` npm package into pkg/ (git-ignored), ready for `npm pack`:
#   1. one wasm32 compile of the library (`--profile wasm`: opt-level 2, fat LTO, one
#      codegen unit; see Cargo.toml),
#   2. wasm-bindgen glue for the `web` target (browsers, bundlers, workers) and the `nodejs`
#      target (Node), sharing one .wasm file (the two targets emit byte-identical modules),
#   3. `wasm-opt -Oz` from the npm `binaryen` package (Debian's older wasm-opt breaks
#      wasm-bindgen 0.2.130 modules, so it is never used),
#   4. the entry files, TypeScript declarations, package.json and README from pkg-templates/.
# Installs what it needs first (scripts/setup.sh, npm ci); honours CARGO_TARGET_DIR.
# Prints the gzipped size of the .wasm and fails above the budget, 150 KB (149.4 KB,
# 152,958 bytes, on 2026-12-04). What the bytes are and what was traded for them: see the
# comment on `[profile.wasm]` in Cargo.toml. The largest parts left: serde_json's parser
# with exact floats (`float_roundtrip`) and its writer, the standard library's float
# formatting (kept by serde's error messages), sort instances, the filter parser, the
# snapshot codec, the stemmer.
#
# Options: --out DIR (default pkg)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

OUT=pkg
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT=$2; shift 2 ;;
    *) echo "build-npm: unknown argument $1" >&2; exit 2 ;;
  esac
done

# The wasm32 target and wasm-bindgen-cli (skipped when installed).
./scripts/setup.sh

# Dev tooling (binaryen's wasm-opt) from the repository's package.json.
if [ ! -x node_modules/.bin/wasm-opt ]; then
  echo "build-npm: installing the dev packages (npm ci)"
  npm ci --no-audit --no-fund
fi
WASM_OPT=$ROOT/node_modules/.bin/wasm-opt

echo "build-npm: cargo build --profile wasm --target wasm32-unknown-unknown --lib"
cargo build --profile wasm --target wasm32-unknown-unknown --lib
# Cargo's target directory, wherever CARGO_TARGET_DIR or a config puts it.
TARGET=$(cargo metadata --format-version 1 --no-deps |
  node -e 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => console.log(JSON.parse(s).target_directory))')
RAW=$TARGET/wasm32-unknown-unknown/wasm/vjson.wasm

WORK=$TARGET/npm-build
rm -rf "$WORK"
mkdir -p "$WORK/web" "$WORK/node"
wasm-bindgen --target web --no-typescript --out-dir "$WORK/web" --out-name vjson "$RAW"
wasm-bindgen --target nodejs --no-typescript --out-dir "$WORK/node" --out-name vjson "$RAW"
if ! cmp -s "$WORK/web/vjson_bg.wasm" "$WORK/node/vjson_bg.wasm"; then
  echo "build-npm: wasm-bindgen emitted different modules for web and nodejs; the package assumes one" >&2
  exit 1
fi

# The features rustc enables for wasm32-unknown-unknown (plus simd128 from
# .cargo/config.toml); wasm-opt must neither reject nor lower them.
"$WASM_OPT" -Oz \
  --enable-simd --enable-bulk-memory --enable-nontrapping-float-to-int \
  --enable-sign-ext --enable-reference-types --enable-multivalue --enable-mutable-globals \
  "$WORK/web/vjson_bg.wasm" -o "$WORK/vjson_bg.wasm"

rm -rf "$OUT"
mkdir -p "$OUT"
cp "$WORK/vjson_bg.wasm" "$OUT/vjson_bg.wasm"
cp "$WORK/web/vjson.js" "$OUT/vjson_web.js"
# The nodejs glue is CommonJS; .cjs keeps it so inside a "type": "module" package.
sed -e 's|^/\* @ts-self-types=.*\*/$||' "$WORK/node/vjson.js" > "$OUT/vjson_node.cjs"
sed -i -e 's|^/\* @ts-self-types=.*\*/$||' "$OUT/vjson_web.js"
# For the "worker" condition: the module bytes embedded in JS, so nothing is fetched.
node -e '
const fs = require("fs");
const b64 = fs.readFileSync(process.argv[1]).toString("base64");
fs.writeFileSync(process.argv[2],
  "// The vjson wasm module, base64-encoded, for runtimes that cannot fetch it.\n" +
  "export const wasmBase64 = \"" + b64 + "\";\n");
' "$OUT/vjson_bg.wasm" "$OUT/vjson_bg.wasm.js"

cp pkg-templates/index.js pkg-templates/node.js pkg-templates/worker.js \
  pkg-templates/workerd.js pkg-templates/persist.js pkg-templates/index.d.ts \
  pkg-templates/README.md "$OUT/"
VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
sed -e "s/@VERSION@/$VERSION/" pkg-templates/package.json > "$OUT/package.json"

RAW_KB=$(( $(wc -c < "$OUT/vjson_bg.wasm") / 1024 ))
GZ_BYTES=$(gzip -9 -c "$OUT/vjson_bg.wasm" | wc -c)
GZ_KB=$(( (GZ_BYTES + 1023) / 1024 ))
echo "build-npm: $OUT/vjson_bg.wasm is ${RAW_KB} KB, ${GZ_KB} KB gzipped (gzip -9, $GZ_BYTES bytes; budget <= 150 KB)"
if [ "$GZ_BYTES" -gt $((150 * 1024)) ]; then
  echo "build-npm: the gzipped wasm is over the 150 KB budget; see [profile.wasm] in Cargo.toml for where the bytes go" >&2
  exit 1
fi
echo "build-npm: package vjson@$VERSION ready in $OUT/ (npm pack $OUT)"
