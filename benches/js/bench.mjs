#!/usr/bin/env node
// JS benchmark: vjson (the npm package's Node build) against @orama/orama and voy-search on
// the rustdocs corpus (or the bundled sample): insert time, vector / text / hybrid query
// latency (p50, p95) and MRR@10 / recall@10 against the qrels. Writes the table into
// BENCHMARKS.md between the "js-bench" markers (and prints it).
//
//   ./scripts/build-npm.sh && npm ci
//   VJSON_BENCH_DATA=/work/shared/data/rustdocs node benches/js/bench.mjs
//
// Environment: VJSON_BENCH_DATA (corpus directory laid out like tests/data/sample; default
// the sample), VJSON_BENCH_QUERIES (use only the first N queries), VJSON_PKG (package
// directory, default pkg/), VJSON_BENCH_NO_WRITE=1 (print only), VJSON_BENCH_SYSTEMS (comma
// list of vjson, orama, voy; default all: the rows of the others are taken from the last
// run, cached in target/bench-js/, and the table says when each row was measured). Not run
// by CI: on the full corpus Orama alone takes about 40 minutes (its text and hybrid queries).
//
// Settings, the same for every system where it has them: k = 10; text is "title: body" as
// vjson's sample loader builds it, and the title is also a field of its own (vjson's
// `title`, at its default titleBoost 0.5; an Orama string property searched beside the
// body, at Orama's default equal weights); English stemming on (vjson always stems;
// Orama's `stemming: true`); vjson hybrid = its default (z-score 0.5 / 0.5) and RRF
// (k = 60), Orama hybrid = its default weighted fusion (0.5 / 0.5). Orama's vector similarity threshold is set to 0 (its default 0.8
// drops most all-MiniLM matches), so it ranks every document like the others. voy-search
// has vector search only.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { createRequire } from "node:module";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, "..", "..");
const DATA = path.resolve(process.env.VJSON_BENCH_DATA ?? path.join(REPO, "tests", "data", "sample"));
const PKG = path.resolve(process.env.VJSON_PKG ?? path.join(REPO, "pkg"));
const LIMIT = Number(process.env.VJSON_BENCH_QUERIES ?? 0);
const WRITE = process.env.VJSON_BENCH_NO_WRITE !== "1";
const SYSTEMS = (process.env.VJSON_BENCH_SYSTEMS ?? "vjson,orama,voy").split(",").map((x) => x.trim());
const K = 10;
const DIM = 384;
const WARMUP = 20;

// ---------------------------------------------------------------------------------------
// Data

function jsonl(file) {
  return fs
    .readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));
}

