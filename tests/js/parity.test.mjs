// Cross-target parity: a snapshot written natively (examples/parity.rs, run here through
// cargo) opens in Node and gives the same top-10 as native for every sample query in
// vector, text, hybrid and filtered-hybrid mode; and a snapshot built and written by Node
// opens natively with the same answers as in Node.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { VectorDB } from "vjson";
import { REPO, WORK, loadSample } from "./helpers.mjs";

const DIR = path.join(WORK, "parity");
const MODES = ["vector", "text", "hybrid", "hybrid_filtered", "hybrid_default"];

// The same queries as examples/parity.rs.
function query(q, mode) {
  switch (mode) {
    case "vector":
      return { vector: q.vector, k: 10 };
    case "text":
      return { text: q.text, k: 10 };
    case "hybrid":
      return { vector: q.vector, text: q.text, k: 10, fusion: { type: "rrf", k: 60 } };
    case "hybrid_filtered":
      return {
        vector: q.vector,
        text: q.text,
        k: 10,
        fusion: { type: "weighted", vector: 0.7, text: 0.3 },
        filter: { kind: "book" },
      };
    case "hybrid_default":
      return { vector: q.vector, text: q.text, k: 10 };
  }
  throw new Error(mode);
}

function answers(db, queries) {
  const modes = {};
  for (const mode of MODES) {
    modes[mode] = queries.map((q) => db.search(query(q, mode)).map((h) => ({ id: h.id, score: h.score })));
  }
  return { documents: db.size, modes };
}

function cargoParity(...args) {
  const r = spawnSync("cargo", ["run", "--release", "--quiet", "--example", "parity", "--", ...args], {
    cwd: REPO,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
  assert.equal(r.status, 0, `cargo run --example parity ${args.join(" ")} failed:\n${r.stderr}`);
}

const TIE = 1e-5;

/**
 * Asserts two ranked lists name the same documents in the same order. Documents whose
 * scores tie (within TIE, as f32 sums may round differently across targets) may trade
 * places; every score must agree within TIE.
 */
function sameRanking(got, want, where) {
  assert.equal(got.length, want.length, `${where}: ${got.length} hits, native had ${want.length}`);
  let i = 0;
  while (i < want.length) {
    let j = i + 1;
    while (j < want.length && Math.abs(want[j].score - want[j - 1].score) <= TIE) j++;
    const a = got.slice(i, j).map((h) => h.id).sort();
    const b = want.slice(i, j).map((h) => h.id).sort();
    for (let x = i; x < j; x++) {
      assert.ok(
        Math.abs(got[x].score - want[x].score) <= TIE * Math.max(1, Math.abs(want[x].score)),
        `${where}: score at rank ${x + 1} is ${got[x].score}, native ${want[x].score}`,
      );
    }
    assert.deepEqual(a, b, `${where}: ranks ${i + 1}..${j} differ`);
    i = j;
  }
}

function compare(got, want, label) {
  assert.equal(got.documents, want.documents);
  let compared = 0;
  for (const mode of MODES) {
    assert.equal(got.modes[mode].length, want.modes[mode].length);
    want.modes[mode].forEach((w, qi) => {
      sameRanking(got.modes[mode][qi], w, `${label} ${mode} query ${qi}`);
      compared++;
    });
  }
  return compared;
}

let sample;
before(() => {
  fs.mkdirSync(DIR, { recursive: true });
  sample = loadSample();
});

test("a native snapshot opens in Node with the native top-10 for every sample query", () => {
  cargoParity("native", DIR);
  const db = VectorDB.importSnapshot(fs.readFileSync(path.join(DIR, "native.snap")));
  assert.equal(db.size, sample.documents.length);
  const want = JSON.parse(fs.readFileSync(path.join(DIR, "native.json"), "utf8"));
  const got = answers(db, sample.queries);
  const n = compare(got, want, "native snapshot in Node");
  assert.equal(n, MODES.length * sample.queries.length);
  // The answers are real rankings, not empty lists.
  assert.ok(got.modes.hybrid.every((l) => l.length === 10));
  assert.ok(got.modes.hybrid_filtered.every((l) => l.every((h) => h.id.startsWith("book:"))));
});

test("a snapshot written by Node opens natively with the Node top-10", () => {
  const db = new VectorDB({ dimension: 384 });
  db.insertBatch(sample.documents);
  const snap = path.join(DIR, "node.snap");
  fs.writeFileSync(snap, db.exportSnapshot());
  const mine = answers(db, sample.queries);
  const out = path.join(DIR, "node-in-native.json");
  cargoParity("answer", snap, out);
  const native = JSON.parse(fs.readFileSync(out, "utf8"));
  compare(native, mine, "Node snapshot natively");
  // And the rankings are good ones: on the sample, fusing beats either side alone.
  const mrr = (mode) =>
    sample.queries.reduce((sum, q, i) => {
      const rank = mine.modes[mode][i].findIndex((h) => h.id === q.relevant);
      return sum + (rank < 0 ? 0 : 1 / (rank + 1));
    }, 0) / sample.queries.length;
  const [vector, text, hybrid] = [mrr("vector"), mrr("text"), mrr("hybrid_default")];
  assert.ok(hybrid > vector && hybrid > text, `MRR@10 vector ${vector} text ${text} hybrid ${hybrid}`);
  assert.ok(vector > 0.5 && text > 0.5, `MRR@10 vector ${vector} text ${text}`);
});
