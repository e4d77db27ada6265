// `node --import ./wrangler-rules.mjs`: lets Node load modules the way wrangler bundles
// them for workerd, so the example's worker.mjs and the package's "workerd" entry run
// under Node in tests: *.wasm imports become a compiled WebAssembly.Module, *.vjson
// imports an ArrayBuffer of the file.
import { register } from "node:module";

register("./wrangler-hooks.mjs", import.meta.url);
