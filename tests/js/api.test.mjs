// The VectorDB API of the packed npm package under Node, imported as a user would:
// insert / insertBatch / get / upsert / delete / size, vector, text and hybrid search
// with every fusion, filters, snapshot round trips, vector and metadata conversions.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { VectorDB } from "vjson";
import { randomVector, throwsCode } from "./helpers.mjs";

const DIM = 8;
const unit = (i, scale = 1) => {
  const v = new Float32Array(DIM);
  v[i] = scale;
  return v;
};
const near = (i, j, w = 0.2) => {
  const v = unit(i);
  v[j] = w;
  return v;
};

function docs() {
  return [
    {
      id: "rust-own",
      vector: unit(0),
      text: "ownership and borrowing in rust",
      metadata: { year: 2024, tags: ["rust", "memory"], author: { name: "Ada" } },
    },
    {
      id: "rust-life",
      vector: unit(1),
      text: "lifetimes and borrowing",
      metadata: { year: 2019, tags: ["rust"], author: { name: "Bob" } },
    },
    {
      id: "py-gc",
      vector: unit(2),
      text: "garbage collection in python",
      metadata: { year: 2021, tags: ["python", "memory"] },
    },
    {
      id: "go-chan",
      vector: unit(3),
      text: "channels and goroutines",
      metadata: { year: 2015, tags: ["go"] },
    },
    { id: "bare", vector: unit(4) },
  ];
}

function fresh(options = {}) {
  const db = new VectorDB({ dimension: DIM, ...options });
  db.insertBatch(docs());
  return db;
}

const ids = (hits) => hits.map((h) => h.id);
const close = (a, b, eps = 1e-5) =>
  assert.ok(Math.abs(a - b) <= eps, `expected ${a} to be within ${eps} of ${b}`);

