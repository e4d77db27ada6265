#!/usr/bin/env python3
"""Side-by-side ANN benchmark: vjson against hnswlib, faiss (HNSW32 and flat) and usearch.

`vjson` runs at its defaults (graph walks on the int8 copy, exact re-rank), `vjson-f32`
with `Quantization::None`. Every system indexes the same vectors of each dataset in the same run, then searches every
query for its top 10 at several ef values. Reported per system and dataset: build time
(2 threads), peak RSS of the process that built the index, when the build is done (VmHWM; the dataset loaded in memory counts), index bytes per vector, and for
each ef the queries per second (one query at a time, one thread) and recall@10 against
exact search. Every system's index stays loaded in its own process while the searches
run: each (system, ef) is measured `--rounds` times (default 3), the systems interleaved
in a rotating order, and the best QPS counts, so that the noise of a shared machine
falls on all systems alike. The summary gives vjson's ratios against hnswlib: QPS at recall >= 0.95
(best QPS of each at that recall) and build time.

    python3 benches/peers/ann.py [--datasets rustdocs,uniform,clustered] [--quick]
        [--rustdocs DIR] [--out DIR] [--markdown BENCHMARKS.md] [--plot PNG]

Datasets: `rustdocs` (19,132 x 384 MiniLM embeddings, cosine; from --rustdocs, else
$VJSON_CORPUS, else skipped), `uniform` (20,000 x 384 uniform in [-1, 1], L2) and
`clustered` (50,000 x 768 from a 100-component Gaussian mixture, L2), generated with fixed
seeds. `--quick` shrinks the generated sets tenfold. Vectors, ground truth and results
go under $CARGO_TARGET_DIR (default target/)/ann-bench. With --markdown the table between
the `ann-bench` markers of that file is replaced; with --plot a recall-QPS chart (one
panel per dataset, one curve per system) is written.

On first use the script creates benches/peers/.venv and installs hnswlib, faiss-cpu,
usearch, numpy and matplotlib into it, then re-runs itself there. Each system runs in a
child process of its own (`--worker`), which reports its own peak RSS.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
VENV = HERE / ".venv"
VENV_PY = VENV / "bin" / "python"
PACKAGES = ["hnswlib", "faiss-cpu", "usearch", "numpy", "matplotlib"]
SYSTEMS = ["vjson", "vjson-f32", "hnswlib", "faiss-hnsw32", "usearch", "faiss-flat"]
THREADS = 2
K = 10


def ensure_venv():
    """Re-executes the running script (this one, or ingest.py) under benches/peers/.venv,
    creating it when missing."""
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    if not VENV_PY.exists():
        print(f"creating {VENV} and installing {', '.join(PACKAGES)}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(VENV_PY), "-m", "pip", "install", "--quiet", *PACKAGES], check=True)
    os.execv(str(VENV_PY), [str(VENV_PY), os.path.abspath(sys.argv[0]), *sys.argv[1:]])


def target_dir() -> Path:
    return Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target").resolve()


# ---------------------------------------------------------------------------------------
# Datasets

def write_dataset(d: Path, docs, queries, metric):
    d.mkdir(parents=True, exist_ok=True)
    docs.astype("<f4").tofile(d / "docs.f32")
    queries.astype("<f4").tofile(d / "queries.f32")
    truth = exact_top_k(docs, queries, metric)
    truth.astype("<u4").tofile(d / f"truth_k{K}.u32")
    (d / "meta.json").write_text(json.dumps(
        {"n": len(docs), "queries": len(queries), "dim": docs.shape[1], "metric": metric}))


def exact_top_k(docs, queries, metric):
    import numpy as np

    if metric == "cosine":
        docs = docs / np.linalg.norm(docs, axis=1, keepdims=True)
        queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    out = []
    dn = (docs * docs).sum(axis=1)
    for s in range(0, len(queries), 256):
        q = queries[s:s + 256]
        if metric == "l2":
            score = -(dn[None, :] - 2 * q @ docs.T)
        else:
            score = q @ docs.T
        part = np.argpartition(-score, K - 1, axis=1)[:, :K]
        out.append(part)
    return np.concatenate(out).astype(np.uint32)


def make_datasets(names, quick, rustdocs, root: Path):
    import numpy as np

    sets = []
    for name in names:
        d = root / (name + ("-quick" if quick and name != "rustdocs" else ""))
        if name == "rustdocs":
            if not rustdocs:
                print("rustdocs: no --rustdocs DIR and no $VJSON_CORPUS; skipped", file=sys.stderr)
                continue
            if not (d / "meta.json").exists():
                src = Path(rustdocs)
                docs = np.fromfile(src / "docs.f32", dtype="<f4").reshape(-1, 384)
                queries = np.fromfile(src / "queries.f32", dtype="<f4").reshape(-1, 384)
                write_dataset(d, docs, queries, "cosine")
        elif name == "uniform":
            if not (d / "meta.json").exists():
                n, nq = (2_000, 200) if quick else (20_000, 1_000)
                rng = np.random.default_rng(20)
                docs = rng.uniform(-1, 1, (n, 384)).astype(np.float32)
                queries = rng.uniform(-1, 1, (nq, 384)).astype(np.float32)
                write_dataset(d, docs, queries, "l2")
        elif name == "clustered":
            if not (d / "meta.json").exists():
                n, nq, dim, comps = (5_000, 200, 768, 20) if quick else (50_000, 1_000, 768, 100)
                rng = np.random.default_rng(50)
                centers = rng.normal(0, 1, (comps, dim)).astype(np.float32)
                spread = rng.uniform(0.2, 0.6, comps).astype(np.float32)
                def draw(m):
                    c = rng.integers(0, comps, m)
                    return centers[c] + rng.normal(0, 1, (m, dim)).astype(np.float32) * spread[c, None]
                write_dataset(d, draw(n).astype(np.float32), draw(nq).astype(np.float32), "l2")
        else:
            sys.exit(f"unknown dataset {name}")
        sets.append((name, d))
    return sets


# ---------------------------------------------------------------------------------------
# Workers: each builds one system's index in its own process and prints JSON lines.

def load(d: Path):
    import numpy as np

    meta = json.loads((d / "meta.json").read_text())
    dim = meta["dim"]
    docs = np.fromfile(d / "docs.f32", dtype="<f4").reshape(-1, dim)
    queries = np.fromfile(d / "queries.f32", dtype="<f4").reshape(-1, dim)
    truth = np.fromfile(d / f"truth_k{K}.u32", dtype="<u4").reshape(-1, K)
    if meta["metric"] == "cosine":
        docs = docs / np.linalg.norm(docs, axis=1, keepdims=True)
        queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    return meta, np.ascontiguousarray(docs), np.ascontiguousarray(queries), truth


def recall(labels, truth):
    return sum(len(set(a) & set(b)) for a, b in zip(labels.tolist(), truth.tolist())) / truth.size


WINDOW_S = 0.5


def timed_qps(search, nq):
    search()  # warm-up
    rounds, t = 0, time.perf_counter()
    while rounds == 0 or time.perf_counter() - t < WINDOW_S:
        labels = search()
        rounds += 1
    return rounds * nq / (time.perf_counter() - t), labels


def emit(**rec):
    print(json.dumps(rec), flush=True)


def peak_rss_bytes():
    """This process's peak resident set (VmHWM; Linux), in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def serve(search_at):
    """Answers requests from the parent, one per stdin line: `ef N` measures QPS and recall
    at ef N (one `search` record), `quit` returns."""
    for line in sys.stdin:
        cmd = line.split()
        if cmd and cmd[0] == "ef":
            ef = int(cmd[1])
            qps, rec = search_at(ef)
            emit(what="search", ef=ef, qps=qps, recall=rec)
        elif cmd and cmd[0] == "quit":
            break


