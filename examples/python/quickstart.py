#!/usr/bin/env python3
"""vjson from Python on the bundled Rust-docs sample (2,000 documents, 500 queries with
MiniLM embeddings): build an on-disk database, search it three ways, filter, reopen.

    ./scripts/python.sh --build-only && bindings/python/.venv/bin/python examples/python/quickstart.py
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np

import vjson

SAMPLE = Path(__file__).resolve().parents[2] / "tests" / "data" / "sample"


def main() -> None:
    docs = [json.loads(line) for line in (SAMPLE / "docs.jsonl").open()]
    queries = [json.loads(line) for line in (SAMPLE / "queries.jsonl").open()]
    relevant = [json.loads(line)["docid"] for line in (SAMPLE / "qrels.jsonl").open()]
    X = np.fromfile(SAMPLE / "docs.f32", dtype="<f4").reshape(len(docs), -1)
    Q = np.fromfile(SAMPLE / "queries.f32", dtype="<f4").reshape(len(queries), -1)

    path = Path(tempfile.mkdtemp()) / "db"
    t = time.perf_counter()
    with vjson.PyVectorDB(path, dimension=X.shape[1], enable_fulltext=True) as db:
        db.insert_batch(
            ids=[d["id"] for d in docs],
            vectors=X,
            metadatas=[{"kind": d["kind"]} for d in docs],
            texts=[f'{d["title"]}: {d["text"]}' for d in docs],
        )
        print(f"indexed {len(db)} documents into {path} in {time.perf_counter() - t:.2f} s")

    db = vjson.PyVectorDB(path)  # reopen: the stored options
    i = 5
    print(f'\nquery: "{queries[i]["text"]}"  (relevant: {relevant[i]})')
    for name, hits in [
        ("vector", db.search(Q[i], k=3)),
        ("text", db.text_search(queries[i]["text"], k=3)),
        ("hybrid", db.hybrid_search(query_vector=Q[i], query_text=queries[i]["text"], k=3)),
        ("hybrid, books only", db.hybrid_search(query_vector=Q[i], query_text=queries[i]["text"], k=3,
                                               filter={"kind": "book"})),
    ]:
        print(f"  {name}:")
        for r in hits:
            mark = "  <== relevant" if r["id"] == relevant[i] else ""
            print(f'    {r["combined_score"]:.4f}  {r["id"]}{mark}')

    found = {"vector": 0, "hybrid": 0}
    ids, _ = db.search_batch(Q, k=10)
    found["vector"] = sum(rel in row for rel, row in zip(relevant, ids.tolist()))
    for qi, q in enumerate(queries):
        hits = db.hybrid_search(query_vector=Q[qi], query_text=q["text"], k=10)
        found["hybrid"] += relevant[qi] in [h["id"] for h in hits]
    print(f"\nrecall@10 over {len(queries)} queries: vector {found['vector'] / len(queries):.3f}, "
          f"hybrid {found['hybrid'] / len(queries):.3f}")
    db.close()


if __name__ == "__main__":
    main()