describe("construction and documents", () => {
  test("options and getters", () => {
    const db = new VectorDB({ dimension: DIM });
    assert.equal(db.size, 0);
    assert.equal(db.dimension, DIM);
    assert.equal(db.metric, "cosine");
    assert.equal(db.fulltext, true);
    const d2 = new VectorDB({
      dimension: 3,
      metric: "l2",
      fulltext: false,
      m: 8,
      efConstruction: 50,
      efSearch: 20,
    });
    assert.equal(d2.metric, "l2");
    assert.equal(d2.fulltext, false);
  });

  test("insert then get returns the document, vector normalised under cosine", () => {
    const db = new VectorDB({ dimension: DIM });
    db.insert({ id: "a", vector: unit(0, 3), text: "hello", metadata: { year: 2024 } });
    assert.equal(db.size, 1);
    const got = db.get("a");
    assert.equal(got.id, "a");
    assert.ok(got.vector instanceof Float32Array);
    assert.deepEqual(Array.from(got.vector), Array.from(unit(0)));
    assert.equal(got.text, "hello");
    assert.deepEqual(got.metadata, { year: 2024 });
    assert.equal(db.get("missing"), undefined);
    db.insert({ id: "b", vector: unit(1) });
    const b = db.get("b");
    assert.equal(b.text, null);
    assert.equal(b.metadata, null);
  });

  test("dot keeps vectors as given", () => {
    const db = new VectorDB({ dimension: DIM, metric: "dot" });
    db.insert({ id: "a", vector: unit(0, 3) });
    assert.deepEqual(Array.from(db.get("a").vector), Array.from(unit(0, 3)));
  });

  test("a document is searchable as soon as insert returns", () => {
    const db = new VectorDB({ dimension: DIM });
    for (let i = 0; i < 50; i++) {
      const v = randomVector(i, DIM);
      db.insert({ id: `d${i}`, vector: v, text: `word${i}` });
      assert.equal(db.search({ vector: v, k: 1 })[0].id, `d${i}`);
      assert.equal(db.search({ text: `word${i}`, k: 1 })[0].id, `d${i}`);
    }
    assert.equal(db.size, 50);
  });

  test("number[], Float32Array and Float64Array vectors are the same", () => {
    const db = new VectorDB({ dimension: DIM });
    const v = randomVector(7, DIM);
    db.insert({ id: "f32", vector: v });
    db.insert({ id: "arr", vector: Array.from(v) });
    db.insert({ id: "f64", vector: Float64Array.from(v) });
    const f32 = db.get("f32").vector;
    assert.deepEqual(Array.from(db.get("arr").vector), Array.from(f32));
    assert.deepEqual(Array.from(db.get("f64").vector), Array.from(f32));
    const a = db.search({ vector: v, k: 3 });
    const b = db.search({ vector: Array.from(v), k: 3 });
    assert.deepEqual(a, b);
    close(a[0].score, 1);
  });

  test("a Float32Array view into a larger buffer is read at its offset", () => {
    const db = new VectorDB({ dimension: DIM });
    const big = new Float32Array(DIM * 3);
    big.set(unit(5), DIM);
    db.insert({ id: "view", vector: big.subarray(DIM, 2 * DIM) });
    assert.deepEqual(Array.from(db.get("view").vector), Array.from(unit(5)));
  });

  test("metadata keeps every JSON type", () => {
    const db = new VectorDB({ dimension: DIM });
    const metadata = {
      s: "x",
      n: 1.5,
      i: -3,
      b: true,
      nul: null,
      arr: [1, "a", null, { k: [] }],
      obj: { deep: { x: 1 } },
      unicode: "héllo ✓",
    };
    db.insert({ id: "m", vector: unit(0), metadata });
    assert.deepEqual(db.get("m").metadata, metadata);
    assert.deepEqual(db.search({ vector: unit(0), k: 1 })[0].metadata, metadata);
  });

  test("JS data becomes JSON the way JSON.stringify sees it", () => {
    const db = new VectorDB({ dimension: DIM });
    const metadata = {
      big: 12345678901234567890n, // a BigInt in the u64 range: an integer
      neg: -(2n ** 63n),
      nan: NaN, // JSON has no NaN or Infinity: null
      inf: -Infinity,
      undef: undefined, // null, as a missing value
      hole: [1, , 3], // eslint-disable-line no-sparse-arrays
      map: new Map([["a", 1], ["b", new Map([["c", "d"]])]]),
      date: new Date(0), // an object without own enumerable keys
    };
    db.insert({ id: "j", vector: unit(0), metadata });
    assert.deepEqual(db.get("j").metadata, {
      big: 12345678901234567000, // read back as the nearest double
      neg: -(2 ** 63),
      nan: null,
      inf: null,
      undef: null,
      hole: [1, null, 3],
      map: { a: 1, b: { c: "d" } },
      date: {},
    });
    assert.deepEqual(db.search({ vector: unit(0), k: 1, filter: { "map.b.c": "d" } }).map((h) => h.id), ["j"]);
    for (const bad of [{ f: () => 1 }, { s: Symbol("s") }, { set: new Set([1]) }, { bytes: new Uint8Array(2) }, { view: new DataView(new ArrayBuffer(2)) }, { m: new Map([[1, 2]]) }, { b: 2n ** 64n }]) {
      assert.throws(() => db.insert({ id: "bad", vector: unit(1), metadata: bad }), (e) => e.code === "invalid_metadata" && /not plain JSON data: it holds /.test(e.message), String(Object.keys(bad)));
    }
    assert.throws(() => db.insert({ id: "bad", vector: unit(1), metadata: { f: () => 1 } }), /it holds a function/);
    assert.equal(db.get("bad"), undefined);
  });

  test("metadata numbers read back exactly through a snapshot", () => {
    // 17 significant digits, beyond 2^53, tiny and huge exponents: each must come back as the
    // same double after the snapshot stores it as text and the wasm core parses it again.
    const nums = [1020362608286044.3, 0.1 + 0.2, 5e-324, 1.7976931348623157e308, -123456.78901234567, 2 ** 60];
    const db = new VectorDB({ dimension: DIM });
    db.insert({ id: "f", vector: unit(0), metadata: { nums } });
    const back = VectorDB.importSnapshot(db.exportSnapshot()).get("f").metadata.nums;
    for (let i = 0; i < nums.length; i++) assert.ok(Object.is(back[i], nums[i]), `${nums[i]} came back as ${back[i]}`);
  });

  test("insertBatch is all or nothing", () => {
    const db = fresh();
    assert.equal(db.size, 5);
    throwsCode(
      () =>
        db.insertBatch([
          { id: "new1", vector: unit(5) },
          { id: "rust-own", vector: unit(6) },
        ]),
      "duplicate_id",
    );
    throwsCode(
      () =>
        db.insertBatch([
          { id: "new1", vector: unit(5) },
          { id: "new1", vector: unit(6) },
        ]),
      "duplicate_id",
    );
    throwsCode(
      () =>
        db.insertBatch([
          { id: "new1", vector: unit(5) },
          { id: "new2", vector: [1, 2] },
        ]),
      "dimension_mismatch",
    );
    assert.equal(db.size, 5);
    assert.equal(db.get("new1"), undefined);
    db.insertBatch([]);
    assert.equal(db.size, 5);
  });

  test("upsertBatch replaces and inserts, all or nothing", () => {
    const db = fresh();
    db.upsertBatch([
      { id: "rust-own", vector: unit(6), text: "zyzzyva" },
      { id: "new1", vector: unit(5) },
    ]);
    assert.equal(db.size, 6);
    assert.equal(db.get("rust-own").text, "zyzzyva");
    assert.deepEqual(db.search({ text: "zyzzyva" }).map((h) => h.id), ["rust-own"]);
    throwsCode(
      () =>
        db.upsertBatch([
          { id: "rust-own", vector: unit(5), text: "changed" },
          { id: "new2", vector: [1, 2] },
        ]),
      "dimension_mismatch",
    );
    assert.equal(db.get("rust-own").text, "zyzzyva");
    assert.equal(db.size, 6);
    throwsCode(() => db.upsertBatch("nope"), "empty_id");
  });

  test("upsert replaces and inserts", () => {
    const db = fresh();
    db.upsert({ id: "rust-life", vector: unit(1), text: "lifetimes explained", metadata: { year: 2025 } });
    assert.equal(db.size, 5);
    assert.equal(db.get("rust-life").text, "lifetimes explained");
    assert.deepEqual(db.get("rust-life").metadata, { year: 2025 });
    assert.deepEqual(ids(db.search({ text: "borrowing" })), ["rust-own"]);
    assert.deepEqual(ids(db.search({ text: "explained" })), ["rust-life"]);
    db.upsert({ id: "new", vector: unit(6), text: "brand new" });
    assert.equal(db.size, 6);
    assert.equal(db.search({ vector: unit(6), k: 1 })[0].id, "new");
  });

  test("delete removes a document from get, size and every search", () => {
    const db = fresh();
    db.delete("rust-own");
    assert.equal(db.size, 4);
    assert.equal(db.get("rust-own"), undefined);
    assert.ok(!ids(db.search({ vector: unit(0), k: 10 })).includes("rust-own"));
    assert.deepEqual(ids(db.search({ text: "borrowing" })), ["rust-life"]);
    assert.ok(!ids(db.hybridSearch(unit(0), "ownership", 10)).includes("rust-own"));
    throwsCode(() => db.delete("rust-own"), "not_found");
    // The id can be used again.
    db.insert({ id: "rust-own", vector: unit(7), text: "reborn" });
    assert.equal(db.search({ text: "reborn" })[0].id, "rust-own");
  });
});

