// The edge example under Node with real Request objects. tests/js/run.mjs runs it three
// times (VJSON_EDGE_CONDITION): with Node's own resolution of "vjson" (the "node" build),
// with --conditions=worker (the build initialised from embedded bytes), and with
// --conditions=workerd plus wrangler's module rules, where the deployable worker.mjs itself
// is imported (snapshot as an ArrayBuffer module, wasm as a WebAssembly.Module).
import { test, before } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { VectorDB } from "vjson";
import { createHandler } from "./handler.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CONDITION = process.env.VJSON_EDGE_CONDITION ?? "node";
const SNAPSHOT = path.join(HERE, "data", "sample.vjson");
const ENTRY = { node: "node.js", worker: "worker.js", workerd: "workerd.js" }[CONDITION];

let handle;
let reference;
before(async () => {
  const bytes = new Uint8Array(fs.readFileSync(SNAPSHOT));
  reference = VectorDB.importSnapshot(bytes);
  if (CONDITION === "workerd") {
    const worker = (await import("./worker.mjs")).default;
    handle = (req) => worker.fetch(req);
  } else {
    handle = createHandler(bytes);
  }
});

async function get(query, init) {
  const res = await handle(new Request(`https://edge.example/search${query}`, init));
  assert.ok(res instanceof Response);
  const body = init?.method === "HEAD" ? null : await res.json();
  return { res, body };
}

test(`"vjson" resolves to the ${ENTRY} entry under the ${CONDITION} condition`, () => {
  const resolved = fileURLToPath(import.meta.resolve("vjson"));
  assert.equal(path.basename(resolved), ENTRY);
});

test("?q= answers a full-text query as JSON, same hits as the library", async () => {
  const q = "ownership and borrowing";
  const { res, body } = await get(`?q=${encodeURIComponent(q)}`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type"), /^application\/json/);
  const want = reference.search({ text: q, k: 10 });
  assert.equal(body.hits.length, 10);
  assert.deepEqual(
    body.hits.map((h) => h.id),
    want.map((h) => h.id),
  );
  for (const h of body.hits) {
    assert.equal(h.vectorScore, null);
    assert.ok(h.textScore > 0);
    assert.ok(h.snippet.length <= 200);
  }
  assert.equal(typeof body.tookMs, "number");
  assert.deepEqual(body.query, { q, like: null, k: 10, fusion: "rrf", filter: null });
});

test("?like= finds the document itself first by its vector; with ?q= it is hybrid", async () => {
  const id = "book:book/ch08-01-vectors#reading-elements-of-vectors";
  assert.ok(reference.get(id), "the sample holds this section of the book");
  const similar = await get(`?like=${encodeURIComponent(id)}&k=5`);
  assert.equal(similar.res.status, 200);
  assert.equal(similar.body.hits.length, 5);
  assert.equal(similar.body.hits[0].id, id);
  assert.ok(similar.body.hits[0].vectorScore > 0.999);
  assert.ok(similar.body.hits.every((h) => h.textScore === null));

  const hybrid = await get(`?like=${encodeURIComponent(id)}&q=reading+elements&fusion=weighted:0.5,0.5`);
  assert.equal(hybrid.res.status, 200);
  assert.equal(hybrid.body.hits[0].id, id);
  assert.ok(hybrid.body.hits[0].vectorScore !== null && hybrid.body.hits[0].textScore !== null);
  const want = reference.search({
    vector: reference.get(id).vector,
    text: "reading elements",
    k: 10,
    fusion: "weighted:0.5,0.5",
  });
  assert.deepEqual(
    hybrid.body.hits.map((h) => h.id),
    want.map((h) => h.id),
  );
});

test("filters and k pass through", async () => {
  const { res, body } = await get(`?q=iterator&k=7&filter=${encodeURIComponent('{"kind":"book"}')}`);
  assert.equal(res.status, 200);
  assert.ok(body.hits.length > 0 && body.hits.length <= 7);
  assert.ok(body.hits.every((h) => h.metadata.kind === "book"));
});

test("bad requests get a coded JSON error", async () => {
  const cases = [
    ["", 400, "invalid_query"],
    ["?q=x&k=0", 400, "invalid_query"],
    ["?q=x&k=abc", 400, "invalid_query"],
    ["?q=x&filter={oops", 400, "invalid_filter"],
    ["?q=x&filter=" + encodeURIComponent('{"kind":{"$bogus":1}}'), 400, "invalid_filter"],
    ["?like=nope", 404, "not_found"],
    ["?like=" + encodeURIComponent("book:book/ch01-00-getting-started") + "&q=x&fusion=bogus", 400, "invalid_query"],
  ];
  for (const [query, status, code] of cases) {
    const { res, body } = await get(query);
    assert.equal(res.status, status, query);
    assert.equal(body.error.code, code, query);
    assert.ok(body.error.message.length > 0);
  }
  const post = await get("?q=x", { method: "POST", body: "{}" });
  assert.equal(post.res.status, 405);
  assert.equal(post.res.headers.get("allow"), "GET, HEAD");
});