function f32(file) {
  const b = fs.readFileSync(file);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

function load() {
  const docs = jsonl(path.join(DATA, "docs.jsonl"));
  const dv = f32(path.join(DATA, "docs.f32"));
  const rel = new Map(jsonl(path.join(DATA, "qrels.jsonl")).map((r) => [r.qid, r.docid]));
  let queries = jsonl(path.join(DATA, "queries.jsonl"));
  const qv = f32(path.join(DATA, "queries.f32"));
  queries = queries.map((q, i) => ({ ...q, vector: qv.subarray(i * DIM, (i + 1) * DIM), relevant: rel.get(q.id) }));
  if (LIMIT > 0) queries = queries.slice(0, LIMIT);
  return {
    docs: docs.map((d, i) => ({
      id: d.id,
      kind: d.kind,
      title: d.title,
      text: `${d.title}: ${d.text}`,
      vector: dv.subarray(i * DIM, (i + 1) * DIM),
    })),
    queries,
  };
}

// ---------------------------------------------------------------------------------------
// Systems: each returns {insertMs, vector?, text?, hybrid?, free?}; a search returns ids.

async function vjson(docs) {
  const { VectorDB } = await import(pathToFileURL(path.join(PKG, "node.js")).href);
  const db = new VectorDB({ dimension: DIM });
  // The rows are built before the clock starts, as Orama's are.
  const rows = docs.map((d) => ({ id: d.id, vector: d.vector, title: d.title, text: d.text, metadata: { kind: d.kind } }));
  const t = performance.now();
  db.insertBatch(rows);
  const insertMs = performance.now() - t;
  const t2 = performance.now();
  const snap = db.exportSnapshot();
  const exportMs = performance.now() - t2;
  const t3 = performance.now();
  VectorDB.importSnapshot(snap).free();
  const importMs = performance.now() - t3;
  const ids = (hits) => hits.map((h) => h.id);
  const vector = (q) => ids(db.search({ vector: q.vector, k: K }));
  const text = (q) => ids(db.search({ text: q.text, k: K }));
  const hybrid = (fusion) => (q) => ids(db.search({ vector: q.vector, text: q.text, k: K, fusion }));
  return {
    insertMs,
    note: `snapshot ${(snap.byteLength / 1048576).toFixed(1)} MiB, export ${(exportMs / 1000).toFixed(2)} s, import ${(importMs / 1000).toFixed(2)} s`,
    configs: [
      { label: "hybrid: vjson's default (z-score 0.5 / 0.5 over both scores of k = 10 candidates per side)", vector, text, hybrid: hybrid(undefined) },
      { label: "hybrid: rrf, k = 60", hybrid: hybrid("rrf") },
      {
        label: "hybrid: z-score 0.5 / 0.5, efSearch 256, candidates 200",
        hybrid: (q) =>
          ids(db.search({ vector: q.vector, text: q.text, k: K, fusion: "zscore", efSearch: 256, candidates: 200 })),
      },
    ],
    free: () => db.free(),
  };
}

async function orama(docs) {
  const { create, insertMultiple, search } = await import("@orama/orama");
  const db = create({
    schema: { id: "string", title: "string", body: "string", kind: "string", embedding: `vector[${DIM}]` },
    components: { tokenizer: { stemming: true, language: "english" } },
  });
  const rows = docs.map((d) => ({
    id: d.id,
    title: d.title,
    body: d.text,
    kind: d.kind,
    embedding: Array.from(d.vector),
  }));
  const t = performance.now();
  await insertMultiple(db, rows, 1000);
  const insertMs = performance.now() - t;
  const ids = (r) => r.hits.map((h) => h.id);
  // search() returns a plain value for in-memory databases; it is awaited only if a
  // promise comes back, so the timings hold no microtask scheduling.
  const run = (params) => {
    const r = search(db, params);
    if (typeof r?.then === "function") throw new Error("orama returned a promise; the benchmark expects sync search");
    return ids(r);
  };
  const vector = (q) =>
    run({ mode: "vector", vector: { value: Array.from(q.vector), property: "embedding" }, similarity: 0, limit: K });
  const text = (extra) => (q) => run({ term: q.text, properties: ["title", "body"], limit: K, ...extra });
  const hybrid = (extra) => (q) =>
    run({
      mode: "hybrid",
      term: q.text,
      properties: ["title", "body"],
      vector: { value: Array.from(q.vector), property: "embedding" },
      similarity: 0,
      limit: K,
      ...extra,
    });
  return {
    insertMs,
    configs: [
      { label: "defaults + English stemming", vector, text: text({}), hybrid: hybrid({}) },
      { label: "exact: true (whole-word terms)", text: text({ exact: true }), hybrid: hybrid({ exact: true }) },
    ],
  };
}

async function voy(docs) {
  const require = createRequire(import.meta.url);
  const dir = path.dirname(require.resolve("voy-search/package.json"));
  // voy-search ships the wasm-bindgen "bundler" build; wire its glue by hand for Node.
  const bg = await import(pathToFileURL(path.join(dir, "voy_search_bg.js")).href);
  const module = new WebAssembly.Module(fs.readFileSync(path.join(dir, "voy_search_bg.wasm")));
  bg.__wbg_set_wasm(new WebAssembly.Instance(module, { "./voy_search_bg.js": bg }).exports);
  const resource = {
    embeddings: docs.map((d) => ({ id: d.id, title: d.id, url: "", embeddings: Array.from(d.vector) })),
  };
  const t = performance.now();
  const index = new bg.Voy(resource);
  const insertMs = performance.now() - t;
  return {
    insertMs,
    configs: [{ label: "k-d tree (vector only)", vector: (q) => index.search(q.vector, K).neighbors.map((n) => n.id) }],
    free: () => index.free(),
  };
}

// ---------------------------------------------------------------------------------------
// Measurement

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

function measure(fn, queries) {
  for (const q of queries.slice(0, WARMUP)) fn(q);
  const times = [];
  let mrr = 0;
  let found = 0;
  for (const q of queries) {
    const t = performance.now();
    const ids = fn(q);
    times.push(performance.now() - t);
    const rank = ids.slice(0, K).indexOf(q.relevant);
    if (rank >= 0) {
      mrr += 1 / (rank + 1);
      found++;
    }
  }
  times.sort((a, b) => a - b);
  return {
    p50: percentile(times, 50),
    p95: percentile(times, 95),
    mrr: mrr / queries.length,
    recall: found / queries.length,
  };
}

const ms = (x) => (x === undefined ? "–" : x < 1 ? x.toFixed(3) : x < 100 ? x.toFixed(2) : x.toFixed(0));
const q4 = (x) => (x === undefined ? "–" : x.toFixed(4));

async function main() {
  if (!fs.existsSync(path.join(PKG, "node.js"))) {
    console.error(`bench: no package at ${PKG}; run ./scripts/build-npm.sh first`);
    process.exit(1);
  }
  const { docs, queries } = load();
  console.log(`bench: ${docs.length} documents, ${queries.length} queries from ${DATA}`);
  // Rows of systems not run this time come from the previous run's cache (say so below).
  const cacheFile = path.join(REPO, "target", "bench-js", `${path.basename(DATA)}-${queries.length}.json`);
  const cache = fs.existsSync(cacheFile) ? JSON.parse(fs.readFileSync(cacheFile, "utf8")) : { rows: [] };
  const results = [];
  const today = new Date().toISOString().slice(0, 10);
  for (const [key, name, make] of [
    ["vjson", "vjson (wasm, Node)", vjson],
    ["orama", "@orama/orama 3.1.18", orama],
    ["voy", "voy-search 0.6.3", voy],
  ]) {
    if (!SYSTEMS.includes(key)) {
      const old = cache.rows.filter((r) => r.name === name);
      if (old.length === 0) console.log(`bench: ${name}: skipped, nothing cached`);
      results.push(...old);
      continue;
    }
    console.log(`bench: ${name}: building`);
    const sys = await make(docs);
    for (const [i, config] of sys.configs.entries()) {
      const row = { name, config: config.label, insertMs: i === 0 ? sys.insertMs : undefined, note: sys.note ?? "", date: today };
      for (const mode of ["vector", "text", "hybrid"]) {
        if (!config[mode]) continue;
        console.log(`bench: ${name} (${config.label}): ${mode} queries`);
        row[mode] = measure(config[mode], queries);
      }
      results.push(row);
      console.log(JSON.stringify(row));
    }
    sys.free?.();
  }
  fs.mkdirSync(path.dirname(cacheFile), { recursive: true });
  fs.writeFileSync(cacheFile, JSON.stringify({ rows: results }, null, 1));

  const lines = [];
  lines.push(
    `Corpus: ${path.basename(DATA)} (${docs.length.toLocaleString("en")} documents, ${queries.length.toLocaleString("en")} queries, ${DIM}-d all-MiniLM-L6-v2, one relevant document per query); k = ${K}.`,
  );
  lines.push(
    `Machine: ${os.cpus()[0]?.model ?? "?"} (${os.cpus().length} cores, shared), Node ${process.version}; ${new Date().toISOString().slice(0, 10)}.`,
  );
  lines.push(
    "Command: `./scripts/build-npm.sh && npm ci && VJSON_BENCH_DATA=/path/to/rustdocs" +
      (LIMIT > 0 ? ` VJSON_BENCH_QUERIES=${LIMIT}` : "") +
      " node benches/js/bench.mjs`" +
      (LIMIT > 0 ? ` (the first ${LIMIT} queries: Orama's text and hybrid queries take ~0.2 s each).` : "."),
  );
  lines.push("");
  lines.push("| system | configuration | measured | insert (s) | vector p50 / p95 (ms) | text p50 / p95 (ms) | hybrid p50 / p95 (ms) | MRR@10 vector | MRR@10 text | MRR@10 hybrid | recall@10 hybrid |");
  lines.push("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
  for (const r of results) {
    const lat = (m) => (m ? `${ms(m.p50)} / ${ms(m.p95)}` : "–");
    const ins = r.insertMs === undefined ? "″" : (r.insertMs / 1000).toFixed(2);
    lines.push(
      `| ${r.name} | ${r.config} | ${r.date} | ${ins} | ${lat(r.vector)} | ${lat(r.text)} | ${lat(r.hybrid)} | ${q4(r.vector?.mrr)} | ${q4(r.text?.mrr)} | ${q4(r.hybrid?.mrr)} | ${q4(r.hybrid?.recall)} |`,
    );
  }
  lines.push("");
  lines.push("″: same index as the row above (built once); –: not applicable, or the same as the row above.");
  const vj = results.filter((r) => r.name.startsWith("vjson") && r.hybrid);
  const or = results.filter((r) => r.name.startsWith("@orama") && r.hybrid);
  const best = (rows, key, cmp) => rows.reduce((a, b) => (cmp(a.hybrid[key], b.hybrid[key]) ? a : b));
  if (vj.length > 0 && or.length > 0) {
    const [fastVj, slowVj, goodVj] = [best(vj, "p50", (a, b) => a <= b), best(vj, "p50", (a, b) => a >= b), best(vj, "mrr", (a, b) => a >= b)];
    const [fastOr, goodOr] = [best(or, "p50", (a, b) => a <= b), best(or, "mrr", (a, b) => a >= b)];
    const insVj = vj.find((r) => r.insertMs !== undefined)?.insertMs;
    const insOr = or.find((r) => r.insertMs !== undefined)?.insertMs;
    lines.push("");
    lines.push(
      `Insert with text: vjson ${(insVj / 1000).toFixed(2)} s vs Orama ${(insOr / 1000).toFixed(2)} s (**${(insVj / insOr).toFixed(2)}×** Orama's time). ` +
        `Hybrid p50: vjson ${ms(fastVj.hybrid.p50)} ms (${fastVj.config}) vs Orama's fastest ${ms(fastOr.hybrid.p50)} ms (${fastOr.config}): ` +
        `**${(fastOr.hybrid.p50 / fastVj.hybrid.p50).toFixed(0)}× faster** (${(fastOr.hybrid.p50 / slowVj.hybrid.p50).toFixed(0)}× for vjson's slower configuration). ` +
        `Best hybrid MRR@10: vjson ${q4(goodVj.hybrid.mrr)} (${goodVj.config}) vs Orama ${q4(goodOr.hybrid.mrr)} (${goodOr.config}). vjson: ${vj[0].note}.`,
    );
  }
  const table = lines.join("\n");
  console.log(`\n${table}\n`);

  if (WRITE) {
    const file = path.join(REPO, "BENCHMARKS.md");
    const start = "<!-- js-bench:start -->";
    const end = "<!-- js-bench:end -->";
    const section = `${start}\n${table}\n${end}`;
    let text = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "# vjson benchmarks\n";
    if (text.includes(start) && text.includes(end)) {
      text = text.slice(0, text.indexOf(start)) + section + text.slice(text.indexOf(end) + end.length);
    } else {
      text = `${text.trimEnd()}\n\n## npm package (JS): vjson vs Orama vs Voy\n\n${section}\n`;
    }
    fs.writeFileSync(file, text);
    console.log(`bench: wrote the table to ${path.relative(process.cwd(), file)}`);
  }
}

await main();
