"""Every method of PyVectorDB, in memory and on disk."""

from __future__ import annotations

import numpy as np
import pytest

import vjson
from conftest import assert_same_ranking


def unit(i: int, d: int = 4) -> np.ndarray:
    v = np.full(d, 0.05, dtype=np.float32)
    v[i % d] = 1.0
    return v


@pytest.fixture(params=["memory", "disk"])
def db(request, tmp_path):
    path = None if request.param == "memory" else str(tmp_path / "db")
    d = vjson.PyVectorDB(path, dimension=4)
    yield d
    d.close()


def test_in_memory_forms(tmp_path):
    for path in (None, ":memory:"):
        d = vjson.PyVectorDB(path, dimension=4)
        assert d.path is None and d.dimension == 4 and d.metric == "cosine"
        assert "disk" not in d.stats()
    with pytest.raises(vjson.InvalidOptionsError):
        vjson.PyVectorDB(None)


def test_crud(db):
    db.insert("a", unit(0), {"year": 2020, "tags": ["x"]}, "ownership and borrowing")
    db.insert("b", unit(1), text="lifetimes")
    assert len(db) == 2 and "a" in db and "zz" not in db and 5 not in db
    got = db.get("a")
    assert got["id"] == "a" and got["text"] == "ownership and borrowing"
    assert got["metadata"] == {"year": 2020, "tags": ["x"]}
    assert got["vector"].dtype == np.float32 and got["vector"].shape == (4,)
    # Cosine stores unit vectors.
    assert abs(float(np.linalg.norm(got["vector"])) - 1.0) < 1e-6
    assert db.get("nope") is None
    db.upsert("a", unit(2), {"year": 2021}, "replaced text")
    assert db.get("a")["metadata"] == {"year": 2021} and len(db) == 2
    db.upsert("c", unit(3))
    assert len(db) == 3
    db.delete("b")
    assert "b" not in db and len(db) == 2
    with pytest.raises(KeyError):
        db.delete("b")


def test_batches_all_forms(db):
    db.insert_batch([("t1", unit(0)), ("t2", unit(1), {"k": 1}), ("t3", unit(2), None, "three"),
                     {"id": "d1", "vector": unit(3), "text": "dict form", "metadata": {"k": 2}}])
    db.insert_batch(ids=["c1", "c2"], vectors=np.stack([unit(0), unit(1)]),
                    metadatas=[{"k": 3}, None], texts=[None, "column text"])
    assert len(db) == 6
    assert db.get("d1")["text"] == "dict form" and db.get("c2")["text"] == "column text"
    assert db.get("c1")["metadata"] == {"k": 3} and db.get("c2")["metadata"] is None
    db.upsert_batch(ids=["c1", "new"], vectors=np.stack([unit(3), unit(3)]), texts=["x", "y"])
    assert len(db) == 7 and db.get("c1")["text"] == "x"
    db.upsert_batch([("t1", unit(3), {"k": 9})])
    assert db.get("t1")["metadata"] == {"k": 9}


def test_titles_in_every_form_are_stored_and_searched(db):
    db.insert("a", unit(0), text="an iterator adapter chain", title="Iterator")
    db.insert("b", unit(1), text="the iterator trait, and an iterator over iterator adapters")
    db.insert_batch([("t1", unit(2), None, None, "Closures"),
                     {"id": "d1", "vector": unit(3), "text": "closures capture", "title": "Environment"}])
    db.insert_batch(ids=["c1"], vectors=np.stack([unit(0)]), texts=["text"], titles=["Column title"])
    assert db.get("a")["title"] == "Iterator" and db.get("b")["title"] is None
    assert db.get("t1")["title"] == "Closures" and db.get("d1")["title"] == "Environment"
    assert db.get("c1")["title"] == "Column title"
    # The title's own field lifts "a" above a text that repeats the word.
    hits = db.hybrid_search(query_text="iterator", k=5)
    assert [h["id"] for h in hits] == ["a", "b"] and hits[0]["title"] == "Iterator"
    # A title alone makes a document findable.
    assert "t1" in [h["id"] for h in db.hybrid_search(query_text="closures", k=5)]
    with pytest.raises(vjson.InvalidArgumentError):
        db.insert_batch(ids=["c2"], vectors=np.stack([unit(0)]), titles=[3])
    with pytest.raises(vjson.InvalidArgumentError):
        db.insert_batch([("t9", unit(0), None, None, None, "extra")])


