"""The Python API as the original design promised it, used verbatim."""

from __future__ import annotations

import numpy as np

import vjson


def test_seed_example_insert_and_search(sample, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    embedding = np.zeros(768, dtype=np.float32)
    embedding[0] = 1.0
    query_vector = embedding

    db = vjson.PyVectorDB("./db", dimension=768, enable_fulltext=True)
    db.insert(id="doc1", vector=embedding, text="Machine learning tutorial for beginners",
              metadata={"category": "AI", "year": 2024})
    results = db.search(query_vector, k=10)

    assert [r["id"] for r in results] == ["doc1"]
    assert results[0]["vector_score"] == 1.0
    assert results[0]["metadata"] == {"category": "AI", "year": 2024}


def test_seed_example_insert_batch(sample, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    items = [(id_, [float(x) for x in vec], meta, text) for id_, vec, meta, text in sample.items(300)]

    db = vjson.PyVectorDB("./db", dimension=384, enable_fulltext=True)
    db.insert_batch(items)   # list of (id, vector, metadata, text)

    assert len(db) == 300
    assert db.get(items[7][0])["text"] == items[7][3]


def test_seed_example_hybrid_search(sample, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    db = vjson.PyVectorDB("./db", dimension=384, enable_fulltext=True)
    db.insert_batch(sample.items())
    q = sample.query_vectors[1]
    query_text = sample.queries[1]["text"]

    results = db.hybrid_search(query_vector=q, query_text=query_text, k=10, fusion="rrf")
    for r in results:
        r["id"], r["vector_score"], r["text_score"], r["combined_score"], r.get("text"), r["metadata"]

    assert len(results) == 10
    assert sample.relevant[1] in [r["id"] for r in results]
    scores = [r["combined_score"] for r in results]
    assert scores == sorted(scores, reverse=True)
    # RRF: each hit scores the sum of 1 / (60 + rank) over the sides that found it (each
    # side contributing its DEFAULT_CANDIDATES best).
    from vjson._vjson import DEFAULT_CANDIDATES

    vec = [h["id"] for h in db.search(q, k=DEFAULT_CANDIDATES)]
    txt = [h["id"] for h in db.text_search(query_text, k=DEFAULT_CANDIDATES)]
    for r in results:
        expect = sum(1 / (60 + side.index(r["id"]) + 1) for side in (vec, txt) if r["id"] in side)
        assert abs(r["combined_score"] - expect) < 1e-6


def test_design_positional_insert_form(tmp_path):
    db = vjson.PyVectorDB(str(tmp_path / "db"), dimension=3, enable_fulltext=True)
    db.insert("doc1", [1.0, 0.0, 0.0], {"category": "AI"})   # id, vector, metadata, text=None
    db.insert("doc2", [0.0, 1.0, 0.0], {"category": "DB"}, "vector databases")
    assert db.get("doc1")["metadata"] == {"category": "AI"}
    assert db.get("doc1")["text"] is None
    assert db.text_search("databases")[0]["id"] == "doc2"
    assert vjson.VectorDB is vjson.PyVectorDB
