#!/usr/bin/env python3
"""The Python package side by side with hnswlib's and LanceDB's Python APIs, in one run.

    python3 benches/python/bench.py [--rustdocs DIR] [--rounds 3] [--queries 2000]
        [--markdown BENCHMARKS.md]

Corpus: rustdocs (19,132 x 384 MiniLM embeddings with titles, texts and known-item
queries) from --rustdocs, else $VJSON_CORPUS, else the bundled 2,000-document sample.
On first use the script creates benches/python/.venv with maturin, numpy, hnswlib and
lancedb from PyPI, and builds vjson into it with `maturin develop --release`.

Measured (each system's rounds interleaved, the best round counts):
- ingest of every document: hnswlib `add_items` of the vectors (M = 16,
  ef_construction = 200, 2 threads); vjson `insert_batch` of ids, vectors, metadata and
  texts (columns), at hnswlib's ef_construction (200, vjson's default natively), in memory and on disk (fsync'd, then flushed); LanceDB `create_table`
  plus its IVF_HNSW_SQ vector index (m = 16, ef_construction = 200) and its full-text index;
- vector search from one Python thread, one query per call: QPS and recall@10 against
  brute force at each ef; the best QPS at recall >= 0.95;
- hybrid search (vector + the query's text): MRR@10 and recall@10 of the known item, and
  QPS, for vjson's default fusion and RRF, and LanceDB's hybrid (its default RRF reranker);
- vjson search QPS from 1, 2 and 4 Python threads (the GIL is released in every call),
  beside hnswlib's from the same threads;
- single `insert` calls against one `insert_batch` of the same 2,000 documents with text,
  in memory and on disk.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
VENV = HERE / ".venv"
VENV_PY = VENV / "bin" / "python"
PACKAGES = ["maturin>=1.9.4,<2", "numpy", "hnswlib", "lancedb", "pandas", "ray"]
SAMPLE = REPO / "tests" / "data" / "sample"


def ensure_venv() -> None:
    """Re-executes this script under benches/python/.venv, creating it and building vjson
    into it first when needed."""
    if Path(sys.prefix).resolve() != VENV.resolve():
        if not VENV_PY.exists():
            print(f"creating {VENV} with {', '.join(PACKAGES)}", file=sys.stderr)
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
            subprocess.run([str(VENV_PY), "-m", "pip", "install", "--quiet", *PACKAGES], check=True)
        os.execv(str(VENV_PY), [str(VENV_PY), os.path.abspath(sys.argv[0]), *sys.argv[1:]])
    try:
        import hnswlib, lancedb, maturin, ray  # noqa: F401, E401
    except ImportError:
        subprocess.run([str(VENV_PY), "-m", "pip", "install", "--quiet", *PACKAGES], check=True)
    env = dict(os.environ, VIRTUAL_ENV=str(VENV), PYO3_PYTHON=str(VENV_PY))
    env["PATH"] = f"{VENV / 'bin'}:{env['PATH']}"
    print("building vjson into the virtualenv (maturin develop --release)", file=sys.stderr)
    subprocess.run([str(VENV / "bin" / "maturin"), "develop", "--release", "--quiet"],
                   cwd=REPO / "bindings" / "python", env=env, check=True)
    # The editable install's .pth is read at start-up only: this process finds the package
    # where maturin put the built module.
    sys.path.insert(0, str(REPO / "bindings" / "python" / "python"))


def load(corpus: Path):
    import numpy as np

    docs = [json.loads(line) for line in (corpus / "docs.jsonl").open()]
    queries = [json.loads(line) for line in (corpus / "queries.jsonl").open()]
    qrels = {}
    for line in (corpus / "qrels.jsonl").open():
        r = json.loads(line)
        qrels[r["qid"]] = r["docid"]
    X = np.fromfile(corpus / "docs.f32", dtype="<f4").reshape(len(docs), -1)
    Q = np.fromfile(corpus / "queries.f32", dtype="<f4").reshape(len(queries), -1)
    return docs, X, queries, Q, [qrels[q["id"]] for q in queries]


def best_of(rounds: int, fns: dict) -> dict:
    """Runs each fn `rounds` times, interleaved; the smallest time of each (and the last
    result)."""
    best = {k: float("inf") for k in fns}
    results = {}
    for _ in range(rounds):
        for k, fn in fns.items():
            t = time.perf_counter()
            results[k] = fn()
            best[k] = min(best[k], time.perf_counter() - t)
    return {k: (best[k], results[k]) for k in fns}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rustdocs", default=os.environ.get("VJSON_CORPUS"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--markdown", default=None, help="file whose python-bench table to replace")
    a = ap.parse_args()
    ensure_venv()

    import hnswlib
    import lancedb
    import numpy as np
    import pyarrow as pa

    import vjson

    corpus = Path(a.rustdocs) if a.rustdocs else SAMPLE
    docs, X, queries, Q, relevant = load(corpus)
    nq = min(a.queries, len(queries))
    queries, Q, relevant = queries[:nq], np.ascontiguousarray(Q[:nq]), relevant[:nq]
    n, dim = X.shape
    ids = [d["id"] for d in docs]
    texts = [f'{d["title"]}: {d["text"]}' for d in docs]
    metas = [{"kind": d["kind"]} for d in docs]
    print(f"corpus {corpus.name}: {n} x {dim}, {nq} queries", file=sys.stderr)
    work = Path(tempfile.mkdtemp(prefix="vjson-pybench-"))
    truth = np.argsort(-(Q @ X.T), axis=1)[:, :10]
    truth_ids = [{ids[j] for j in row} for row in truth]
    rows: list[str] = []

    # --- ingest -----------------------------------------------------------------------
    state: dict = {}

    def hnsw_build():
        idx = hnswlib.Index(space="cosine", dim=dim)
        idx.init_index(max_elements=n, M=16, ef_construction=200)
        idx.add_items(X, np.arange(n), num_threads=2)
        state["hnsw"] = idx

    def vjson_mem():
        db = vjson.PyVectorDB(None, dimension=dim, ef_construction=200)
        db.insert_batch(ids=ids, vectors=X, metadatas=metas, texts=texts)
        state["vjson"] = db

    def vjson_disk():
        path = work / "vjson-db"
        shutil.rmtree(path, ignore_errors=True)
        with vjson.PyVectorDB(path, dimension=dim, ef_construction=200) as db:
            db.insert_batch(ids=ids, vectors=X, metadatas=metas, texts=texts)
            db.flush()

    def lance_build():
        path = work / "lance"
        shutil.rmtree(path, ignore_errors=True)
        ldb = lancedb.connect(str(path))
        table = pa.table({
            "id": ids,
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(X.reshape(-1)), dim),
            "text": texts,
            "kind": [d["kind"] for d in docs],
        })
        tbl = ldb.create_table("docs", data=table)
        tbl.create_index(metric="cosine", index_type="IVF_HNSW_SQ", m=16, ef_construction=200)
        tbl.create_fts_index("text")
        state["lance"] = tbl

    print("ingest ...", file=sys.stderr)
    ing = best_of(a.rounds, {"hnswlib add_items": hnsw_build, "vjson insert_batch, memory": vjson_mem,
                             "vjson insert_batch, disk": vjson_disk, "LanceDB table + indexes": lance_build})
    base = ing["hnswlib add_items"][0]
    rows.append(f"**Ingest** of {n:,} documents ({dim}-d; vjson and LanceDB with text and metadata, "
                "hnswlib vectors only), best of {a.rounds}:\n".replace("{a.rounds}", str(a.rounds)))
    rows.append("| system | seconds | vs hnswlib |\n|---|---|---|")
    for k, (t, _) in ing.items():
        rows.append(f"| {k} | {t:.2f} | {t / base:.2f}x |")

    # --- vector search, one thread ---------------------------------------------------------
    db, idx, tbl = state["vjson"], state["hnsw"], state["lance"]

    def recall_of(found: list[list[str]]) -> float:
        return sum(len(set(f) & t) for f, t in zip(found, truth_ids)) / (10 * nq)

    def run_vjson(ef):
        return [[h["id"] for h in db.search(q, k=10, ef_search=ef)] for q in Q]

    def run_hnsw(ef):
        idx.set_ef(ef)
        return [[ids[j] for j in idx.knn_query(q, k=10, num_threads=1)[0][0]] for q in Q]

    print("vector search ...", file=sys.stderr)
    curve: dict[str, list[tuple[int, float, float]]] = {"vjson": [], "hnswlib": [], "LanceDB": []}
    for ef in [16, 32, 64, 100, 150, 200, 300]:
        res = best_of(a.rounds, {"vjson": lambda: run_vjson(ef), "hnswlib": lambda: run_hnsw(ef)})
        for k, (t, found) in res.items():
            curve[k].append((ef, nq / t, recall_of(found)))
    lq = min(nq, 300)  # LanceDB answers a few hundred queries per second: fewer of them
    for ef in [64, 200]:
        t = time.perf_counter()
        found = [[r["id"] for r in tbl.search(q).limit(10).ef(ef).select(["id"]).to_list()] for q in Q[:lq]]
        dt = time.perf_counter() - t
        rec = sum(len(set(f) & t_) for f, t_ in zip(found, truth_ids[:lq])) / (10 * lq)
        curve["LanceDB"].append((ef, lq / dt, rec))

    def best_at(points, floor=0.95):
        ok = [p for p in points if p[2] >= floor]
        return max(ok, key=lambda p: p[1]) if ok else None

    rows.append(f"\n**Vector search**, one Python thread, one query per call, k = 10, {nq:,} queries "
                "(LanceDB: 300), recall@10 against brute force:\n")
    rows.append("| system | ef | QPS | recall@10 |\n|---|---|---|---|")
    for k, pts in curve.items():
        for ef, qps, rec in pts:
            rows.append(f"| {k} | {ef} | {qps:,.0f} | {rec:.3f} |")
    bv, bh = best_at(curve["vjson"]), best_at(curve["hnswlib"])
    if bv and bh:
        rows.append(f"\nBest QPS at recall@10 >= 0.95: vjson {bv[1]:,.0f} (ef {bv[0]}), hnswlib {bh[1]:,.0f} "
                    f"(ef {bh[0]}): **{bv[1] / bh[1]:.2f}x**.")

    # --- hybrid quality ----------------------------------------------------------------------
    print("hybrid search ...", file=sys.stderr)

    def quality(found: list[list[str]], rel: list[str]):
        mrr = sum(1 / (f.index(r) + 1) if r in f else 0 for f, r in zip(found, rel)) / len(rel)
        rec = sum(r in f for f, r in zip(found, rel)) / len(rel)
        return mrr, rec

    hq = min(nq, 500)
    modes = {
        "vjson vector": lambda i: [h["id"] for h in db.search(Q[i], k=10)],
        "vjson text": lambda i: [h["id"] for h in db.text_search(queries[i]["text"], k=10)],
        "vjson hybrid (default)": lambda i: [h["id"] for h in db.hybrid_search(Q[i], queries[i]["text"], k=10)],
        "vjson hybrid rrf": lambda i: [h["id"] for h in db.hybrid_search(Q[i], queries[i]["text"], k=10, fusion="rrf")],
        "LanceDB vector": lambda i: [r["id"] for r in tbl.search(Q[i]).limit(10).select(["id"]).to_list()],
        "LanceDB text": lambda i: [r["id"] for r in tbl.search(queries[i]["text"], query_type="fts").limit(10).select(["id"]).to_list()],
        "LanceDB hybrid (RRF)": lambda i: [r["id"] for r in tbl.search(query_type="hybrid").vector(Q[i]).text(queries[i]["text"]).limit(10).to_list()],
    }
    rows.append(f"\n**Hybrid ranking**, known-item queries ({hq}), each system's own vector and text sides:\n")
    rows.append("| mode | MRR@10 | recall@10 | QPS |\n|---|---|---|---|")
    for name, fn in modes.items():
        t = time.perf_counter()
        found = [fn(i) for i in range(hq)]
        dt = time.perf_counter() - t
        mrr, rec = quality(found, relevant[:hq])
        rows.append(f"| {name} | {mrr:.3f} | {rec:.3f} | {hq / dt:,.0f} |")

    # --- threads -----------------------------------------------------------------------------
    print("threads ...", file=sys.stderr)
    ef = bv[0] if bv else 100
    idx.set_ef(bh[0] if bh else 100)
    rows.append(f"\n**Threads**: vector search QPS from N Python threads (vjson ef {ef}), one query per call:\n")
    rows.append("| threads | vjson QPS | vs 1 thread | hnswlib QPS | vs 1 thread |\n|---|---|---|---|---|")
    first = {}
    for threads in [1, 2, 4]:
        out = {}
        for name, fn in {"vjson": lambda q: db.search(q, k=10, ef_search=ef),
                         "hnswlib": lambda q: idx.knn_query(q, k=10, num_threads=1)}.items():
            best = float("inf")
            for _ in range(a.rounds):
                with ThreadPoolExecutor(threads) as pool:
                    t = time.perf_counter()
                    list(pool.map(fn, Q, chunksize=64))
                    best = min(best, time.perf_counter() - t)
            out[name] = nq / best
            first.setdefault(name, out[name])
        rows.append(f"| {threads} | {out['vjson']:,.0f} | {out['vjson'] / first['vjson']:.2f}x | "
                    f"{out['hnswlib']:,.0f} | {out['hnswlib'] / first['hnswlib']:.2f}x |")

    # --- single inserts vs insert_batch ---------------------------------------------------------
    print("single inserts ...", file=sys.stderr)
    m = min(2000, n)
    rows.append(f"\n**Single `insert` calls vs one `insert_batch`**, {m:,} documents with text and metadata:\n")
    rows.append("| where | single inserts (s) | insert_batch (s) | batch speed-up |\n|---|---|---|---|")
    for where in ["memory", "disk (fsync per write)"]:
        def fresh():
            if where == "memory":
                return vjson.PyVectorDB(None, dimension=dim, ef_construction=200)
            p = work / "single"
            shutil.rmtree(p, ignore_errors=True)
            return vjson.PyVectorDB(p, dimension=dim, ef_construction=200)

        def singles():
            d = fresh()
            for i in range(m):
                d.insert(ids[i], X[i], metas[i], texts[i])
            d.close()

        def batch():
            d = fresh()
            d.insert_batch(ids=ids[:m], vectors=X[:m], metadatas=metas[:m], texts=texts[:m])
            d.close()

        r = best_of(a.rounds, {"single": singles, "batch": batch})
        rows.append(f"| {where} | {r['single'][0]:.2f} | {r['batch'][0]:.3f} | "
                    f"**{r['single'][0] / r['batch'][0]:.1f}x** |")

    when = time.strftime("%Y-%m-%d")
    body = (f"Measured {when} by `python3 benches/python/bench.py --rustdocs DIR --markdown BENCHMARKS.md` "
            f"(vjson {vjson.__version__}, hnswlib {getattr(hnswlib, '__version__', '0.8')}, "
            f"LanceDB {lancedb.__version__}; 2 cores).\n\n" + "\n".join(rows))
    print(body)
    if a.markdown:
        sys.path.insert(0, str(REPO / "benches" / "peers"))
        from ann import replace_between

        replace_between(Path(a.markdown), "python-bench", body)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