def test_title_boost_is_an_option(tmp_path):
    flat = vjson.PyVectorDB(None, dimension=4, title_boost=0.0)
    flat.insert("a", unit(0), text="an iterator adapter chain", title="Iterator")
    flat.insert("b", unit(1), text="the iterator trait, and an iterator over iterator adapters")
    assert [h["id"] for h in flat.hybrid_search(query_text="iterator", k=5)] == ["b", "a"]
    with pytest.raises(vjson.InvalidOptionsError):
        vjson.PyVectorDB(None, dimension=4, title_boost=-1.0)


def test_search_text_hybrid_and_batch(db):
    db.insert_batch([(f"d{i}", unit(i), {"i": i}, f"document {i} about {['rust', 'python'][i % 2]}")
                     for i in range(40)])
    hits = db.search(unit(1), k=5)
    assert len(hits) == 5
    assert set(hits[0]) == {"id", "combined_score", "vector_score", "text_score", "text", "title", "metadata"}
    assert all(h["text_score"] is None and h["combined_score"] == h["vector_score"] for h in hits)
    assert int(hits[0]["id"][1:]) % 4 == 1
    t = db.text_search("python", k=50)
    assert len(t) == 20 and all(int(h["id"][1:]) % 2 == 1 for h in t)
    assert all(h["vector_score"] is None for h in t)
    for fusion in [None, "rrf", "rrf:10", "weighted:0.7,0.3", "average", "dbsf", "max", "min"]:
        h = db.hybrid_search(query_vector=unit(1), query_text="python", k=10, fusion=fusion)
        assert len(h) == 10
        s = [x["combined_score"] for x in h]
        assert s == sorted(s, reverse=True), fusion
    # Text-only and vector-only through hybrid_search.
    assert [h["id"] for h in db.hybrid_search(query_text="python", k=5)] == [h["id"] for h in t[:5]]
    assert [h["id"] for h in db.hybrid_search(query_vector=unit(1), k=5)] == [h["id"] for h in hits]
    with pytest.raises(vjson.InvalidQueryError):
        db.hybrid_search(k=5)
    ids, scores = db.search_batch(np.stack([unit(0), unit(1), unit(2)]), k=3)
    assert ids.shape == (3, 3) and scores.shape == (3, 3) and scores.dtype == np.float32
    assert ids.dtype == object
    for r in range(3):
        single = db.search(unit(r), k=3)
        assert list(ids[r]) == [h["id"] for h in single]
        assert np.allclose(scores[r], [h["combined_score"] for h in single])
    # Fewer hits than k: padded with None / NaN.
    ids, scores = db.search_batch(np.stack([unit(0)]), k=45, filter={"i": {"$lt": 3}})
    assert all(x is not None for x in ids[0][:3]) and all(x is None for x in ids[0][3:])
    assert not np.isnan(scores[0][:3]).any() and np.isnan(scores[0][3:]).all()


FILTERS = [
    ({"year": 2020}, lambda m: m["year"] == 2020),
    ({"year": {"$eq": 2021}}, lambda m: m["year"] == 2021),
    ({"year": {"$ne": 2021}}, lambda m: m["year"] != 2021),
    ({"year": {"$gt": 2020}}, lambda m: m["year"] > 2020),
    ({"year": {"$gte": 2021}}, lambda m: m["year"] >= 2021),
    ({"year": {"$lt": 2021}}, lambda m: m["year"] < 2021),
    ({"year": {"$lte": 2020}}, lambda m: m["year"] <= 2020),
    ({"lang": {"$in": ["rust", "go"]}}, lambda m: m["lang"] in ("rust", "go")),
    ({"lang": {"$nin": ["rust", "go"]}}, lambda m: m["lang"] not in ("rust", "go")),
    ({"opt": {"$exists": True}}, lambda m: "opt" in m),
    ({"opt": {"$exists": False}}, lambda m: "opt" not in m),
    ({"tags": {"$contains": "fast"}}, lambda m: "fast" in m["tags"]),
    ({"lang": {"$prefix": "py"}}, lambda m: m["lang"].startswith("py")),
    ({"$and": [{"year": {"$gte": 2020}}, {"lang": "rust"}]}, lambda m: m["year"] >= 2020 and m["lang"] == "rust"),
    ({"$or": [{"year": 2019}, {"lang": "go"}]}, lambda m: m["year"] == 2019 or m["lang"] == "go"),
    ({"$not": {"lang": "rust"}}, lambda m: m["lang"] != "rust"),
    ({"author.name": "Ada"}, lambda m: m["author"]["name"] == "Ada"),
    ('{"year": {"$gt": 2019}}', lambda m: m["year"] > 2019),
]


