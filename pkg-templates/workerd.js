// vjson for Cloudflare Workers / workerd (the "workerd" export condition). workerd does not
// compile WebAssembly from bytes at run time, so the module is imported as a compiled
// WebAssembly.Module (wrangler's default rule for .wasm) and instantiated synchronously:
// VectorDB is ready when the import returns; `await init()` is a harmless no-op.
import wasmModule from "./vjson_bg.wasm";
import init, { initSync, VectorDB } from "./vjson_web.js";
import { persistence } from "./persist.js";

initSync({ module: wasmModule });

export default init;
export { init, initSync, VectorDB };
export const {
  saveToIndexedDB,
  loadFromIndexedDB,
  deleteFromIndexedDB,
  saveToOPFS,
  loadFromOPFS,
  deleteFromOPFS,
  hasOPFS,
} = persistence(VectorDB);
