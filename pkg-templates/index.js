// vjson for browsers and bundlers (the "browser" and "default" export conditions).
// Call `await init()` once before using VectorDB; it fetches vjson_bg.wasm next to this
// file (or pass the bytes, a Response, a URL or a WebAssembly.Module yourself).
import init, { initSync, VectorDB } from "./vjson_web.js";
import { persistence } from "./persist.js";

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