def worker(system, d: Path, m, efc):
    import numpy as np

    meta, docs, queries, truth = load(d)
    n, dim = docs.shape
    l2 = meta["metric"] == "l2"
    if system == "hnswlib":
        import hnswlib

        index = hnswlib.Index(space="l2" if l2 else "ip", dim=dim)
        index.init_index(max_elements=n, M=m, ef_construction=efc, random_seed=100)
        t = time.perf_counter()
        index.add_items(docs, np.arange(n), num_threads=THREADS)
        build = time.perf_counter() - t
        rss = peak_rss_bytes()
        with tempfile.TemporaryDirectory() as tmp:
            index.save_index(f"{tmp}/i")
            size = os.path.getsize(f"{tmp}/i")
        emit(what="build", build_s=build, index_bytes=size, peak_rss_bytes=rss)

        def at(ef):
            index.set_ef(max(ef, K))
            qps, labels = timed_qps(lambda: index.knn_query(queries, k=K, num_threads=1)[0], len(queries))
            return qps, recall(labels, truth)
    elif system in ("faiss-hnsw32", "faiss-flat"):
        import faiss

        faiss.omp_set_num_threads(THREADS)
        mt = faiss.METRIC_L2 if l2 else faiss.METRIC_INNER_PRODUCT
        if system == "faiss-flat":
            index = faiss.IndexFlat(dim, mt)
        else:
            index = faiss.IndexHNSWFlat(dim, 32, mt)
            index.hnsw.efConstruction = efc
        t = time.perf_counter()
        index.add(docs)
        build = time.perf_counter() - t
        rss = peak_rss_bytes()
        size = faiss.serialize_index(index).nbytes
        emit(what="build", build_s=build, index_bytes=int(size), peak_rss_bytes=rss)
        faiss.omp_set_num_threads(1)

        def at(ef):
            if system == "faiss-hnsw32":
                index.hnsw.efSearch = max(ef, K)
            qps, labels = timed_qps(lambda: index.search(queries, K)[1], len(queries))
            return qps, recall(labels, truth)
    elif system == "usearch":
        from usearch.index import Index

        index = Index(ndim=dim, metric="l2sq" if l2 else "ip", dtype="f32",
                      connectivity=m, expansion_add=efc)
        t = time.perf_counter()
        index.add(np.arange(n), docs, threads=THREADS)
        build = time.perf_counter() - t
        rss = peak_rss_bytes()
        with tempfile.TemporaryDirectory() as tmp:
            index.save(f"{tmp}/i")
            size = os.path.getsize(f"{tmp}/i")
        emit(what="build", build_s=build, index_bytes=size, peak_rss_bytes=rss)

        def at(ef):
            index.expansion_search = max(ef, K)
            qps, labels = timed_qps(lambda: index.search(queries, K, threads=1).keys, len(queries))
            return qps, recall(labels, truth)
    else:
        sys.exit(f"unknown system {system}")
    serve(at)


