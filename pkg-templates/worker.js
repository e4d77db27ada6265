// vjson for edge runtimes and web workers (the "worker" export condition): the web build
// initialised synchronously from the module bytes embedded in vjson_bg.wasm.js, so nothing
// is fetched and VectorDB is ready when the import returns; `await init()` is a no-op.
import { wasmBase64 } from "./vjson_bg.wasm.js";
import init, { initSync, VectorDB } from "./vjson_web.js";
import { persistence } from "./persist.js";

function decode(b64) {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return bytes;
}

initSync({ module: decode(wasmBase64) });

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
