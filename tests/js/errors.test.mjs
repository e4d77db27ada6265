// Every error code the npm package can throw, each reached from JS and checked on the
// thrown Error's `code`; bad JS arguments become coded errors, never a wasm trap, and the
// database keeps working after each one.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import {
  VectorDB,
  saveToIndexedDB,
  loadFromIndexedDB,
  saveToOPFS,
  loadFromOPFS,
  hasOPFS,
} from "vjson";
import { REPO, throwsCode, rejectsCode } from "./helpers.mjs";

const DIM = 4;
const v = (...xs) => new Float32Array(xs);

function fresh() {
  const db = new VectorDB({ dimension: DIM });
  db.insert({ id: "a", vector: v(1, 0, 0, 0), text: "alpha", metadata: { n: 1 } });
  db.insert({ id: "b", vector: v(0, 1, 0, 0), text: "beta" });
  return db;
}

/** After a failed call the database still answers and holds what it held. */
function stillWorks(db) {
  assert.equal(db.size, 2);
  assert.equal(db.search({ vector: v(1, 0, 0, 0), text: "alpha", k: 1 })[0].id, "a");
}

// Codes that only the native on-disk database or its Tantivy index can produce.
const NATIVE_ONLY = ["corrupt", "locked", "read_only", "io", "text_index"];

/** Metadata nested `levels` objects deep. */
function nested(levels) {
  let m = { leaf: 1 };
  for (let i = 1; i < levels; i++) m = { m };
  return m;
}

/** A filter nesting `$not` `levels` deep. */
function nestedFilter(levels) {
  let f = { n: 1 };
  for (let i = 1; i < levels; i++) f = { $not: f };
  return f;
}

const triggers = {
  dimension_mismatch: [
    (db) => db.insert({ id: "x", vector: [1, 2, 3] }),
    (db) => db.insert({ id: "x" }),
    (db) => db.insert({ id: "x", vector: "1,2,3,4" }),
    (db) => db.insert({ id: "x", vector: { 0: 1, length: 4 } }),
    (db) => db.search({ vector: [1, 0] }),
    (db) => db.hybridSearch(new Float32Array(5), "alpha"),
  ],
  non_finite_vector: [
    (db) => db.insert({ id: "x", vector: [1, NaN, 0, 0] }),
    (db) => db.insert({ id: "x", vector: [1, "two", 0, 0] }),
    (db) => db.search({ vector: [Infinity, 0, 0, 0] }),
  ],
  zero_vector: [
    (db) => db.insert({ id: "x", vector: [0, 0, 0, 0] }),
    (db) => db.search({ vector: new Float32Array(4) }),
  ],
  empty_id: [
    (db) => db.insert({ id: "", vector: v(1, 1, 0, 0) }),
    (db) => db.insert({ vector: v(1, 1, 0, 0) }),
    (db) => db.insert({ id: 42, vector: v(1, 1, 0, 0) }),
    (db) => db.insert(null),
    (db) => db.insert("a document"),
    (db) => db.insertBatch("not an array"),
    (db) => db.insertBatch([{ id: "ok", vector: v(1, 1, 0, 0) }, { id: null, vector: v(1, 1, 0, 0) }]),
    (db) => db.upsert({ id: undefined, vector: v(1, 1, 0, 0) }),
    (db) => db.delete(7),
    (db) => db.get({ id: "a" }),
  ],
  id_too_long: [(db) => db.insert({ id: "x".repeat(1025), vector: v(1, 1, 0, 0) })],
  duplicate_id: [
    (db) => db.insert({ id: "a", vector: v(1, 1, 0, 0) }),
    (db) => db.insertBatch([{ id: "n", vector: v(1, 1, 0, 0) }, { id: "n", vector: v(1, 1, 1, 0) }]),
  ],
  not_found: [(db) => db.delete("nope")],
  limit_exceeded: [
    (db) => db.insert({ id: "x", vector: v(1, 1, 0, 0), text: "x".repeat((16 << 20) + 1) }),
    () => {
      const small = new VectorDB({ dimension: DIM, limits: { maxTextBytes: 4, maxBatchDocs: 1 } });
      small.insertBatch([{ id: "y", vector: v(1, 1, 0, 0) }, { id: "z", vector: v(1, 0, 1, 0) }]);
    },
  ],
  invalid_metadata: [
    (db) => db.insert({ id: "x", vector: v(1, 1, 0, 0), metadata: [1, 2] }),
    (db) => db.insert({ id: "x", vector: v(1, 1, 0, 0), metadata: "year=2024" }),
    (db) => db.insert({ id: "x", vector: v(1, 1, 0, 0), metadata: 5 }),
    (db) => db.insert({ id: "x", vector: v(1, 1, 0, 0), text: 5 }),
    (db) => db.insert({ id: "x", vector: v(1, 1, 0, 0), metadata: nested(10_000) }),
    (db) => db.insert({ id: "x", vector: v(1, 1, 0, 0), metadata: nested(65) }),
    (db) => {
      const self = { a: 1 };
      self.me = self;
      db.insert({ id: "x", vector: v(1, 1, 0, 0), metadata: self });
    },
  ],
  invalid_filter: [
    (db) => db.search({ text: "alpha", filter: { n: { $bogus: 1 } } }),
    (db) => db.search({ text: "alpha", filter: { $and: [] } }),
    (db) => db.search({ text: "alpha", filter: { n: { $in: 3 } } }),
    (db) => db.search({ text: "alpha", filter: "n = 1" }),
    (db) => db.search({ text: "alpha", filter: nestedFilter(10_000) }),
    (db) => db.search({ text: "alpha", filter: nestedFilter(33) }),
  ],
  invalid_query: [
    (db) => db.search({}),
    (db) => db.search({ text: "alpha", k: 0 }),
    (db) => db.search({ text: "alpha", k: -1 }),
    (db) => db.search({ text: "alpha", k: 1.5 }),
    (db) => db.search({ text: "alpha", k: "10" }),
    (db) => db.search({ text: "alpha", k: 10001 }),
    (db) => db.search({ text: "alpha", topK: 3 }),
    (db) => db.search({ text: "alpha", efSearch: 0 }),
    (db) => db.search({ text: "alpha", vector: v(1, 0, 0, 0), candidates: 0 }),
    (db) => db.search({ text: 42 }),
    (db) => db.search({ vector: "1,0,0,0" }),
    (db) => db.search({ text: "alpha", vector: v(1, 0, 0, 0), fusion: "bogus" }),
    (db) => db.search({ text: "alpha", vector: v(1, 0, 0, 0), fusion: "weighted:0,0" }),
    (db) => db.search({ text: "alpha", vector: v(1, 0, 0, 0), fusion: { type: "weighted", vector: -1, text: 1 } }),
    (db) => db.search({ text: "alpha", vector: v(1, 0, 0, 0), fusion: { type: "rrf", k: -5 } }),
    (db) => db.search({ text: "alpha", vector: v(1, 0, 0, 0), fusion: { k: 60 } }),
    (db) => db.search({ text: "alpha", vector: v(1, 0, 0, 0), fusion: { type: "rrf", weight: 2 } }),
    (db) => db.search({ text: "alpha", vector: v(1, 0, 0, 0), fusion: 3 }),
    (db) => db.search("alpha"),
    (db) => db.search(),
    (db) => db.hybridSearch(null, "alpha"),
    (db) => db.hybridSearch(v(1, 0, 0, 0), "alpha", -3),
  ],
  invalid_options: [
    () => new VectorDB({}),
    () => new VectorDB(),
    () => new VectorDB(384),
    () => new VectorDB({ dimension: 0 }),
    () => new VectorDB({ dimension: 70000 }),
    () => new VectorDB({ dimension: 2.5 }),
    () => new VectorDB({ dimension: 4, metric: "manhattan" }),
    () => new VectorDB({ dimension: 4, m: 1 }),
    () => new VectorDB({ dimension: 4, efConstruction: 0 }),
    () => new VectorDB({ dimension: 4, efSearch: 20000 }),
    () => new VectorDB({ dimension: 4, fulltext: "yes" }),
    () => new VectorDB({ dimension: 4, ef_construction: 100 }),
  ],
  invalid_snapshot: [
    () => VectorDB.importSnapshot(new Uint8Array()),
    () => VectorDB.importSnapshot(new TextEncoder().encode("not a snapshot at all")),
    () => VectorDB.importSnapshot("VJSN"),
    () => VectorDB.importSnapshot([86, 74, 83, 78]),
    (db) => {
      const bytes = db.exportSnapshot();
      VectorDB.importSnapshot(bytes.subarray(0, bytes.length - 7));
    },
    (db) => {
      const bytes = db.exportSnapshot().slice();
      bytes[bytes.length - 3] ^= 0xff; // inside the last section: its CRC no longer holds
      VectorDB.importSnapshot(bytes);
    },
  ],
  unsupported: [
    () => {
      const db = new VectorDB({ dimension: DIM, fulltext: false });
      db.insert({ id: "a", vector: v(1, 0, 0, 0), text: "alpha" });
      db.search({ text: "alpha" });
    },
  ],
};