@pytest.mark.parametrize("flt,keep", FILTERS, ids=[str(f[0]) for f in FILTERS])
def test_filters_with_every_operator(flt, keep):
    db = vjson.PyVectorDB(None, dimension=4)
    metas = []
    for i in range(60):
        m = {"year": 2019 + i % 3, "lang": ["rust", "python", "go", "pypy"][i % 4],
             "tags": ["fast"] if i % 5 == 0 else ["slow"], "author": {"name": ["Ada", "Bob"][i % 2]}}
        if i % 7 == 0:
            m["opt"] = True
        metas.append(m)
    db.insert_batch([(f"d{i}", unit(i), m, f"common words {i}") for i, m in enumerate(metas)])
    expect = {f"d{i}" for i, m in enumerate(metas) if keep(m)}
    got_v = {h["id"] for h in db.search(unit(0), k=60, filter=flt)}
    got_t = {h["id"] for h in db.text_search("common words", k=60, filter=flt)}
    got_h = {h["id"] for h in db.hybrid_search(query_vector=unit(1), query_text="common", k=60, filter=flt)}
    assert got_v == expect and got_t == expect and got_h == expect


def test_persistence_across_reopen_and_read_only(tmp_path):
    path = tmp_path / "db"
    with vjson.PyVectorDB(path, dimension=4, enable_fulltext=True) as db:
        db.insert_batch([(f"d{i}", unit(i), {"i": i}, f"text {i}") for i in range(30)])
        db.flush()
        db.delete("d3")
        before = db.hybrid_search(query_vector=unit(2), query_text="text 7", k=10)
        # Readers open beside the writer and see what it wrote.
        ro = vjson.PyVectorDB(path, read_only=True)
        assert len(ro) == 29 and ro.stats()["disk"]["read_only"] is True
        with pytest.raises(vjson.ReadOnlyError):
            ro.insert("x", unit(0))
        ro.close()
        with pytest.raises(vjson.LockedError) as e:
            vjson.PyVectorDB(path, dimension=4)
        assert "read-only" in str(e.value)
    assert not db.is_open
    with pytest.raises(vjson.ClosedError):
        len(db)
    db.close()  # twice is fine
    # Reopen without a dimension: the stored options.
    db = vjson.PyVectorDB(path)
    assert len(db) == 29 and "d3" not in db and db.dimension == 4
    assert db.hybrid_search(query_vector=unit(2), query_text="text 7", k=10) == before
    db.compact()
    assert db.stats()["deleted"] == 0
    db.close()


def test_snapshots_round_trip(db):
    db.insert_batch([(f"d{i}", unit(i), {"i": i}, f"snapshot text {i}") for i in range(25)])
    data = db.export_snapshot()
    assert isinstance(data, bytes) and data[:4] == b"VJSN"
    copy = vjson.PyVectorDB.import_snapshot(data)
    assert len(copy) == 25
    for q in range(4):
        assert copy.hybrid_search(query_vector=unit(q), query_text="text 3", k=8) == \
            db.hybrid_search(query_vector=unit(q), query_text="text 3", k=8)
    with pytest.raises(vjson.InvalidSnapshotError):
        vjson.PyVectorDB.import_snapshot(data[:-10])


def test_options_and_metrics(tmp_path):
    for metric in ["cosine", "dot", "l2"]:
        db = vjson.PyVectorDB(None, dimension=3, metric=metric, m=8, ef_construction=50, ef_search=20)
        db.insert_batch([("a", [1, 0, 0]), ("b", [0, 2, 0])])
        assert db.metric == metric
        assert db.search([0, 1, 0], k=1)[0]["id"] == "b"
    db = vjson.PyVectorDB(None, dimension=3, enable_fulltext=False)
    db.insert("a", [1, 0, 0], text="ignored")
    with pytest.raises(vjson.UnsupportedError):
        db.text_search("ignored")
    db = vjson.PyVectorDB(tmp_path / "b", dimension=3, durability="buffered")
    db.insert("a", [1, 0, 0])
    db.close()
    assert len(vjson.PyVectorDB(tmp_path / "b")) == 1
    mem = vjson.PyVectorDB(None, dimension=3)
    mem.insert("a", [1, 0, 0])
    assert repr(mem) == "PyVectorDB(':memory:', dimension=3)"


@pytest.mark.parametrize("fusion", [None, "zscore:0.3,0.7", "rrf", "rrf:10", "weighted:0.7,0.3", "average", "dbsf", "max",
                                    "min"])