describe("search", () => {
  test("vector search: best first, vector scores only, k honoured", () => {
    const db = fresh();
    const hits = db.search({ vector: near(0, 1), k: 3 });
    assert.equal(hits.length, 3);
    assert.deepEqual(ids(hits).slice(0, 2), ["rust-own", "rust-life"]);
    for (const h of hits) {
      assert.deepEqual(Object.keys(h).sort(), ["id", "metadata", "score", "text", "textScore", "title", "vectorScore"]);
      assert.equal(h.textScore, null);
      assert.equal(h.score, h.vectorScore);
    }
    close(hits[0].vectorScore, 1 / Math.sqrt(1.04));
    assert.ok(hits[0].score >= hits[1].score && hits[1].score >= hits[2].score);
    assert.equal(hits[0].text, "ownership and borrowing in rust");
    assert.deepEqual(hits[0].metadata, docs()[0].metadata);
    assert.equal(db.search({ vector: unit(0) }).length, 5, "default k is 10, capped by size");
    assert.equal(db.search({ vector: unit(0), k: 2, efSearch: 5 }).length, 2);
  });

  test("text search: BM25 scores only", () => {
    const db = fresh();
    const hits = db.search({ text: "borrowing" });
    assert.deepEqual(ids(hits).sort(), ["rust-life", "rust-own"]);
    for (const h of hits) {
      assert.equal(h.vectorScore, null);
      assert.ok(h.textScore > 0);
      assert.equal(h.score, h.textScore);
    }
    assert.deepEqual(ids(db.search({ text: "goroutines" })), ["go-chan"]);
    assert.deepEqual(db.search({ text: "nothing-matches-this" }), []);
  });

  test("the default fusion scores every candidate on both sides", () => {
    const db = fresh();
    const hits = db.search({ vector: unit(0), text: "ownership", k: 5 });
    const text = new Map(db.search({ text: "ownership", k: 50 }).map((h) => [h.id, h.textScore]));
    const vector = new Map(db.search({ vector: unit(0), k: 50 }).map((h) => [h.id, h.vectorScore]));
    let textless = 0;
    for (const h of hits) {
      assert.ok(h.vectorScore !== null && h.textScore !== null, h.id);
      close(h.vectorScore, vector.get(h.id));
      // What a text search gives it, or 0 when it holds no query term.
      close(h.textScore, text.get(h.id) ?? 0);
      if (!text.has(h.id)) textless += 1;
    }
    assert.ok(textless > 0, "a vector-only candidate is fused in with text score 0");
  });

  test("hybrid RRF: a document first on both sides scores 2 / (k + 1)", () => {
    const db = fresh();
    const hits = db.search({ vector: unit(0), text: "ownership", k: 5, fusion: "rrf" });
    assert.equal(hits[0].id, "rust-own");
    close(hits[0].score, 2 / 61);
    assert.ok(hits[0].vectorScore > 0.99 && hits[0].textScore > 0);
    // Found by the vector side only.
    const vecOnly = hits.find((h) => h.id === "go-chan");
    assert.ok(vecOnly, "every vector candidate is fused in");
    assert.equal(vecOnly.textScore, null);
    assert.ok(vecOnly.vectorScore !== null);
    close(db.search({ vector: unit(0), text: "ownership", fusion: "rrf:10" })[0].score, 2 / 11);
    close(db.search({ vector: unit(0), text: "ownership", fusion: { type: "rrf", k: 10 } })[0].score, 2 / 11);
    assert.deepEqual(
      db.search({ vector: unit(0), text: "ownership", fusion: { type: "rrf" } }),
      db.search({ vector: unit(0), text: "ownership", fusion: "rrf:60" }),
    );
    // The default is the even z-score fusion; the document first on both sides comes first.
    const def = db.search({ vector: unit(0), text: "ownership" });
    assert.deepEqual(def, db.search({ vector: unit(0), text: "ownership", fusion: "zscore:0.5,0.5" }));
    assert.deepEqual(def, db.search({ vector: unit(0), text: "ownership", fusion: { type: "zscore" } }));
    const weighted = db.search({ vector: unit(0), text: "ownership", fusion: "weighted:0.5,0.5" });
    close(weighted[0].score, 1);
    assert.equal(def[0].id, weighted[0].id);
  });

  test("hybrid with each score fusion", () => {
    const db = fresh();
    const q = { vector: unit(0), text: "ownership", k: 5 };
    // rust-own tops both lists, so every normalised fusion gives it 1.
    for (const fusion of ["weighted", "max", "min", "average"]) {
      const hits = db.search({ ...q, fusion });
      assert.equal(hits[0].id, "rust-own", fusion);
      close(hits[0].score, 1);
    }
    const dbsf = db.search({ ...q, fusion: "dbsf" });
    assert.equal(dbsf[0].id, "rust-own");
    assert.ok(dbsf[0].score > 0 && dbsf[0].score <= 2);
    // Names and objects mean the same.
    assert.deepEqual(
      db.search({ ...q, fusion: "weighted:0.7,0.3" }),
      db.search({ ...q, fusion: { type: "weighted", vector: 0.7, text: 0.3 } }),
    );
    assert.deepEqual(db.search({ ...q, fusion: "max" }), db.search({ ...q, fusion: { type: "max" } }));
    assert.deepEqual(db.search({ ...q, fusion: "avg" }), db.search({ ...q, fusion: "average" }));
  });

  test("weights steer a hybrid query", () => {
    const db = fresh();
    // The vector points at py-gc, the text at go-chan.
    const q = { vector: unit(2), text: "goroutines", k: 5 };
    assert.equal(db.search({ ...q, fusion: { type: "weighted", vector: 1, text: 0 } })[0].id, "py-gc");
    assert.equal(db.search({ ...q, fusion: { type: "weighted", vector: 0, text: 1 } })[0].id, "go-chan");
    // min punishes a document missing from one side; max does not.
    const min = db.search({ ...q, fusion: "min" });
    for (const h of min) {
      if (h.textScore === null || h.vectorScore === null) assert.equal(h.score, 0);
    }
    const max = db.search({ ...q, fusion: "max" });
    close(max.find((h) => h.id === "go-chan").score, 1);
    close(max.find((h) => h.id === "py-gc").score, 1);
  });

  test("hybridSearch is search({vector, text, k, fusion})", () => {
    const db = fresh();
    assert.deepEqual(
      db.hybridSearch(near(1, 0), "borrowing", 3, "max"),
      db.search({ vector: near(1, 0), text: "borrowing", k: 3, fusion: "max" }),
    );
    assert.deepEqual(
      db.hybridSearch(near(1, 0), "borrowing"),
      db.search({ vector: near(1, 0), text: "borrowing" }),
    );
    assert.deepEqual(db.hybridSearch(near(1, 0), null, 2), db.search({ vector: near(1, 0), k: 2 }));
  });

  test("filters apply to the vector side, the text side and the fusion", () => {
    const db = fresh();
    const all = { vector: unit(1), k: 10 };
    assert.deepEqual(ids(db.search({ ...all, filter: { year: { $gte: 2020 } } })).sort(), ["py-gc", "rust-own"]);
    assert.deepEqual(ids(db.search({ ...all, filter: { tags: { $contains: "memory" } } })).sort(), ["py-gc", "rust-own"]);
    assert.deepEqual(ids(db.search({ ...all, filter: { "author.name": "Bob" } })), ["rust-life"]);
    assert.deepEqual(ids(db.search({ ...all, filter: { year: { $in: [2015, 2019] } } })).sort(), ["go-chan", "rust-life"]);
    assert.deepEqual(
      ids(db.search({ ...all, filter: { $or: [{ year: 2015 }, { "author.name": { $prefix: "A" } }] } })).sort(),
      ["go-chan", "rust-own"],
    );
    assert.deepEqual(
      ids(db.search({ ...all, filter: { $not: { tags: { $contains: "rust" } }, year: { $exists: true } } })).sort(),
      ["go-chan", "py-gc"],
    );
    assert.deepEqual(ids(db.search({ text: "borrowing", filter: { year: { $lt: 2020 } } })), ["rust-life"]);
    const hybrid = db.search({ vector: unit(0), text: "borrowing", filter: { year: 2019 } });
    assert.deepEqual(ids(hybrid), ["rust-life"]);
    assert.deepEqual(db.search({ ...all, filter: {} }).length, 5);
  });

  test("k hits come back whenever k documents match a selective filter", () => {
    const db = new VectorDB({ dimension: 16 });
    db.insertBatch(
      Array.from({ length: 600 }, (_, i) => ({
        id: `d${i}`,
        vector: randomVector(i, 16),
        text: `common word${i % 7}`,
        metadata: { group: i % 50 },
      })),
    );
    for (const q of [
      { vector: randomVector(9999, 16) },
      { text: "common" },
      { vector: randomVector(9999, 16), text: "common" },
    ]) {
      const hits = db.search({ ...q, k: 10, filter: { group: 7 } });
      assert.equal(hits.length, 10, JSON.stringify(Object.keys(q)));
      for (const h of hits) assert.equal(h.metadata.group, 7);
    }
  });
});

