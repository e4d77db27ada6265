#!/usr/bin/env python3
"""Scale benchmark: vjson on disk at 10 K, 100 K and 1 M documents (384-d vectors with text
and metadata) against hnswlib, faiss and LanceDB on the same data, in the same run.

    python3 benches/peers/scale.py [--sizes 10000,100000,1000000]
        [--systems vjson,vjson-cli,hnswlib,faiss,lancedb] [--markdown BENCHMARKS.md]

Data: `scale_data.py` (seeded Gaussian-mixture vectors, synthetic text and metadata, exact
top 10 of 1,000 queries), generated once under $CARGO_TARGET_DIR/scale-bench/data.
Every system builds with 2 threads and answers queries one at a time on one thread, each
phase in a fresh process; between the build and the reopen the file system is synced (so
the reopen does not share the machine with the kernel writing back what the build wrote).
Caches are neither warmed nor dropped before a reopen: what the build left in the page
cache is what the reopen finds (on this sandbox some of it is evicted during a 1 M build,
even with memory free), as for a user who opens a database after writing it:

- vjson (`examples/bench_scale.rs`): `insert_batch` in batches of 10,000 into an on-disk
  database (log fsynced per batch), then close; reopen and time to the first answer; p50 /
  p99 of vector (at each ef), text, hybrid and filtered searches; recall@10; RSS after the
  reopen and after the queries; bytes on disk; `stats()`.
- vjson-cli: `vjson import DB FILE.jsonl` of the same documents (the JSONL written first,
  not timed), wall time of the command.
- hnswlib (M = 16, ef_construction = 200): `add_items` of the vectors alone; index saved,
  reloaded in a fresh process and timed to its first answer; p50 / p99 and recall per ef.
- faiss `IndexHNSWFlat` (M = 16, efConstruction = 200): the same.
- LanceDB: a table of id, vector, text and metadata columns, an IVF_HNSW_SQ vector index
  (m = 16, ef_construction = 200) and a full-text index; reopened; vector (per ef), text,
  hybrid and filtered p50 / p99.

Results go to scale-bench/results.json (kept between runs: a run with --sizes or --systems
replaces only those entries), then a markdown table (between the `scale-bench` markers of
--markdown) and a plot of cost against size (benches/peers/scale.png).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import ann  # noqa: E402  (same directory)

THREADS = 2
K = 10
EFS = [40, 80, 160, 240, 320]
SYSTEMS = ["vjson", "vjson-cli", "hnswlib", "faiss", "lancedb"]


def rss(key="VmHWM:"):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1]) * 1024
    return 0


def dir_bytes(p: Path) -> int:
    if p.is_file():
        return p.stat().st_size
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())


def pct(times):
    t = sorted(times)
    at = lambda p: t[round((len(t) - 1) * p)] * 1e3  # noqa: E731
    return {"p50_ms": at(0.5), "p99_ms": at(0.99)}


def load_queries(d: Path):
    import numpy as np

    meta = json.loads((d / "meta.json").read_text())
    q = np.fromfile(d / "queries.f32", dtype="<f4").reshape(-1, meta["dim"])
    truth = np.fromfile(d / "truth_k10.u32", dtype="<u4").reshape(-1, K)
    lines = [json.loads(l) for l in (d / "queries.jsonl").read_text().splitlines()]
    return meta, q, truth, lines


def recall(found, truth):
    return sum(len(set(map(int, f)) & set(map(int, t))) for f, t in zip(found, truth)) / truth.size


# --------------------------------------------------------------------------------------
# Peer workers (run in a fresh process each: `scale.py --worker SYSTEM PHASE DATA INDEX`)

def ann_worker(system, phase, d: Path, index: Path):
    import numpy as np

    meta, q, truth, _ = load_queries(d)
    dim = meta["dim"]
    if phase == "build":
        docs = np.fromfile(d / "docs.f32", dtype="<f4").reshape(-1, dim)
        t = time.perf_counter()
        if system == "hnswlib":
            import hnswlib

            idx = hnswlib.Index(space="ip", dim=dim)
            idx.init_index(max_elements=len(docs), M=16, ef_construction=200, random_seed=100)
            idx.add_items(docs, np.arange(len(docs)), num_threads=THREADS)
            build = time.perf_counter() - t
            idx.save_index(str(index))
        else:
            import faiss

            faiss.omp_set_num_threads(THREADS)
            idx = faiss.IndexHNSWFlat(dim, 16, faiss.METRIC_INNER_PRODUCT)
            idx.hnsw.efConstruction = 200
            idx.add(docs)
            build = time.perf_counter() - t
            faiss.write_index(idx, str(index))
        print(json.dumps({"insert_s": build, "peak_rss": rss(), "disk_bytes": dir_bytes(index)}))
        return
    rss_before = rss("VmRSS:")
    t = time.perf_counter()
    if system == "hnswlib":
        import hnswlib

        idx = hnswlib.Index(space="ip", dim=dim)
        idx.load_index(str(index))
        idx.set_num_threads(1)
        search = lambda v, ef: (idx.set_ef(ef), idx.knn_query(v, k=K)[0][0])[1]  # noqa: E731
    else:
        import faiss

        faiss.omp_set_num_threads(1)
        idx = faiss.read_index(str(index))

        def search(v, ef):
            idx.hnsw.efSearch = ef
            return idx.search(v[None, :], K)[1][0]
    search(q[0], EFS[0])
    first = time.perf_counter() - t
    out = {"first_answer_ms": first * 1e3, "rss_after_open": rss("VmRSS:"), "rss_before_open": rss_before,
           "vector": []}
    for ef in EFS:
        times, found = [], []
        for v in q:
            s = time.perf_counter()
            found.append(search(v, ef))
            times.append(time.perf_counter() - s)
        out["vector"].append({"ef": ef, **pct(times), "recall_at_10": recall(found, truth)})
    out["rss_after_all_queries"] = rss("VmRSS:")
    print(json.dumps(out))


def lance_worker(phase, d: Path, index: Path):
    import lancedb
    import numpy as np
    import pyarrow as pa

    meta, q, truth, lines = load_queries(d)
    dim, n = meta["dim"], meta["n"]
    if phase == "build":
        shutil.rmtree(index, ignore_errors=True)
        t = time.perf_counter()
        db = lancedb.connect(str(index))
        vecs = np.memmap(d / "docs.f32", dtype="<f4", mode="r").reshape(-1, dim)
        tbl = None
        with open(d / "docs.jsonl") as f:
            for s in range(0, n, 100_000):
                docs = [json.loads(next(f)) for _ in range(min(100_000, n - s))]
                batch = pa.table({
                    "id": [x["id"] for x in docs],
                    "vector": pa.FixedSizeListArray.from_arrays(
                        pa.array(np.ascontiguousarray(vecs[s:s + len(docs)]).reshape(-1)), dim),
                    "text": [x["text"] for x in docs],
                    "category": [x["metadata"]["category"] for x in docs],
                    "year": [x["metadata"]["year"] for x in docs],
                    "price": [x["metadata"]["price"] for x in docs],
                })
                if tbl is None:
                    tbl = db.create_table("docs", data=batch)
                else:
                    tbl.add(batch)
        tbl.create_index(metric="cosine", index_type="IVF_HNSW_SQ", m=16, ef_construction=200)
        tbl.create_fts_index("text")
        build = time.perf_counter() - t
        print(json.dumps({"insert_s": build, "peak_rss": rss(), "disk_bytes": dir_bytes(index)}))
        return
    rss_before = rss("VmRSS:")
    t = time.perf_counter()
    tbl = lancedb.connect(str(index)).open_table("docs")
    tbl.search(q[0]).limit(K).select(["id"]).to_list()
    first = time.perf_counter() - t
    out = {"first_answer_ms": first * 1e3, "rss_after_open": rss("VmRSS:"), "rss_before_open": rss_before,
           "vector": []}
    nq = min(len(q), 300)  # a few hundred queries per second at best: fewer of them

    def timed(run):
        times, found = [], []
        for i in range(nq):
            s = time.perf_counter()
            found.append(run(i))
            times.append(time.perf_counter() - s)
        return times, found

    rowno = lambda rs: [int(r["id"][3:]) for r in rs]  # noqa: E731
    for ef in EFS:
        times, found = timed(lambda i: rowno(
            tbl.search(q[i]).limit(K).ef(ef).select(["id"]).to_list()))
        out["vector"].append({"ef": ef, **pct(times), "recall_at_10": recall(found, truth[:nq])})
    out["text"] = pct(timed(lambda i: tbl.search(lines[i]["text"], query_type="fts")
                            .limit(K).select(["id"]).to_list())[0])
    out["hybrid"] = pct(timed(lambda i: tbl.search(query_type="hybrid").vector(q[i])
                              .text(lines[i]["text"]).limit(K).select(["id"]).to_list())[0])
    out["filtered"] = pct(timed(lambda i: tbl.search(q[i]).where(
        f"category = '{lines[i]['filter']['category']}'", prefilter=True)
        .limit(K).select(["id"]).to_list())[0])
    out["rss_after_all_queries"] = rss("VmRSS:")
    out["queries"] = nq
    print(json.dumps(out))


# --------------------------------------------------------------------------------------
# The driver

def run_json(cmd, env=None):
    t = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, env={**os.environ, **(env or {})}, text=True)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed ({p.returncode})")
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    return (json.loads(lines[-1]) if lines else {}), wall


def peak_rss_of(cmd, env):
    """Runs cmd under /usr/bin/time -v where it exists; returns (wall s, peak RSS bytes)."""
    timev = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)
    full = [timev, "-v", *cmd] if timev else cmd
    t = time.perf_counter()
    p = subprocess.run(full, env={**os.environ, **env}, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed ({p.returncode}):\n{p.stderr[-2000:]}")
    peak = 0
    for line in p.stderr.splitlines():
        if "Maximum resident set size" in line:
            peak = int(line.split()[-1]) * 1024
    return wall, peak


def run_capped(cmd, limit, env):
    """Runs cmd in a fresh memory cgroup limited to `limit` bytes (page cache included,
    so mapped file pages beyond it must be dropped and read again); returns its JSON line
    with the cgroup's peak usage, or why it could not run."""
    v1 = Path("/sys/fs/cgroup/memory")
    v2 = Path("/sys/fs/cgroup")
    if (v1 / "memory.limit_in_bytes").exists():
        cg, limit_file, peak_file = v1 / f"vjson-scale-{os.getpid()}", "memory.limit_in_bytes", \
            "memory.max_usage_in_bytes"
    elif "memory" in ((v2 / "cgroup.controllers").read_text() if (v2 / "cgroup.controllers").exists() else ""):
        cg, limit_file, peak_file = v2 / f"vjson-scale-{os.getpid()}", "memory.max", "memory.peak"
    else:
        return {"skipped": "no memory cgroup on this machine"}
    try:
        cg.mkdir()
        (cg / limit_file).write_text(str(limit))
    except OSError as e:
        return {"skipped": f"cannot create a memory cgroup: {e}"}
    # Pages already cached stay charged to whoever read them first: drop the page cache
    # (as root), so every page the capped run reads is charged to its cgroup.
    dropped = False
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        dropped = True
    except OSError:
        pass
    try:
        shell = f'echo $$ > "{cg}/cgroup.procs" && exec "$@"'
        p = subprocess.run(["sh", "-c", shell, "sh", *map(str, cmd)], stdout=subprocess.PIPE,
                           env={**os.environ, **env}, text=True)
        peak = int((cg / peak_file).read_text()) if (cg / peak_file).exists() else 0
        if p.returncode != 0:
            return {"failed": p.returncode, "limit": limit, "cgroup_peak": peak,
                    "dropped_caches": dropped}
        rec = json.loads([l for l in p.stdout.splitlines() if l.startswith("{")][-1])
        return {**rec, "limit": limit, "cgroup_peak": peak, "dropped_caches": dropped}
    finally:
        cg.rmdir()


