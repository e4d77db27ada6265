// vjson for Node.js (the "node" export condition). The module is compiled and ready when
// the import returns; `init()` and `initSync()` exist so that code written for browsers
// runs unchanged.
import { VectorDB } from "./vjson_node.cjs";
import { persistence } from "./persist.js";

export default async function init() {}
export { init };
export function initSync() {}
export { VectorDB };
export const {
  saveToIndexedDB,
  loadFromIndexedDB,
  deleteFromIndexedDB,
  saveToOPFS,
  loadFromOPFS,
  deleteFromOPFS,
  hasOPFS,
} = persistence(VectorDB);
