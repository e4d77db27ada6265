// Browser persistence for vjson databases: snapshots saved to and restored from IndexedDB
// and, where the browser has it, the Origin Private File System (OPFS). Errors carry a
// `code` like every vjson error: "unsupported" when the storage is missing here, "io" when
// the browser refuses, "invalid_options" for a bad name.

const IDB_NAME = "vjson";
const IDB_STORE = "snapshots";

function vjsonError(code, message, cause) {
  const e = new Error(message, cause === undefined ? undefined : { cause });
  e.code = code;
  return e;
}

function checkName(name) {
  if (typeof name !== "string" || name.length === 0) {
    throw vjsonError("invalid_options", "the storage name must be a non-empty string");
  }
}

function checkDb(db) {
  if (db === null || typeof db !== "object" || typeof db.exportSnapshot !== "function") {
    throw vjsonError("invalid_options", "the first argument must be a VectorDB");
  }
}

function openIdb() {
  if (typeof indexedDB === "undefined") {
    return Promise.reject(
      vjsonError("unsupported", "IndexedDB is not available in this environment"),
    );
  }
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(IDB_NAME, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(IDB_STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () =>
      reject(vjsonError("io", `could not open IndexedDB: ${req.error}`, req.error));
    req.onblocked = () =>
      reject(vjsonError("io", "IndexedDB is blocked by another open connection"));
  });
}

/** Runs `fn(store)` in one transaction; resolves with the request's result once committed. */
async function idb(mode, fn) {
  const conn = await openIdb();
  try {
    return await new Promise((resolve, reject) => {
      const tx = conn.transaction(IDB_STORE, mode);
      const req = fn(tx.objectStore(IDB_STORE));
      tx.oncomplete = () => resolve(req.result);
      tx.onerror = () => reject(vjsonError("io", `IndexedDB failed: ${tx.error}`, tx.error));
      tx.onabort = () =>
        reject(vjsonError("io", `IndexedDB transaction aborted: ${tx.error}`, tx.error));
    });
  } finally {
    conn.close();
  }
}

function hasOPFS() {
  return (
    typeof navigator !== "undefined" &&
    typeof navigator.storage?.getDirectory === "function"
  );
}

async function opfsRoot() {
  if (!hasOPFS()) {
    throw vjsonError("unsupported", "the Origin Private File System is not available here");
  }
  try {
    return await navigator.storage.getDirectory();
  } catch (e) {
    throw vjsonError("unsupported", `the Origin Private File System is not available: ${e}`, e);
  }
}

const opfsFile = (name) => `${encodeURIComponent(name)}.vjson`;

/** Binds the helpers to one build's VectorDB class. */
export function persistence(VectorDB) {
  /** Saves `db`'s snapshot under `name`; resolves with its size in bytes. */
  async function saveToIndexedDB(db, name) {
    checkDb(db);
    checkName(name);
    const bytes = db.exportSnapshot();
    await idb("readwrite", (s) => s.put(bytes, name));
    return bytes.byteLength;
  }

  /** The database saved under `name`, or null when there is none. */
  async function loadFromIndexedDB(name) {
    checkName(name);
    const bytes = await idb("readonly", (s) => s.get(name));
    if (bytes === undefined) return null;
    return VectorDB.importSnapshot(bytes);
  }

  /** Removes the snapshot saved under `name` (nothing happens when there is none). */
  async function deleteFromIndexedDB(name) {
    checkName(name);
    await idb("readwrite", (s) => s.delete(name));
  }

  /** Saves `db`'s snapshot as an OPFS file; resolves with its size in bytes. */
  async function saveToOPFS(db, name) {
    checkDb(db);
    checkName(name);
    const bytes = db.exportSnapshot();
    const root = await opfsRoot();
    try {
      const handle = await root.getFileHandle(opfsFile(name), { create: true });
      if (typeof handle.createWritable === "function") {
        // The browser writes a swap file and swaps it in on close: all or nothing.
        const w = await handle.createWritable();
        await w.write(bytes);
        await w.close();
      } else if (typeof handle.createSyncAccessHandle === "function") {
        // Safari before 18.4: only sync access handles, and only inside workers.
        const h = await handle.createSyncAccessHandle();
        try {
          h.truncate(0);
          h.write(bytes, { at: 0 });
          h.flush();
        } finally {
          h.close();
        }
      } else {
        throw vjsonError("unsupported", "this browser cannot write OPFS files here");
      }
    } catch (e) {
      if (e && e.code && typeof e.code === "string") throw e;
      throw vjsonError("io", `could not write the OPFS file: ${e}`, e);
    }
    return bytes.byteLength;
  }

  /** The database saved in OPFS under `name`, or null when there is none. */
  async function loadFromOPFS(name) {
    checkName(name);
    const root = await opfsRoot();
    let file;
    try {
      const handle = await root.getFileHandle(opfsFile(name));
      file = await handle.getFile();
    } catch (e) {
      if (e && e.name === "NotFoundError") return null;
      throw vjsonError("io", `could not read the OPFS file: ${e}`, e);
    }
    return VectorDB.importSnapshot(new Uint8Array(await file.arrayBuffer()));
  }

  /** Removes the OPFS file saved under `name` (nothing happens when there is none). */
  async function deleteFromOPFS(name) {
    checkName(name);
    const root = await opfsRoot();
    try {
      await root.removeEntry(opfsFile(name));
    } catch (e) {
      if (e && e.name === "NotFoundError") return;
      throw vjsonError("io", `could not remove the OPFS file: ${e}`, e);
    }
  }

  return {
    saveToIndexedDB,
    loadFromIndexedDB,
    deleteFromIndexedDB,
    saveToOPFS,
    loadFromOPFS,
    deleteFromOPFS,
    hasOPFS,
  };
}