def measure(system, d: Path, work: Path, exe, cli, cap_fraction):
    env = {"RAYON_NUM_THREADS": str(THREADS), "OMP_NUM_THREADS": str(THREADS)}
    idx = work / system
    shutil.rmtree(idx, ignore_errors=True)
    if system == "vjson":
        build, _ = run_json([exe, "ingest", "--data", d, "--db", idx], env)
        os.sync()
        query_cmd = [exe, "query", "--data", d, "--db", idx, "--ef", ",".join(map(str, EFS))]
        query, _ = run_json(query_cmd, env)
        out = {"build": build, "query": query}
        if cap_fraction:
            # Beyond RAM: the same queries in a process whose memory (heap and page cache)
            # is capped below the size of the vector file.
            out["capped"] = run_capped(query_cmd, int(cap_fraction * query["vectors_file_bytes"]), env)
        return out
    if system == "vjson-cli":
        jl = work / "import.jsonl"
        if not jl.exists():
            run_json([exe, "jsonl", "--data", d, "--out", jl])
        wall, peak = peak_rss_of([cli, "import", idx, jl], env)
        jl.unlink()
        return {"build": {"insert_s": wall, "peak_rss": peak, "disk_bytes": dir_bytes(idx)}}
    me = [sys.executable, __file__, "--worker", system]
    build, _ = run_json([*me, "build", d, idx], env)
    os.sync()
    query, _ = run_json([*me, "query", d, idx], env)
    return {"build": build, "query": query}


