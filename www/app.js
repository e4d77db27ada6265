// The vjson demo page: opens the sample snapshot in the browser with the npm package and
// runs text, vector and hybrid searches on it; saves and restores the database in
// IndexedDB and OPFS. Served by www/serve.mjs (/vjson/ is the package, /sample/ the
// bundled sample's queries, /data/sample.vjson the snapshot).
import init, {
  VectorDB,
  saveToIndexedDB,
  loadFromIndexedDB,
  saveToOPFS,
  loadFromOPFS,
  hasOPFS,
} from "vjson";

const DIM = 384;
const STORE_NAME = "vjson-demo";
const $ = (id) => document.getElementById(id);

let db = null;
let queries = []; // {id, text, kind, relevant, vector}

function jsonl(text) {
  return text
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));
}

async function fetchOk(url) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url}: ${res.status} ${res.statusText}`);
  return res;
}

const fmt = (x, digits = 4) => (x === null || x === undefined ? "–" : x.toFixed(digits));
const ms = (x) => (x < 1 ? `${(x * 1000).toFixed(0)} µs` : `${x.toFixed(2)} ms`);
const kb = (bytes) => `${(bytes / 1024).toFixed(0)} KB`;

function showSize() {
  $("size").textContent = `${db.size.toLocaleString("en")} documents`;
  $("size").dataset.size = String(db.size);
}

function setStorageStatus(text) {
  $("storage-status").textContent = text;
}

function showError(e) {
  const el = $("error");
  el.hidden = false;
  el.textContent = e.code ? `${e.code}: ${e.message}` : String(e);
  el.dataset.code = e.code ?? "";
}

function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
  $("error").dataset.code = "";
}

function renderQueries(filterText = "") {
  const sel = $("queries");
  const keep = sel.value;
  sel.replaceChildren();
  const f = filterText.trim().toLowerCase();
  for (const [i, q] of queries.entries()) {
    if (f && !q.text.toLowerCase().includes(f)) continue;
    const opt = document.createElement("option");
    opt.value = String(i);
    opt.textContent = `[${q.kind}] ${q.text}`;
    sel.append(opt);
  }
  if (keep && [...sel.options].some((o) => o.value === keep)) sel.value = keep;
}

function selectedQuery() {
  const v = $("queries").value;
  return v === "" ? null : queries[Number(v)];
}

function mode() {
  return document.querySelector('input[name="mode"]:checked').value;
}

function renderHits(hits, relevant) {
  const list = $("hits");
  list.replaceChildren();
  for (const h of hits) {
    const li = document.createElement("li");
    li.dataset.id = h.id;
    if (h.id === relevant) li.classList.add("relevant");

    const id = document.createElement("div");
    id.className = "hit-id";
    id.textContent = h.id;
    if (h.id === relevant) {
      const mark = document.createElement("span");
      mark.className = "mark";
      mark.textContent = "✓ relevant";
      id.append(mark);
    }

    const scores = document.createElement("div");
    scores.className = "scores";
    for (const [label, value, cls] of [
      ["score", h.score, "score"],
      ["vector", h.vectorScore, "vector-score"],
      ["text", h.textScore, "text-score"],
    ]) {
      const span = document.createElement("span");
      span.className = cls;
      span.append(`${label} `);
      const b = document.createElement("b");
      b.textContent = fmt(value);
      span.append(b);
      scores.append(span);
    }
    const del = document.createElement("button");
    del.type = "button";
    del.className = "delete";
    del.textContent = "delete";
    del.title = "Delete this document from the database";
    del.addEventListener("click", () => {
      db.delete(h.id);
      showSize();
      li.remove();
      setStorageStatus(`deleted ${h.id} (not saved yet)`);
    });
    scores.append(del);

    const meta = document.createElement("div");
    meta.className = "meta";
    meta.textContent = h.metadata
      ? Object.entries(h.metadata)
          .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
          .join(" · ")
      : "";

    const snippet = document.createElement("p");
    snippet.className = "snippet";
    const text = h.text ?? "";
    snippet.textContent = text.length > 240 ? `${text.slice(0, 240)}…` : text;

    li.append(id, scores, meta, snippet);
    list.append(li);
  }
}

function search() {
  clearError();
  const m = mode();
  const q = selectedQuery();
  const text = $("text").value.trim();
  const k = Number($("k").value) || 10;
  const query = { k, fusion: $("fusion").value };
  try {
    const filterText = $("filter").value.trim();
    if (filterText) {
      try {
        query.filter = JSON.parse(filterText);
      } catch (e) {
        const err = new Error(`the filter box is not JSON: ${e.message}`);
        err.code = "invalid_filter";
        throw err;
      }
    }
    if (m !== "text") {
      if (!q) {
        const err = new Error("pick a sample query: its embedding is the query vector");
        err.code = "invalid_query";
        throw err;
      }
      query.vector = q.vector;
    }
    if (m !== "vector") query.text = text || (q ? q.text : "");
    const started = performance.now();
    const hits = db.search(query);
    const took = performance.now() - started;
    renderHits(hits, q && m !== "text" ? q.relevant : relevantFor(query.text));
    const what = m === "vector" ? "vector" : m === "text" ? "full-text" : `hybrid (${query.fusion})`;
    $("summary").textContent = `${hits.length} hits for a ${what} search in ${ms(took)}`;
    $("summary").dataset.took = String(took);
  } catch (e) {
    renderHits([], null);
    $("summary").textContent = "";
    showError(e);
  }
}

/** The known relevant document when the text is exactly a sample query. */
function relevantFor(text) {
  return queries.find((q) => q.text === text)?.relevant ?? null;
}

async function storage(action) {
  clearError();
  try {
    switch (action) {
      case "save-idb": {
        const n = await saveToIndexedDB(db, STORE_NAME);
        setStorageStatus(`saved ${kb(n)} to IndexedDB`);
        break;
      }
      case "load-idb":
      case "load-opfs": {
        const started = performance.now();
        const restored =
          action === "load-idb" ? await loadFromIndexedDB(STORE_NAME) : await loadFromOPFS(STORE_NAME);
        const where = action === "load-idb" ? "IndexedDB" : "OPFS";
        if (restored === null) {
          setStorageStatus(`nothing saved in ${where} yet`);
          return;
        }
        db.free();
        db = restored;
        showSize();
        setStorageStatus(`restored ${db.size.toLocaleString("en")} documents from ${where} in ${ms(performance.now() - started)}`);
        $("storage-status").dataset.source = where;
        break;
      }
      case "save-opfs": {
        const n = await saveToOPFS(db, STORE_NAME);
        setStorageStatus(`saved ${kb(n)} to OPFS`);
        break;
      }
    }
  } catch (e) {
    showError(e);
  }
}

async function main() {
  const t0 = performance.now();
  await init();
  const [snap, qText, qVec, qrels] = await Promise.all([
    fetchOk("./data/sample.vjson").then((r) => r.arrayBuffer()),
    fetchOk("./sample/queries.jsonl").then((r) => r.text()),
    fetchOk("./sample/queries.f32").then((r) => r.arrayBuffer()),
    fetchOk("./sample/qrels.jsonl").then((r) => r.text()),
  ]);
  const t1 = performance.now();
  db = VectorDB.importSnapshot(new Uint8Array(snap));
  const t2 = performance.now();
  const rel = new Map(jsonl(qrels).map((r) => [r.qid, r.docid]));
  const vecs = new Float32Array(qVec);
  queries = jsonl(qText).map((q, i) => ({
    ...q,
    relevant: rel.get(q.id) ?? null,
    vector: vecs.subarray(i * DIM, (i + 1) * DIM),
  }));
  renderQueries();
  showSize();

  $("status").textContent =
    `Opened a ${kb(snap.byteLength)} snapshot (${db.dimension}-d, ${db.metric}) in ${ms(t2 - t1)}; ` +
    `wasm + data loaded in ${ms(t1 - t0)}. ${queries.length} sample queries.`;
  $("status").dataset.ready = "1";

  $("search-form").addEventListener("submit", (e) => {
    e.preventDefault();
    search();
  });
  $("queries").addEventListener("change", () => {
    const q = selectedQuery();
    if (q) $("text").value = q.text;
    search();
  });
  $("query-filter").addEventListener("input", (e) => renderQueries(e.target.value));
  for (const el of document.querySelectorAll('input[name="mode"]')) el.addEventListener("change", search);
  $("fusion").addEventListener("change", search);
  for (const id of ["save-idb", "load-idb", "save-opfs", "load-opfs"]) {
    $(id).addEventListener("click", () => storage(id));
  }
  if (!hasOPFS()) {
    $("save-opfs").disabled = true;
    $("load-opfs").disabled = true;
  }
}

main().catch((e) => {
  $("status").textContent = `Could not start: ${e.message ?? e}`;
  $("status").dataset.ready = "error";
  showError(e);
});
