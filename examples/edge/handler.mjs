// An edge-function search endpoint on vjson: a Web-standard `fetch(request)` handler over a
// database opened from snapshot bytes (built anywhere: the native CLI, Node, a browser).
//
//   GET /?q=<text>                 full-text search
//   GET /?like=<doc id>            documents similar to that one (its stored vector)
//   GET /?like=<doc id>&q=<text>   hybrid: that vector plus the text, fused
//   optional: &k=10 (1..50), &fusion=rrf|weighted:0.7,0.3|max|..., &filter=<JSON>
//
// Answers JSON: {query, tookMs, hits: [{id, score, vectorScore, textScore, metadata,
// snippet}]}; errors: {error: {code, message}} with 400 (bad query), 404 (unknown ?like
// id) or 405 (not GET/HEAD).
import { VectorDB } from "vjson";

const MAX_K = 50;

function json(status, body, headers = {}) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
  });
}

const error = (status, code, message, headers) => json(status, { error: { code, message } }, headers);

/** Opens `snapshot` (Uint8Array or ArrayBuffer) and returns the request handler. */
export function createHandler(snapshot) {
  const db = VectorDB.importSnapshot(snapshot);

  return async function fetch(request) {
    if (request.method !== "GET" && request.method !== "HEAD") {
      return error(405, "method_not_allowed", "use GET", { allow: "GET, HEAD" });
    }
    const params = new URL(request.url).searchParams;
    const q = params.get("q")?.trim() || null;
    const like = params.get("like") || null;
    const kParam = params.get("k");
    const k = kParam === null ? 10 : Number(kParam);
    if (!Number.isInteger(k) || k < 1 || k > MAX_K) {
      return error(400, "invalid_query", `k must be a whole number from 1 to ${MAX_K}`);
    }
    let filter;
    if (params.has("filter")) {
      try {
        filter = JSON.parse(params.get("filter"));
      } catch (e) {
        return error(400, "invalid_filter", `filter is not JSON: ${e.message}`);
      }
    }
    let vector;
    if (like !== null) {
      const doc = db.get(like);
      if (doc === undefined) return error(404, "not_found", `no document with id ${JSON.stringify(like)}`);
      vector = doc.vector;
    }
    if (q === null && vector === undefined) {
      return error(400, "invalid_query", "pass ?q=<text>, ?like=<document id>, or both");
    }
    try {
      const started = performance.now();
      const hits = db.search({
        vector,
        text: q,
        k,
        filter,
        fusion: params.get("fusion") || undefined,
      });
      const tookMs = performance.now() - started;
      return json(200, {
        query: { q, like, k, fusion: params.get("fusion") || "rrf", filter: filter ?? null },
        tookMs,
        hits: hits.map((h) => ({
          id: h.id,
          score: h.score,
          vectorScore: h.vectorScore,
          textScore: h.textScore,
          metadata: h.metadata,
          snippet: h.text === null ? null : h.text.slice(0, 200),
        })),
      });
    } catch (e) {
      // vjson errors carry a code; here they all come from the query string.
      if (typeof e?.code === "string") return error(400, e.code, e.message);
      throw e;
    }
  };
}