def best_vector(q, floor=0.95):
    ok = [v for v in q.get("vector", []) if v["recall_at_10"] >= floor]
    return min(ok, key=lambda v: v["p50_ms"]) if ok else None


def markdown(results, when):
    mib = lambda b: f"{b / 2**20:,.0f}"  # noqa: E731
    lines = [
        f"Run: {when}, `python3 benches/peers/scale.py` (data: `scale_data.py`, 384-d, cosine; "
        "2 build threads; queries one at a time on one thread; 1,000 queries, LanceDB 300).",
        "",
        "| docs | system | ingest (s) | vs hnswlib | peak RSS (MiB) | disk bytes / doc | reopen to first answer (ms) "
        "| RSS after reopen / after queries (MiB) | vector p50 / p99 (ms) at recall@10 ≥ 0.95 | recall, ef | "
        "text p50 / p99 | hybrid p50 / p99 | filtered p50 / p99 |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for n in sorted(results, key=int):
        r = results[n]
        base = r.get("hnswlib", {}).get("build", {}).get("insert_s")
        for s in SYSTEMS:
            if s not in r:
                continue
            b, q = r[s]["build"], r[s].get("query", {})
            v = best_vector(q)
            pq = lambda k: (f"{q[k]['p50_ms']:.2f} / {q[k]['p99_ms']:.2f}" if k in q else "–")  # noqa: E731
            lines.append(
                f"| {int(n):,} | {s} | {b['insert_s']:.1f} | "
                f"{(b['insert_s'] / base) if base else float('nan'):.2f}× | {mib(b.get('peak_rss', 0))} | "
                f"{b.get('disk_bytes', 0) / int(n):,.0f} | "
                + (f"{q['first_answer_ms']:.0f} | {mib(q['rss_after_open'] - q.get('rss_before_open', 0))} / "
                   f"{mib(q['rss_after_all_queries'] - q.get('rss_before_open', 0))} | " if q else "– | – | ")
                + (f"{v['p50_ms']:.3f} / {v['p99_ms']:.3f} | {v['recall_at_10']:.3f}, {v['ef']} | "
                   if v else ("below 0.95 at every ef | – | " if q else "– | – | "))
                + f"{pq('text')} | {pq('hybrid')} | {pq('filtered')} |")
    capped = [(n, r["vjson"]) for n, r in sorted(results.items(), key=lambda x: int(x[0]))
              if "capped" in r.get("vjson", {})]
    if capped:
        lines += ["", "vjson's queries again in a process whose memory (heap and page cache, a "
                  "memory cgroup) is capped below the size of the vector file:", "",
                  "| docs | vector file (MiB) | memory limit (MiB) | peak in the cgroup (MiB) "
                  "| recall@10 per ef, capped (uncapped) | vector p50 per ef, capped (uncapped) ms "
                  "| text / hybrid / filtered p50, capped (uncapped) ms |",
                  "|---:|---:|---:|---:|---|---|---|"]
        for n, r in capped:
            c, q = r["capped"], r["query"]
            if "vector" not in c:
                lines.append(f"| {int(n):,} | {mib(q['vectors_file_bytes'])} | "
                             f"{mib(c.get('limit', 0))} | – | {c} | | |")
                continue
            rec = ", ".join(f"{a['recall_at_10']:.3f} ({b['recall_at_10']:.3f})"
                            for a, b in zip(c["vector"], q["vector"]))
            lat = ", ".join(f"ef {a['ef']}: {a['p50_ms']:.2f} ({b['p50_ms']:.2f})"
                            for a, b in zip(c["vector"], q["vector"]))
            other = " / ".join(f"{c[k]['p50_ms']:.2f} ({q[k]['p50_ms']:.2f})"
                               for k in ("text", "hybrid", "filtered"))
            lines.append(f"| {int(n):,} | {mib(q['vectors_file_bytes'])} | {mib(c['limit'])} | "
                         f"{mib(c['cgroup_peak'])} | {rec} | {lat} | {other} |")
    return "\n".join(lines)


def plot(results, path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted(results, key=int)
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.2))
    for i, s in enumerate(SYSTEMS):
        pts = [(int(n), results[n][s]) for n in sizes if s in results[n]]
        if not pts:
            continue
        xs = [p[0] for p in pts]
        style = {"marker": "o", "color": f"C{i}", "label": s}
        ax[0].plot(xs, [p[1]["build"]["insert_s"] for p in pts], **style)
        ax[1].plot(xs, [p[1]["build"].get("peak_rss", 0) / 2**20 for p in pts], **style)
        qs = [(x, best_vector(r.get("query", {}))) for x, r in pts]
        qs = [(x, v["p50_ms"]) for x, v in qs if v]
        if qs:
            ax[2].plot([x for x, _ in qs], [y for _, y in qs], **style)
    for a, t in zip(ax, ["ingest (s)", "peak RSS while ingesting (MiB)",
                         "vector p50 (ms) at recall@10 ≥ 0.95"]):
        a.set_xscale("log")
        a.set_yscale("log")
        a.set_xlabel("documents")
        a.set_title(t)
        a.grid(True, which="both", alpha=0.3)
    ax[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--systems", default=",".join(SYSTEMS))
    ap.add_argument("--markdown", default=None)
    ap.add_argument("--cap-fraction", type=float, default=0.66,
                    help="memory limit of the capped query run, as a share of the vector file")
    ap.add_argument("--cap-from", type=int, default=1_000_000,
                    help="run the capped queries at this size and above")
    a = ap.parse_args()
    ann.ensure_venv()
    if a.worker:
        system, phase, d, index = a.worker
        if system == "lancedb":
            lance_worker(phase, Path(d), Path(index))
        else:
            ann_worker(system, phase, Path(d), Path(index))
        return
    try:
        import lancedb  # noqa: F401
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "lancedb", "pyarrow"],
                       check=True)
    root = ann.target_dir() / "scale-bench"
    results_path = root / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    exe = ann.example_binary("bench_scale")
    subprocess.run(["cargo", "build", "--release", "--bin", "vjson"], cwd=ann.ROOT, check=True)
    cli = str(ann.target_dir() / "release" / "vjson")
    systems = a.systems.split(",")
    for n in [int(s) for s in a.sizes.split(",")]:
        d = root / "data" / f"n{n}"
        subprocess.run([sys.executable, str(HERE / "scale_data.py"), str(n), str(d)], check=True)
        work = root / "work"
        work.mkdir(parents=True, exist_ok=True)
        for s in systems:
            print(f"{n:,} documents: {s}", file=sys.stderr, flush=True)
            cap = a.cap_fraction if n >= a.cap_from else 0
            results.setdefault(str(n), {})[s] = measure(s, d, work, exe, cli, cap)
            results_path.write_text(json.dumps(results, indent=1))
            shutil.rmtree(work / s, ignore_errors=True)
    table = markdown(results, time.strftime("%Y-%m-%d"))
    print(table)
    plot(results, HERE / "scale.png")
    if a.markdown:
        ann.replace_between(Path(a.markdown), "scale-bench", table)


if __name__ == "__main__":
    main()
