// Runs queries on a snapshot with the npm package, for the Python cross-target test.
// Usage: node npm_rankings.mjs PKG_DIR SNAPSHOT QUERIES_JSON OUT_JSON [--build DOCS_JSON]
//   --build: first builds a database from DOCS_JSON ({dimension, docs: [{id, vector, text,
//   metadata}]}) and writes its snapshot to SNAPSHOT; otherwise reads SNAPSHOT.
// Writes [[{id, score, vectorScore, textScore}, ...] per query] to OUT_JSON.
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [pkg, snapshot, queriesPath, outPath, flag, docsPath] = process.argv.slice(2);
const { VectorDB } = await import(pathToFileURL(path.join(pkg, "node.js")).href);
let db;
if (flag === "--build") {
  const { dimension, docs } = JSON.parse(fs.readFileSync(docsPath, "utf8"));
  db = new VectorDB({ dimension });
  db.insertBatch(docs.map((d) => ({ ...d, vector: new Float32Array(d.vector) })));
  fs.writeFileSync(snapshot, db.exportSnapshot());
} else {
  db = VectorDB.importSnapshot(fs.readFileSync(snapshot));
}
const queries = JSON.parse(fs.readFileSync(queriesPath, "utf8"));
const out = queries.map((q) =>
  db.search({ ...q, vector: q.vector ? new Float32Array(q.vector) : undefined }).map((h) => ({
    id: h.id,
    score: h.score,
    vectorScore: h.vectorScore,
    textScore: h.textScore,
  })),
);
fs.writeFileSync(outPath, JSON.stringify(out));