def example_binary(name: str) -> str:
    """Builds examples/NAME.rs (release) and returns the executable's path, wherever
    CARGO_TARGET_DIR puts it."""
    out = subprocess.run(
        ["cargo", "build", "--release", "--example", name, "--message-format=json"],
        cwd=ROOT, check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg.get("executable") and \
                msg["target"]["name"] == name:
            return msg["executable"]
    sys.exit(f"cargo did not report the {name} executable")


class Child:
    """One system's worker process: builds its index when started, then answers `ef N`
    requests until `quit` (see `serve`)."""

    def __init__(self, system, d: Path, m, efc, vjson_exe):
        meta = json.loads((d / "meta.json").read_text())
        if system in ("vjson", "vjson-f32"):
            quant = "none" if system == "vjson-f32" else "int8"
            cmd = [vjson_exe, "--data", str(d), "--dim", str(meta["dim"]), "--metric",
                   meta["metric"], "--quantization", quant, "--m", str(m),
                   "--ef-construction", str(efc), "--k", str(K), "--serve", "true",
                   "--window", str(WINDOW_S)]
            env = {**os.environ, "RAYON_NUM_THREADS": str(THREADS)}
        else:
            cmd = [sys.executable, __file__, "--worker", system, "--data", str(d),
                   "--m", str(m), "--ef-construction", str(efc)]
            env = {**os.environ, "OMP_NUM_THREADS": str(THREADS)}
        self.name = f"{system} on {d.name}"
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  env=env, text=True)
        build = self.read("build")
        self.build_s = build["build_s"]
        self.index_bytes = build.get("index_bytes", build.get("snapshot_bytes"))
        self.peak_rss_bytes = build["peak_rss_bytes"]

    def read(self, what):
        for line in self.p.stdout:
            if line.startswith("{"):
                rec = json.loads(line)
                if rec.get("what") == what:
                    return rec
        sys.exit(f"{self.name} failed ({self.p.wait()})")

    def search(self, ef):
        self.p.stdin.write(f"ef {ef}\n")
        self.p.stdin.flush()
        return self.read("search")

    def finish(self):
        self.p.stdin.write("quit\n")
        self.p.stdin.flush()
        self.p.wait()


