#!/usr/bin/env python3
"""Fan-out cost of vjson.distributed on this machine: one database in-process against
ShardedVectorDB with 1, 2 and 4 shards on a local Ray cluster, same documents, same
queries (the numbers docs/scale-out.md builds its model on).

    python3 benches/python/sharded.py [--rustdocs DIR] [--queries 500] [--markdown docs/scale-out.md]

For each setup: insert_batch time, then vector and hybrid queries one at a time from one
client (latency p50 / p99, QPS), and vector queries from 4 client threads (QPS). Uses the
virtualenv of bench.py (benches/python/.venv, with Ray).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench  # noqa: E402  (same directory)


def percentiles(lat: list[float]) -> tuple[float, float]:
    s = sorted(lat)
    return s[len(s) // 2] * 1e3, s[min(len(s) - 1, int(len(s) * 0.99))] * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rustdocs", default=os.environ.get("VJSON_CORPUS"))
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--shards", default="1,2,4")
    ap.add_argument("--markdown", default=None, help="file whose fanout-bench table to replace")
    a = ap.parse_args()
    bench.ensure_venv()

    import numpy as np
    import ray

    import vjson
    from vjson.distributed import ShardedVectorDB

    corpus = Path(a.rustdocs) if a.rustdocs else bench.SAMPLE
    docs, X, queries, Q, _ = bench.load(corpus)
    nq = min(a.queries, len(queries))
    ids = [d["id"] for d in docs]
    texts = [f'{d["title"]}: {d["text"]}' for d in docs]
    metas = [{"kind": d["kind"]} for d in docs]
    n, dim = X.shape
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=200 * 1024 * 1024,
             log_to_driver=False, configure_logging=False)
    work = Path(tempfile.mkdtemp(prefix="vjson-fanout-"))
    rows = ["| setup | insert_batch (s) | vector p50 / p99 (ms) | vector QPS, 1 client | "
            "vector QPS, 4 clients | hybrid p50 / p99 (ms) | hybrid QPS |",
            "|---|---|---|---|---|---|---|"]

    def measure(name: str, make) -> None:
        t = time.perf_counter()
        db = make()
        db.insert_batch(ids=ids, vectors=X, metadatas=metas, texts=texts)
        db.flush()
        ins = time.perf_counter() - t
        db.search(Q[0], k=10)  # warm
        out = [name, f"{ins:.2f}"]
        for kind in ["vector", "hybrid"]:
            lat = []
            t0 = time.perf_counter()
            for i in range(nq):
                t = time.perf_counter()
                if kind == "vector":
                    db.search(Q[i], k=10)
                else:
                    db.hybrid_search(query_vector=Q[i], query_text=queries[i]["text"], k=10)
                lat.append(time.perf_counter() - t)
            qps = nq / (time.perf_counter() - t0)
            p50, p99 = percentiles(lat)
            out.append(f"{p50:.2f} / {p99:.2f}")
            out.append(f"{qps:,.0f}")
            if kind == "vector":
                with ThreadPoolExecutor(4) as pool:
                    t0 = time.perf_counter()
                    list(pool.map(lambda i: db.search(Q[i], k=10), range(nq)))
                    out.append(f"{nq / (time.perf_counter() - t0):,.0f}")
        rows.append("| " + " | ".join(out) + " |")
        print(rows[-1], file=sys.stderr)
        db.close()

    measure("one database, in-process", lambda: vjson.PyVectorDB(work / "single", dimension=dim))
    for shards in [int(s) for s in a.shards.split(",")]:
        measure(f"ShardedVectorDB, {shards} shard{'s' if shards > 1 else ''} (Ray actors)",
                lambda: ShardedVectorDB(work / f"sharded-{shards}", dimension=dim, num_shards=shards))
    ray.shutdown()
    shutil.rmtree(work, ignore_errors=True)
    body = (f"Measured {time.strftime('%Y-%m-%d')} by `python3 benches/python/sharded.py --rustdocs DIR "
            f"--markdown docs/scale-out.md` on this 2-core machine: {n:,} documents ({dim}-d, with text), "
            f"{nq} queries, k = 10, default settings; the client is one Python process on the same machine.\n\n"
            + "\n".join(rows))
    print(body)
    if a.markdown:
        sys.path.insert(0, str(HERE.parent / "peers"))
        from ann import replace_between

        replace_between(Path(a.markdown), "fanout-bench", body)


if __name__ == "__main__":
    main()
