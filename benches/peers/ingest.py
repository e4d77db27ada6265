#!/usr/bin/env python3
"""Side-by-side ingest benchmark: vjson's `insert_batch` (vectors alone; with text and
metadata in memory; with text and metadata durably on disk) against hnswlib's `add_items`
of the same vectors.

    python3 benches/peers/ingest.py [--rustdocs DIR] [--rounds 3] [--quick]
        [--markdown BENCHMARKS.md]

Datasets: `rustdocs` (19,132 x 384 MiniLM embeddings with their titles and texts; from
--rustdocs, else $VJSON_CORPUS, else skipped), and two sets of 10,000 x 768 vectors:
`real-like 768` (a 100-component Gaussian mixture, as ann.py's clustered set) and
`random 768` (uniform in [-1, 1], HNSW's worst case). The 768-dimensional documents get
the rustdocs texts (line i mod 19,132) when the corpus is there, else the vectors only.
Every system builds with 2 threads and M = 16, ef_construction = 200 (vjson's default;
set explicitly). Each measurement is repeated `--rounds` times, the systems
interleaved, and the fastest round counts. Reported: seconds, and each vjson mode's ratio
to hnswlib's `add_items`. With --markdown the table between the `ingest-bench` markers of
that file is replaced.

Reuses ann.py's virtualenv (benches/peers/.venv) and data directory
($CARGO_TARGET_DIR/ann-bench).
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
sys.path.insert(0, str(HERE))
import ann  # noqa: E402  (same directory)

THREADS = 2
MODES = ["hnswlib", "vjson vectors", "vjson text+meta", "vjson text+meta, disk"]


def make_sets(rustdocs, quick, root: Path):
    import numpy as np

    sets = []
    if rustdocs:
        d = root / "rustdocs"
        if not (d / "meta.json").exists():
            src = Path(rustdocs)
            docs = np.fromfile(src / "docs.f32", dtype="<f4").reshape(-1, 384)
            queries = np.fromfile(src / "queries.f32", dtype="<f4").reshape(-1, 384)
            ann.write_dataset(d, docs, queries, "cosine")
        sets.append(("rustdocs", d, Path(rustdocs) / "docs.jsonl"))
    else:
        print("rustdocs: no --rustdocs DIR and no $VJSON_CORPUS; skipped", file=sys.stderr)
    texts = Path(rustdocs) / "docs.jsonl" if rustdocs else None
    n = 1_000 if quick else 10_000
    for name, seed in (("real-like 768", 768), ("random 768", 769)):
        d = root / f"ingest-{name.split()[0]}-{n}"
        if not (d / "meta.json").exists():
            rng = np.random.default_rng(seed)
            if name.startswith("real"):
                centers = rng.normal(0, 1, (100, 768)).astype(np.float32)
                spread = rng.uniform(0.2, 0.6, 100).astype(np.float32)
                c = rng.integers(0, 100, n)
                docs = centers[c] + rng.normal(0, 1, (n, 768)).astype(np.float32) * spread[c, None]
            else:
                docs = rng.uniform(-1, 1, (n, 768))
            d.mkdir(parents=True, exist_ok=True)
            docs.astype("<f4").tofile(d / "docs.f32")
            (d / "meta.json").write_text(json.dumps({"n": n, "dim": 768, "metric": "l2"}))
        sets.append((name, d, texts))
    return sets


def hnswlib_worker(d: Path):
    import hnswlib
    import numpy as np

    meta = json.loads((d / "meta.json").read_text())
    docs = np.fromfile(d / "docs.f32", dtype="<f4").reshape(-1, meta["dim"])
    if meta["metric"] == "cosine":
        docs = docs / np.linalg.norm(docs, axis=1, keepdims=True)
    index = hnswlib.Index(space="l2" if meta["metric"] == "l2" else "ip", dim=meta["dim"])
    index.init_index(max_elements=len(docs), M=16, ef_construction=200, random_seed=100)
    t = time.perf_counter()
    index.add_items(docs, np.arange(len(docs)), num_threads=THREADS)
    print(json.dumps({"what": "ingest", "insert_s": time.perf_counter() - t}), flush=True)


def measure(mode, d: Path, texts, exe, scratch: Path):
    meta = json.loads((d / "meta.json").read_text())
    if mode == "hnswlib":
        cmd = [sys.executable, __file__, "--worker", str(d)]
        env = {**os.environ, "OMP_NUM_THREADS": str(THREADS)}
    else:
        cmd = [exe, "--data", str(d), "--dim", str(meta["dim"]), "--metric", meta["metric"],
               "--ef-construction", "200"]
        if "text" in mode and texts:
            cmd += ["--texts", str(texts)]
        if "disk" in mode:
            cmd += ["--disk", tempfile.mkdtemp(dir=scratch)]
        env = {**os.environ, "RAYON_NUM_THREADS": str(THREADS)}
    p = subprocess.run(cmd, stdout=subprocess.PIPE, env=env, text=True)
    if p.returncode != 0:
        sys.exit(f"{mode} on {d.name} failed ({p.returncode})")
    rec = next(json.loads(l) for l in p.stdout.splitlines() if l.startswith("{"))
    return rec["insert_s"]


def markdown(results, when, rounds):
    lines = [
        f"Run: {when}, `python3 benches/peers/ingest.py` (2 threads; fastest of {rounds} "
        "interleaved rounds; vjson's durable mode fsyncs the batch before returning).",
        "",
        "| dataset | " + " | ".join(f"{m} (s)" for m in MODES) +
        " | vectors / hnswlib | text+meta / hnswlib | text+meta, disk / hnswlib |",
        "|---|" + "---:|" * (len(MODES) + 3),
    ]
    for ds, r in results.items():
        h = r["hnswlib"]
        lines.append(f"| {ds} | " + " | ".join(f"{r[m]:.2f}" for m in MODES) + " | " +
                     " | ".join(f"{r[m] / h:.2f}×" for m in MODES[1:]) + " |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--rustdocs", default=os.environ.get("VJSON_CORPUS"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="768-dimensional sets 10x smaller")
    ap.add_argument("--markdown", default=None)
    a = ap.parse_args()
    ann.ensure_venv()
    if a.worker:
        hnswlib_worker(Path(a.worker))
        return
    out = ann.target_dir() / "ann-bench"
    sets = make_sets(a.rustdocs, a.quick, out / "data")
    exe = ann.example_binary("bench_ingest")
    results = {}
    with tempfile.TemporaryDirectory(dir=out) as scratch:
        for name, d, texts in sets:
            best = {}
            for r in range(a.rounds):
                print(f"{name}: round {r + 1}/{a.rounds}", file=sys.stderr, flush=True)
                order = MODES[r % len(MODES):] + MODES[:r % len(MODES)]
                for mode in order:
                    s = measure(mode, d, texts, exe, Path(scratch))
                    best[mode] = min(s, best.get(mode, s))
            results[name] = best
    (out / "ingest.json").write_text(json.dumps(results, indent=1))
    table = markdown(results, time.strftime("%Y-%m-%d"), a.rounds)
    print(table)
    if a.markdown:
        ann.replace_between(Path(a.markdown), "ingest-bench", table)


if __name__ == "__main__":
    main()