test("the test covers every code of vjson::Error::CODES", () => {
  const src = fs.readFileSync(path.join(REPO, "src", "error.rs"), "utf8");
  const block = src.match(/pub const CODES: &'static \[&'static str\] = &\[([\s\S]*?)\];/);
  assert.ok(block, "CODES not found in src/error.rs");
  const codes = [...block[1].matchAll(/"([a-z_]+)"/g)].map((m) => m[1]).sort();
  const covered = [...Object.keys(triggers), ...NATIVE_ONLY].sort();
  assert.deepEqual(covered, codes);
});

for (const [code, fns] of Object.entries(triggers)) {
  test(`${code} is thrown with .code = "${code}"`, () => {
    const db = fresh();
    for (const fn of fns) {
      const err = throwsCode(() => fn(db), code);
      assert.ok(err.message.length > 10, `a message that says what was wrong: ${err.message}`);
      stillWorks(db);
    }
  });
}

test("a failed write changes nothing", () => {
  const db = fresh();
  const before = db.exportSnapshot();
  const writes = ["dimension_mismatch", "non_finite_vector", "zero_vector", "empty_id", "id_too_long", "duplicate_id", "invalid_metadata"];
  for (const code of writes) {
    for (const fn of triggers[code]) throwsCode(() => fn(db), code);
  }
  assert.deepEqual(db.exportSnapshot(), before);
});

test("browser storage is unsupported in Node, with a code", async () => {
  const db = fresh();
  assert.equal(hasOPFS(), false);
  await rejectsCode(saveToIndexedDB(db, "x"), "unsupported");
  await rejectsCode(loadFromIndexedDB("x"), "unsupported");
  await rejectsCode(saveToOPFS(db, "x"), "unsupported");
  await rejectsCode(loadFromOPFS("x"), "unsupported");
  await rejectsCode(saveToIndexedDB(db, ""), "invalid_options");
  await rejectsCode(saveToIndexedDB({}, "x"), "invalid_options");
});