def run_dataset(systems, d: Path, efs, m, efc, vjson_exe, rounds):
    """Builds every system's index (one after the other, each in its own process), then
    measures every (system, ef) `rounds` times, interleaved, and keeps the best QPS of
    each: the machine's noise only ever slows a run down, and interleaving spreads it
    over all systems alike."""
    children = {}
    for system in systems:
        print(f"{d.name}: building {system} ...", file=sys.stderr, flush=True)
        children[system] = Child(system, d, m, efc, vjson_exe)
    best = {s: {} for s in systems}
    for r in range(rounds):
        print(f"{d.name}: search round {r + 1}/{rounds}", file=sys.stderr, flush=True)
        for ef in efs:
            order = systems[r % len(systems):] + systems[:r % len(systems)]
            for system in order:
                if system == "faiss-flat" and ef != efs[0]:
                    continue
                rec = children[system].search(ef if system != "faiss-flat" else 0)
                key = rec["ef"]
                if key not in best[system] or rec["qps"] > best[system][key]["qps"]:
                    best[system][key] = rec
    out = {}
    for system, c in children.items():
        c.finish()
        out[system] = {"build_s": c.build_s, "index_bytes": c.index_bytes,
                       "peak_rss_bytes": c.peak_rss_bytes,
                       "search": [best[system][k] for k in sorted(best[system])]}
    return out


# ---------------------------------------------------------------------------------------
# Reports

def best_qps(rows, floor=0.95):
    ok = [r["qps"] for r in rows if r["recall"] >= floor]
    return max(ok) if ok else None