describe("snapshots", () => {
  test("export / import round trip keeps documents and answers", () => {
    const db = fresh();
    db.delete("go-chan");
    db.upsert({ id: "py-gc", vector: near(2, 0), text: "garbage collection in python 3", metadata: { year: 2022 } });
    const bytes = db.exportSnapshot();
    assert.ok(bytes instanceof Uint8Array);
    assert.equal(new TextDecoder().decode(bytes.subarray(0, 4)), "VJSN");
    for (const input of [bytes, bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength), Buffer.from(bytes)]) {
      const db2 = VectorDB.importSnapshot(input);
      assert.equal(db2.size, db.size);
      assert.equal(db2.get("go-chan"), undefined);
      for (const id of ["rust-own", "rust-life", "py-gc", "bare"]) assert.deepEqual(db2.get(id), db.get(id));
      for (const q of [
        { vector: near(0, 2), k: 4 },
        { text: "borrowing python" },
        { vector: near(2, 1), text: "garbage", fusion: "dbsf", filter: { year: { $gt: 2000 } } },
      ]) {
        assert.deepEqual(db2.search(q), db.search(q));
      }
      db2.free();
    }
  });

  test("options travel in the snapshot", () => {
    const db = new VectorDB({ dimension: 3, metric: "l2", fulltext: false });
    db.insert({ id: "a", vector: [1, 0, 0] });
    const db2 = VectorDB.importSnapshot(db.exportSnapshot());
    assert.equal(db2.metric, "l2");
    assert.equal(db2.fulltext, false);
    assert.equal(db2.dimension, 3);
    // L2 scores are 1 / (1 + distance).
    close(db2.search({ vector: [1, 0, 0] })[0].score, 1);
    close(db2.search({ vector: [2, 0, 0] })[0].score, 0.5);
  });

  test("a snapshot of an imported database imports again", () => {
    const db = fresh();
    const twice = VectorDB.importSnapshot(VectorDB.importSnapshot(db.exportSnapshot()).exportSnapshot());
    assert.deepEqual(twice.search({ vector: unit(3), text: "channels" }), db.search({ vector: unit(3), text: "channels" }));
  });

  test("compact keeps every live document", () => {
    const db = fresh();
    db.delete("rust-life");
    const before = db.search({ vector: unit(1), text: "borrowing" });
    db.compact();
    assert.equal(db.size, 4);
    assert.deepEqual(ids(db.search({ vector: unit(1), text: "borrowing" })), ids(before));
  });
});
