"""Typical use of the package, type-checked with `mypy --strict` by scripts/python.sh
(a usage the stubs reject fails the check). Not collected by pytest."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

import vjson
from vjson.types import Hit


def usage(path: str, X: npt.NDArray[np.float32], q: npt.NDArray[np.float32]) -> list[str]:
    with vjson.PyVectorDB(path, dimension=X.shape[1], enable_fulltext=True) as db:
        db.insert("doc1", X[0], {"category": "AI"})
        db.insert(id="doc2", vector=[0.1] * X.shape[1], text="Machine learning", metadata={"year": 2024})
        db.insert_batch([("a", X[1], {"k": 1}, "text"), ("b", X[2])])
        db.insert_batch(ids=["c", "d"], vectors=X[3:5], metadatas=[{"k": 2}, None], texts=["x", None])
        hits: list[Hit] = db.hybrid_search(query_vector=q, query_text="machine learning", k=10, fusion="rrf")
        hits += db.search(q, k=5, filter={"year": {"$gte": 2020}}, ef_search=100)
        ids, scores = db.search_batch(X[:2], k=3)
        doc = db.get("doc1")
        dim: int = db.dimension
        n: int = len(db)
        ok: bool = "doc1" in db
        snapshot: bytes = db.export_snapshot()
        copy = vjson.VectorDB.import_snapshot(snapshot)
        del dim, n, ok, copy, ids, doc
        try:
            db.delete("missing")
        except vjson.NotFoundError as e:
            code: str = e.code
            del code
        return [h["id"] for h in hits if h["vector_score"] is not None] + [str(float(scores[0][0]))]