def test_hybrid_is_the_fusion_of_its_two_sides(sample, fusion):
    # vjson.fuse (what vjson.distributed fuses with) on the two sides `sides` returns gives
    # hybrid_search's answer exactly: same fusion, same candidates. A side's own results are
    # its search's; under z-score (the default) each side also scores the other's.
    from vjson._vjson import DEFAULT_CANDIDATES, fuse

    db = vjson.PyVectorDB(None, dimension=384)
    db.insert_batch(sample.items(1000))
    zscore = fusion is None or fusion.startswith("zscore")
    for i in range(5):
        q, t = sample.query_vectors[i], sample.queries[i]["text"]
        (v, nv), (x, nt) = db.sides(q, t, k=10, fusion=fusion)
        vec = db.search(q, k=DEFAULT_CANDIDATES)
        txt = db.text_search(t, k=DEFAULT_CANDIDATES)
        assert [i for i, _ in v[:nv]] == [h["id"] for h in vec]
        assert [i for i, _ in x[:nt]] == [h["id"] for h in txt]
        if zscore:
            assert sorted(i for i, _ in v) == sorted(i for i, _ in x)
            # The text side's score of a vector-only candidate: a text search's, or 0.
            every = {h["id"]: h["combined_score"] for h in db.text_search(t, k=1000)}
            for id_, score in x[nt:]:
                assert score == pytest.approx(every.get(id_, 0.0), rel=1e-5, abs=1e-6)
        else:
            assert (nv, nt) == (len(v), len(x))
        fused = fuse(v, x, fusion)
        hits = db.hybrid_search(query_vector=q, query_text=t, k=10, fusion=fusion)
        assert_same_ranking([(h["id"], h["combined_score"]) for h in hits], fused[:10])


def test_metadata_values_convert_exactly():
    import types

    db = vjson.PyVectorDB(None, dimension=2)
    meta = {"t": True, "f": False, "one": 1, "zero": 0, "neg": -(2**63), "big": 2**64 - 1, "x": 1.5,
            "s": "é✓", "none": None, "list": [1, "a", None, [True]], "np_f": np.float32(0.5),
            "np_i": np.int64(7), "np_b": np.bool_(True), "arr": np.arange(3), "mat": np.eye(2)}
    db.insert("a", [1, 0], meta)
    got = db.get("a")["metadata"]
    assert got["t"] is True and got["f"] is False and got["one"] == 1 and type(got["one"]) is int
    assert got["neg"] == -(2**63) and got["big"] == 2**64 - 1 and got["s"] == "é✓" and got["none"] is None
    assert got["list"] == [1, "a", None, [True]] and got["np_f"] == 0.5 and got["np_i"] == 7 and got["np_b"] is True
    assert got["arr"] == [0, 1, 2] and got["mat"] == [[1.0, 0.0], [0.0, 1.0]]
    # Any Mapping is an object.
    db.insert("b", [0, 1], types.MappingProxyType({"k": {"nested": 1}}))
    assert db.get("b")["metadata"] == {"k": {"nested": 1}}
    # Filters see booleans as booleans, not 1 / 0.
    assert [h["id"] for h in db.search([1, 0], k=5, filter={"t": True})] == ["a"]
    assert db.search([1, 0], k=5, filter={"one": True}) == []
    with pytest.raises(vjson.InvalidMetadataError):
        db.insert("c", [1, 0], {"huge": 2**64})


def test_deep_and_self_referencing_metadata_is_an_error_not_a_crash():
    db = vjson.PyVectorDB(None, dimension=2)
    loop: list = []
    loop.append(loop)
    deep: dict = {"v": 1}
    for _ in range(200):
        deep = {"a": deep}
    ok: dict = {"v": 1}
    for _ in range(63):
        ok = {"a": ok}
    for bad in [{"loop": loop}, deep]:
        with pytest.raises(vjson.InvalidMetadataError) as e:
            db.insert("x", [1, 0], bad)
        assert "64 levels" in str(e.value)
    with pytest.raises(vjson.InvalidFilterError):
        db.search([1, 0], filter={"a": loop})
    db.insert("ok", [1, 0], ok)   # 64 levels: the limit
    assert db.get("ok")["metadata"] == ok and len(db) == 1


def test_unaligned_and_empty_arrays():
    db = vjson.PyVectorDB(None, dimension=4)
    raw = b"\0" + np.ones(8, dtype=np.float32).tobytes()
    unaligned = np.frombuffer(raw, dtype=np.float32, offset=1).reshape(2, 4)
    assert not unaligned.flags["ALIGNED"]
    db.insert_batch(ids=["a", "b"], vectors=unaligned)
    assert np.array_equal(db.get("a")["vector"], np.full(4, 0.5, dtype=np.float32))
    with pytest.raises(vjson.DimensionMismatchError):
        db.search_batch(np.zeros((3, 0), dtype=np.float32))
