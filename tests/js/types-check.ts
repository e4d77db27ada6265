// Compiled (never run) by types.test.mjs with `tsc --noEmit --strict` against the installed
// package: the declarations users import must describe the API, and reject misuse.
import init, {
  VectorDB,
  initSync,
  saveToIndexedDB,
  loadFromIndexedDB,
  saveToOPFS,
  loadFromOPFS,
  hasOPFS,
  type Hit,
  type SearchQuery,
  type VectorDBOptions,
  type VjsonError,
  type ErrorCode,
  type StoredDocument,
} from "vjson";

async function main(): Promise<void> {
  await init();
  const options: VectorDBOptions = { dimension: 4, metric: "cosine", fulltext: true, m: 16, efConstruction: 100, efSearch: 32 };
  const db = new VectorDB(options);
  db.insert({ id: "a", vector: new Float32Array(4), text: "hello", metadata: { year: 2024, tags: ["x"], nested: { ok: true } } });
  db.insertBatch([{ id: "b", vector: [1, 2, 3, 4] }]);
  db.upsertBatch([{ id: "b", vector: [1, 2, 3, 5] }]);
  db.upsert({ id: "b", vector: [1, 2, 3, 5], text: null, metadata: null });
  const doc: StoredDocument | undefined = db.get("a");
  if (doc) {
    const v: Float32Array = doc.vector;
    void v;
  }
  const size: number = db.size;
  void size;
  const q: SearchQuery = {
    vector: [1, 0, 0, 0],
    text: "hello",
    k: 5,
    filter: { year: { $gte: 2020 }, $or: [{ tags: { $contains: "x" } }, { "nested.ok": true }] },
    fusion: { type: "weighted", vector: 0.7, text: 0.3 },
    efSearch: 64,
  };
  const hits: Hit[] = db.search(q);
  for (const h of hits) {
    const s: number = h.score;
    const t: number | null = h.textScore;
    void s;
    void t;
  }
  db.search({ text: "x", fusion: "rrf" });
  db.search({ text: "x", fusion: "weighted:0.7,0.3" });
  db.hybridSearch(new Float32Array(4), "hello", 10, "dbsf");
  const bytes: Uint8Array = db.exportSnapshot();
  const db2: VectorDB = VectorDB.importSnapshot(bytes);
  await saveToIndexedDB(db2, "name");
  const back: VectorDB | null = await loadFromIndexedDB("name");
  if (hasOPFS()) await saveToOPFS(db2, "name");
  void (await loadFromOPFS("name"));
  void back;
  try {
    db.insert({ id: "a", vector: [1, 2, 3, 4] });
  } catch (e) {
    const code: ErrorCode = (e as VjsonError).code;
    void code;
  }
  // @ts-expect-error: a document needs an id
  db.insert({ vector: [1, 2, 3, 4] });
  // @ts-expect-error: metric names are checked
  new VectorDB({ dimension: 4, metric: "manhattan" });
  // @ts-expect-error: fusion names are checked
  db.search({ text: "x", fusion: "bogus" });
  // @ts-expect-error: size is read-only
  db.size = 3;
  initSync({ module: new Uint8Array() });
  db.free();
}

void main;
