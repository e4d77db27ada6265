#!/usr/bin/env python3
"""Side-by-side HNSW benchmark: python `hnswlib` against vjson's own HNSW on the same vectors.

Both build an index over the dataset's document vectors with M=16, ef_construction=200
(inner product: the vectors are unit length, so it is cosine), then search every query
for its top 10 at several ef values. Reported: build time, QPS (one query at a time on one
thread) and recall@10 against exact search. vjson's figures come from
`cargo run --release --example bench_hnsw` in the same run; the last table gives
vjson / hnswlib ratios.

    python3 benches/peers/hnswlib_compare.py [--data DIR] [--ef 10,20,40,80,160,320]

DIR defaults to $VJSON_CORPUS, else tests/data/sample. On first use the script creates
benches/peers/.venv and installs hnswlib and numpy into it (see README.md), then re-runs
itself there.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
VENV = HERE / ".venv"
VENV_PY = VENV / "bin" / "python"


def ensure_venv():
    """Re-executes this script under benches/peers/.venv, creating it when missing."""
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    if not VENV_PY.exists():
        print(f"creating {VENV} and installing hnswlib, numpy", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run(
            [str(VENV_PY), "-m", "pip", "install", "--quiet", "hnswlib", "numpy"], check=True
        )
    os.execv(str(VENV_PY), [str(VENV_PY), __file__, *sys.argv[1:]])


def load(data: Path, dim: int):
    import numpy as np

    docs = np.fromfile(data / "docs.f32", dtype="<f4").reshape(-1, dim)
    queries = np.fromfile(data / "queries.f32", dtype="<f4").reshape(-1, dim)
    return np.ascontiguousarray(docs), np.ascontiguousarray(queries)


def exact_top_k(docs, queries, k):
    import numpy as np

    truth = []
    for start in range(0, len(queries), 256):
        scores = queries[start : start + 256] @ docs.T
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        truth.extend(set(row) for row in part.tolist())
    return truth


def recall(found, truth, k):
    return sum(len(truth[i] & set(row)) for i, row in enumerate(found)) / (len(truth) * k)


def run_hnswlib(docs, queries, truth, efs, m, efc, k, threads):
    import hnswlib
    import numpy as np

    index = hnswlib.Index(space="ip", dim=docs.shape[1])
    index.init_index(max_elements=len(docs), M=m, ef_construction=efc, random_seed=100)
    t = time.perf_counter()
    index.add_items(docs, np.arange(len(docs)), num_threads=threads)
    build_s = time.perf_counter() - t
    rows = []
    for ef in efs:
        index.set_ef(max(ef, k))
        index.knn_query(queries, k=k, num_threads=1)  # warm-up
        rounds, t = 0, time.perf_counter()
        while rounds == 0 or time.perf_counter() - t < 1.0:
            labels, _ = index.knn_query(queries, k=k, num_threads=1)
            rounds += 1
        qps = rounds * len(queries) / (time.perf_counter() - t)
        rows.append({"ef": ef, "qps": qps, "recall": recall(labels.tolist(), truth, k)})
    return build_s, rows


def run_vjson(data, efs, m, efc, k):
    cmd = [
        "cargo", "run", "--quiet", "--release", "--example", "bench_hnsw", "--",
        "--data", str(data), "--m", str(m), "--ef-construction", str(efc),
        "--ef", ",".join(map(str, efs)), "--k", str(k),
    ]
    out = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    build_s, threads, rows = None, None, []
    for line in out.splitlines():
        rec = json.loads(line)
        if rec["what"] == "build":
            build_s, threads = rec["build_s"], rec["threads"]
        else:
            rows.append(rec)
    return build_s, threads, rows


def main():
    ensure_venv()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default = os.environ.get("VJSON_CORPUS") or str(ROOT / "tests" / "data" / "sample")
    ap.add_argument("--data", default=default, help="dataset directory (default: %(default)s)")
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--ef", default="10,20,40,80,160,320")
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--ef-construction", type=int, default=200)
    ap.add_argument("--k", type=int, default=10)
    a = ap.parse_args()
    data = Path(a.data)
    efs = [int(x) for x in a.ef.split(",")]

    import hnswlib  # noqa: F401  (fail early)

    docs, queries = load(data, a.dim)
    print(f"data: {data} ({len(docs)} docs, {len(queries)} queries, {a.dim}-d); "
          f"M={a.m}, ef_construction={a.ef_construction}, k={a.k}")
    truth = exact_top_k(docs, queries, a.k)

    print("running vjson (cargo run --release --example bench_hnsw) ...", flush=True)
    v_build, threads, v_rows = run_vjson(data, efs, a.m, a.ef_construction, a.k)
    print(f"running hnswlib {getattr(hnswlib, '__version__', '')} ...", flush=True)
    h_build, h_rows = run_hnswlib(docs, queries, truth, efs, a.m, a.ef_construction, a.k, threads)

    print()
    print(f"build ({threads} threads): hnswlib {h_build:.2f} s, vjson {v_build:.2f} s, "
          f"vjson/hnswlib time {v_build / h_build:.2f}")
    print()
    print("search, one query at a time, 1 thread:")
    print(f"{'ef':>5} | {'hnswlib QPS':>11} {'recall':>7} | {'vjson QPS':>10} {'recall':>7} "
          f"| {'QPS ratio':>9} {'recall diff':>11}")
    print("-" * 75)
    for h, v in zip(h_rows, v_rows):
        assert h["ef"] == v["ef"]
        print(f"{h['ef']:>5} | {h['qps']:>11.0f} {h['recall']:>7.4f} | {v['qps']:>10.0f} "
              f"{v['recall']:>7.4f} | {v['qps'] / h['qps']:>9.2f} {v['recall'] - h['recall']:>+11.4f}")


if __name__ == "__main__":
    main()
