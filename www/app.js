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
const CANDIDATES = 150; // how deep each side's own ranking is shown beside a hit
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

/** Query words, lower-cased, for highlighting. */
function queryTerms(text) {
  return (text ?? "").toLowerCase().match(/[\p{L}\p{N}]+/gu)?.filter((t) => t.length >= 2) ?? [];
}

/** A rough English stem, only to decide what to highlight (the index stems properly). */
function stem(w) {
  return w.replace(/(ing|ed|es|s|ly)$/u, "") || w;
}

/** `text` into `el`, the words that match a query term wrapped in <mark>. */
function highlight(el, text, terms) {
  const stems = new Set(terms.map(stem));
  for (const part of text.split(/([\p{L}\p{N}]+)/u)) {
    if (part && stems.has(stem(part.toLowerCase()))) {
      const m = document.createElement("mark");
      m.textContent = part;
      el.append(m);
    } else if (part) {
      el.append(part);
    }
  }
}

function renderHits(hits, relevant, ranks = null, terms = []) {
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
    for (const [label, value, cls, rank] of [
      ["score", h.score, "score", null],
      ["vector", h.vectorScore, "vector-score", ranks?.vector.get(h.id)],
      ["text", h.textScore, "text-score", ranks?.text.get(h.id)],
    ]) {
      const span = document.createElement("span");
      span.className = cls;
      span.append(`${label} `);
      const b = document.createElement("b");
      b.textContent = fmt(value);
      span.append(b);
      if (ranks) {
        // Where this side ranked the document on its own (– : not in its candidates).
        const r = document.createElement("i");
        r.className = "rank";
        r.textContent = rank ? ` #${rank}` : "";
        span.append(r);
      }
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
    highlight(snippet, text.length > 240 ? `${text.slice(0, 240)}…` : text, terms);

    li.append(id, scores, meta, snippet);
    list.append(li);
  }
}

function setNote(text) {
  $("note").hidden = !text;
  $("note").textContent = text ?? "";
}

/** Rank (1-based) of each id on one side alone, over the candidates a hybrid query uses. */
function sideRanks(query) {
  const ids = db.search({ ...query, k: CANDIDATES }).map((h) => h.id);
  return new Map(ids.map((id, i) => [id, i + 1]));
}

function search() {
  clearError();
  setNote("");
  let m = mode();
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
    // Only the sample queries have embeddings: free text is searched as text, and said so.
    const free = text !== "" && (!q || text !== q.text);
    if (m !== "text" && (free || !q)) {
      if (!text) {
        const err = new Error("type a query, or pick a sample query (its embedding is the query vector)");
        err.code = "invalid_query";
        throw err;
      }
      setNote(
        `No embedding for free text: showing full-text results. Pick a sample query below for ${m} search.`,
      );
      m = "text";
    }
    if (m !== "text") query.vector = q.vector;
    if (m !== "vector") query.text = text || (q ? q.text : "");
    const started = performance.now();
    const hits = db.search(query);
    const took = performance.now() - started;
    const ranks =
      m === "hybrid"
        ? {
            vector: sideRanks({ vector: query.vector, filter: query.filter }),
            text: sideRanks({ text: query.text, filter: query.filter }),
          }
        : null;
    const relevant = q && m !== "text" ? q.relevant : relevantFor(query.text);
    renderHits(hits, relevant, ranks, m === "vector" ? [] : queryTerms(query.text));
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
  // Starter results: the first sample query, so the page never opens empty.
  if (queries.length > 0) {
    $("queries").value = "0";
    $("text").value = queries[0].text;
    search();
  }
}

main().catch((e) => {
  $("status").textContent = `Could not start: ${e.message ?? e}`;
  $("status").dataset.ready = "error";
  showError(e);
});
