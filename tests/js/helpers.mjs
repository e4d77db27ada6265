// Shared helpers of the npm package tests: the bundled sample as documents and queries,
// small synthetic vectors, and an assertion that a call throws a vjson error with a code.
// Paths come from the runner (tests/js/run.mjs) through VJSON_REPO and VJSON_WORK.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";

export const REPO = process.env.VJSON_REPO;
export const WORK = process.env.VJSON_WORK;
if (!REPO || !WORK) {
  throw new Error("run these tests through tests/js/run.mjs (VJSON_REPO / VJSON_WORK unset)");
}
export const SAMPLE = path.join(REPO, "tests", "data", "sample");
export const DIM = 384;

function f32(file) {
  const b = fs.readFileSync(file);
  // Copy into an aligned buffer (a Buffer's offset need not be a multiple of 4).
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

function jsonl(file) {
  return fs
    .readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));
}

/** The bundled sample: documents as vjson would index them, queries with vectors. */
export function loadSample() {
  const docs = jsonl(path.join(SAMPLE, "docs.jsonl"));
  const dv = f32(path.join(SAMPLE, "docs.f32"));
  const queries = jsonl(path.join(SAMPLE, "queries.jsonl"));
  const qv = f32(path.join(SAMPLE, "queries.f32"));
  const rel = new Map(jsonl(path.join(SAMPLE, "qrels.jsonl")).map((r) => [r.qid, r.docid]));
  return {
    // Same text and metadata as vjson::dataset::Dataset::document (chars = UTF-8 bytes).
    documents: docs.map((d, i) => ({
      id: d.id,
      vector: dv.subarray(i * DIM, (i + 1) * DIM),
      text: `${d.title}: ${d.text}`,
      title: d.title,
      metadata: { kind: d.kind, source: source(d.id), chars: Buffer.byteLength(d.text) },
    })),
    queries: queries.map((q, i) => ({
      ...q,
      vector: qv.subarray(i * DIM, (i + 1) * DIM),
      relevant: rel.get(q.id),
    })),
  };
}

function source(id) {
  const i = id.indexOf(":");
  if (i < 0) return "";
  const [kind, p] = [id.slice(0, i), id.slice(i + 1)];
  if (kind === "api") return p.replace(/^derive@/, "").replace(/^attr@/, "").split("::")[0];
  if (kind === "book") return p.split("/")[0];
  return "";
}

/** A deterministic pseudo-random unit-ish vector. */
export function randomVector(seed, dim = 8) {
  let s = seed * 2654435761 + 1;
  const v = new Float32Array(dim);
  for (let i = 0; i < dim; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    v[i] = s / 2147483648 - 0.5;
  }
  return v;
}

/** Asserts that `fn` throws an Error whose `code` is `code` (and message matches `re`). */
export function throwsCode(fn, code, re) {
  let err;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  assert.ok(err !== undefined, `expected an error with code ${code}, nothing was thrown`);
  assert.ok(err instanceof Error, `expected an Error, got ${err}`);
  assert.equal(err.code, code, `wrong code for: ${err.message}`);
  if (re) assert.match(err.message, re);
  return err;
}

/** Same as throwsCode for a promise. */
export async function rejectsCode(promise, code) {
  let err;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof Error, `expected an error with code ${code}`);
  assert.equal(err.code, code, `wrong code for: ${err.message}`);
  return err;
}