def markdown(results, when, rounds):
    lines = [
        f"Run: {when}, `python3 benches/peers/ann.py` (2 build threads; searches one query at a "
        f"time on one thread, best of {rounds} interleaved rounds; k = 10; hnswlib / usearch "
        "M = 16, faiss HNSW32 M = 32, "
        "ef_construction 200).",
        "",
        "| dataset | system | build (s) | peak RSS (MiB) | index bytes / vector | best QPS at recall ≥ 0.95 | QPS / recall per ef |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for ds, per in results.items():
        n = per["_n"]
        for sysname in SYSTEMS:
            r = per.get(sysname)
            if not r:
                continue
            curve = ", ".join(
                (f"ef {s['ef']}: " if s["ef"] else "") + f"{s['qps']:.0f} / {s['recall']:.3f}"
                for s in r["search"])
            best = best_qps(r["search"])
            lines.append(
                f"| {ds} | {sysname} | {r['build_s']:.2f} | {r['peak_rss_bytes'] / 2**20:.0f} | "
                f"{r['index_bytes'] / n:.0f} | {best:.0f} | {curve} |" if best else
                f"| {ds} | {sysname} | {r['build_s']:.2f} | {r['peak_rss_bytes'] / 2**20:.0f} | "
                f"{r['index_bytes'] / n:.0f} | – | {curve} |")
    lines += ["", "| dataset | vjson / hnswlib QPS at recall ≥ 0.95 | vjson / hnswlib build time |",
              "|---|---:|---:|"]
    for ds, per in results.items():
        v, h = per.get("vjson"), per.get("hnswlib")
        if not (v and h):
            continue
        bv, bh = best_qps(v["search"]), best_qps(h["search"])
        q = f"{bv / bh:.2f}×" if bv and bh else "–"
        lines.append(f"| {ds} | {q} | {v['build_s'] / h['build_s']:.2f}× |")
    return "\n".join(lines)


def plot(results, path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(5.5 * len(results), 4.2), squeeze=False)
    for ax, (ds, per) in zip(axes[0], results.items()):
        for sysname in SYSTEMS:
            r = per.get(sysname)
            if not r:
                continue
            xs = [s["recall"] for s in r["search"]]
            ys = [s["qps"] for s in r["search"]]
            style = "*" if sysname == "faiss-flat" else "o-"
            ax.plot(xs, ys, style, label=sysname, lw=2.2 if sysname == "vjson" else 1.2)
        ax.set_title(f"{ds} ({per['_n']:,} x {per['_dim']})")
        ax.set_xlabel("recall@10")
        ax.set_ylabel("queries / s (1 thread)")
        ax.set_yscale("log")
        ax.axvline(0.95, color="grey", lw=0.6, ls=":")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def replace_between(path: Path, tag: str, body: str):
    text = path.read_text()
    start, end = f"<!-- {tag}:start -->", f"<!-- {tag}:end -->"
    if start in text:
        a, b = text.index(start) + len(start), text.index(end)
        text = text[:a] + "\n" + body + "\n" + text[b:]
    else:
        text += f"\n{start}\n{body}\n{end}\n"
    path.write_text(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--datasets", default="rustdocs,uniform,clustered")
    ap.add_argument("--systems", default=",".join(SYSTEMS))
    ap.add_argument("--rustdocs", default=os.environ.get("VJSON_CORPUS"))
    ap.add_argument("--quick", action="store_true", help="generated sets 10x smaller")
    ap.add_argument("--ef", default="10,20,40,60,80,120,160,240,320,480,640,960")
    ap.add_argument("--rounds", type=int, default=3,
                    help="measurements of each (system, ef), interleaved; the best counts")
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--ef-construction", type=int, default=200)
    ap.add_argument("--out", default=None, help="results directory")
    ap.add_argument("--markdown", default=None, help="file whose ann-bench table to replace")
    ap.add_argument("--plot", default=None, help="recall-QPS chart to write (PNG)")
    a = ap.parse_args()
    efs = [int(x) for x in a.ef.split(",")]
    ensure_venv()
    if a.worker:
        worker(a.worker, Path(a.data), a.m, a.ef_construction)
        return
    out = Path(a.out) if a.out else target_dir() / "ann-bench"
    sets = make_datasets(a.datasets.split(","), a.quick, a.rustdocs, out / "data")
    systems = a.systems.split(",")
    exe = example_binary("bench_hnsw") if any(s.startswith("vjson") for s in systems) else None
    results = {}
    for name, d in sets:
        meta = json.loads((d / "meta.json").read_text())
        per = {"_n": meta["n"], "_dim": meta["dim"]}
        per.update(run_dataset(systems, d, efs, a.m, a.ef_construction, exe, a.rounds))
        results[name] = per
    when = time.strftime("%Y-%m-%d")
    (out / "results.json").write_text(json.dumps(results, indent=1))
    table = markdown(results, when, a.rounds)
    print(table)
    if a.markdown:
        replace_between(Path(a.markdown), "ann-bench", table)
    if a.plot:
        plot(results, Path(a.plot))
        print(f"wrote {a.plot}", file=sys.stderr)


if __name__ == "__main__":
    main()
