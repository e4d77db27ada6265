"""vjson.distributed on a local Ray cluster: 3 shards, routed by a stable hash, merged
rankings equal to a single database's, all-or-nothing batches, and shard actors that come
back from a kill with every acknowledged write.

Skipped (with the reason) only where Ray cannot be imported; ./scripts/test.sh installs it
and sets VJSON_REQUIRE_ALL=1, which makes a missing Ray a failure."""

from __future__ import annotations

import hashlib
import os
import time

import numpy as np
import pytest

import vjson
from conftest import _require, assert_same_ranking

try:
    import ray
except ImportError:  # pragma: no cover - depends on the machine
    ray = None

from vjson.distributed import ShardedVectorDB, shard_of

SHARDS = 3


@pytest.fixture(scope="module")
def cluster():
    if ray is None:
        if os.environ.get("VJSON_NO_RAY") == "1":
            pytest.skip("Ray could not be installed on this machine (scripts/python.sh said so)")
        _require("Ray (pip install ray)")
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=100 * 1024 * 1024,
             log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def loaded(cluster, sample, tmp_path_factory):
    """The bundled sample in a 3-shard database and in a single one."""
    root = tmp_path_factory.mktemp("sharded")
    db = ShardedVectorDB(root, dimension=384, num_shards=SHARDS)
    items = sample.items()
    db.insert_batch(ids=[i[0] for i in items], vectors=sample.doc_vectors,
                    metadatas=[i[2] for i in items], texts=[i[3] for i in items])
    single = vjson.PyVectorDB(None, dimension=384)
    single.insert_batch(items)
    yield db, single, root
    db.close()


def test_routing_is_a_stable_hash_of_the_id(cluster, sample, loaded):
    db, _, root = loaded
    # blake2b-64 little-endian mod N, the same in any process (not Python's hash()).
    for id_ in ["doc1", "api:std::vec::Vec", "é✓"]:
        h = int.from_bytes(hashlib.blake2b(id_.encode(), digest_size=8).digest(), "little")
        assert shard_of(id_, 7) == h % 7
    counts = [s["documents"] for s in db.stats()]
    assert sum(counts) == len(sample.docs) == len(db)
    expect = [0] * SHARDS
    for d in sample.docs:
        expect[shard_of(d["id"], SHARDS)] += 1
    assert counts == expect and min(counts) > len(sample.docs) / SHARDS * 0.8
    # Each document is on its owner's shard, in its own directory.
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == [f"shard-{i:04d}" for i in range(SHARDS)]
    assert all(d["id"] in db for d in sample.docs[:50])


def test_vector_search_equals_a_single_database(loaded, sample):
    db, single, _ = loaded
    exhaustive = 2000
    for i in range(40):
        q = sample.query_vectors[i]
        a = db.search(q, k=10, ef_search=exhaustive)
        b = single.search(q, k=10, ef_search=exhaustive)
        assert [h["id"] for h in a] == [h["id"] for h in b]
        assert np.allclose([h["combined_score"] for h in a], [h["combined_score"] for h in b], atol=1e-6)
    ids, scores = db.search_batch(sample.query_vectors[:20], k=10, ef_search=exhaustive)
    for i in range(20):
        assert list(ids[i]) == [h["id"] for h in single.search(sample.query_vectors[i], k=10, ef_search=exhaustive)]
    f = {"kind": "book"}
    assert [h["id"] for h in db.search(sample.query_vectors[3], k=10, filter=f, ef_search=exhaustive)] == \
        [h["id"] for h in single.search(sample.query_vectors[3], k=10, filter=f, ef_search=exhaustive)]


def test_hybrid_fuses_globally_merged_sides(loaded, sample):
    db, single, _ = loaded
    overlaps, same_top = [], 0
    n = 100
    for i in range(n):
        q, t = sample.query_vectors[i], sample.queries[i]["text"]
        a = db.hybrid_search(query_vector=q, query_text=t, k=10, ef_search=2000)
        b = single.hybrid_search(query_vector=q, query_text=t, k=10, ef_search=2000)
        assert len(a) == 10
        s = [h["combined_score"] for h in a]
        assert s == sorted(s, reverse=True)
        overlaps.append(len({h["id"] for h in a} & {h["id"] for h in b}) / 10)
        same_top += a[0]["id"] == b[0]["id"]
        # The vector sides are global and exact: every vector score equals the single one's.
        vs = {h["id"]: h["vector_score"] for h in b if h["vector_score"] is not None}
        for h in a:
            if h["id"] in vs and h["vector_score"] is not None:
                assert abs(h["vector_score"] - vs[h["id"]]) < 1e-6
    mean = sum(overlaps) / n
    print(f"\nhybrid top-10 overlap with one database, {SHARDS} shards (BM25 statistics per shard): "
          f"{mean:.3f}; same first hit {same_top}/{n}")
    assert mean >= 0.9 and same_top >= 0.9 * n
    # RRF by name, and one side only.
    assert len(db.hybrid_search(sample.query_vectors[0], sample.queries[0]["text"], k=5, fusion="rrf")) == 5
    assert [h["id"] for h in db.hybrid_search(query_text="ownership", k=5)] == \
        [h["id"] for h in db.text_search("ownership", k=5)]


def test_one_shard_answers_exactly_as_one_database(cluster, sample, tmp_path):
    # With one shard the BM25 statistics are the single database's too: hybrid results,
    # fused here from the merged sides, equal the single database's own fusion exactly.
    db = ShardedVectorDB(tmp_path / "one", dimension=384, num_shards=1)
    # On disk too: a shard's text index is Tantivy, whose quantised lengths score a little
    # differently from the in-memory BM25 index.
    single = vjson.PyVectorDB(tmp_path / "single", dimension=384)
    items = sample.items(800)
    db.insert_batch(items)
    single.insert_batch(items)
    # Score fusions see only scores: exactly equal. (RRF sees ranks, and an exact tie within
    # one side is ordered by row in a database but by id in a merge of shards, which can
    # swap two ranks: RRF is checked by overlap below.)
    for fusion in [None, "weighted:0.3,0.7", "average", "dbsf", "min", "max"]:
        for i in range(10):
            q, t = sample.query_vectors[i], sample.queries[i]["text"]
            a = db.hybrid_search(query_vector=q, query_text=t, k=10, fusion=fusion, ef_search=2000)
            b = single.hybrid_search(query_vector=q, query_text=t, k=10, fusion=fusion, ef_search=2000)
            assert_same_ranking([(h["id"], h["combined_score"]) for h in a],
                                [(h["id"], h["combined_score"]) for h in b])
            fields = {h["id"]: (h["text"], h["metadata"]) for h in b}
            assert all(fields.get(h["id"], (h["text"], h["metadata"])) == (h["text"], h["metadata"]) for h in a)
    for i in range(10):
        q, t = sample.query_vectors[i], sample.queries[i]["text"]
        a = db.hybrid_search(query_vector=q, query_text=t, k=10, fusion="rrf", ef_search=2000)
        b = single.hybrid_search(query_vector=q, query_text=t, k=10, fusion="rrf", ef_search=2000)
        assert len({h["id"] for h in a} & {h["id"] for h in b}) >= 9
    db.close()


def test_a_shard_that_cannot_open_raises_its_own_error(cluster, tmp_path):
    root = tmp_path / "locked"
    db = ShardedVectorDB(root, dimension=4, num_shards=2)
    holder = vjson.PyVectorDB(root / "shard-0001", read_only=True)   # readers do not block...
    with pytest.raises(vjson.LockedError):                            # ...but a second writer is refused
        ShardedVectorDB(root, dimension=4)
    holder.close()
    db.close()
    again = ShardedVectorDB(root)   # nothing was left holding a lock
    assert len(again) == 0
    again.close()


def test_writes_route_and_batches_are_all_or_nothing(cluster, tmp_path):
    db = ShardedVectorDB(tmp_path / "w", dimension=4, num_shards=SHARDS)
    docs = [(f"d{i}", [1.0, i % 5, (i * 7) % 3, 1.0], {"i": i}, f"text {i}") for i in range(60)]
    db.insert_batch(docs)
    assert len(db) == 60 and sum(s["documents"] > 0 for s in db.stats()) == SHARDS
    before = [s["documents"] for s in db.stats()]
    # A NaN in one document, an id that exists, an id twice: nothing is written anywhere.
    for bad, error in [([("new1", [1, 2, 3, 4]), ("new2", [np.nan, 0, 0, 1])], vjson.InvalidVectorError),
                       ([("new3", [1, 2, 3, 4]), ("d5", [1, 0, 0, 0])], vjson.DuplicateIdError),
                       ([("new4", [1, 2, 3, 4]), ("new4", [1, 0, 0, 0])], vjson.DuplicateIdError)]:
        with pytest.raises(error):
            db.insert_batch(bad)
        assert [s["documents"] for s in db.stats()] == before
    with pytest.raises(vjson.DuplicateIdError):
        db.insert("d7", [1, 0, 0, 0])
    with pytest.raises(vjson.DimensionMismatchError):
        db.insert("x", [1, 0, 0])
    db.upsert("d7", [0, 0, 0, 1], {"i": 700}, "replaced")
    assert db.get("d7")["metadata"] == {"i": 700} and len(db) == 60
    db.upsert_batch(ids=["d8", "z"], vectors=np.eye(2, 4, dtype=np.float32), texts=["a", "b"])
    assert len(db) == 61 and db.get("z")["text"] == "b"
    db.delete("d9")
    assert "d9" not in db and db.get("d9") is None and len(db) == 60
    with pytest.raises(vjson.NotFoundError):
        db.delete("d9")
    assert [h["id"] for h in db.search([0, 0, 0, 1], k=1)] == ["d7"]
    assert {h["metadata"]["i"] for h in db.search([1, 1, 1, 1], k=60, filter={"i": {"$lt": 10}})} == \
        set(range(10)) - {7, 8, 9}  # d7 and d8 replaced (d8 without metadata), d9 deleted
    db.flush()
    db.close()
    with pytest.raises(vjson.ClosedError):
        len(db)
    # Reopen: the layout decides the shard count; a different one is refused.
    again = ShardedVectorDB(tmp_path / "w")
    assert len(again) == 60 and again.num_shards == SHARDS
    with pytest.raises(vjson.InvalidOptionsError):
        ShardedVectorDB(tmp_path / "w", num_shards=SHARDS + 1)
    again.close()


def test_a_killed_shard_restarts_from_its_log(cluster, sample, tmp_path):
    db = ShardedVectorDB(tmp_path / "k", dimension=384, num_shards=SHARDS)
    items = sample.items(600)
    db.insert_batch(items[:400])
    db.flush()
    # Acknowledged but never checkpointed: only the shards' write-ahead logs hold these.
    db.insert_batch(items[400:])
    db.upsert(items[0][0], items[0][1], {"kind": "api", "n": -1}, items[0][3])
    db.delete(items[1][0])
    queries = [(sample.query_vectors[i], sample.queries[i]["text"]) for i in range(10)]
    expect = [db.hybrid_search(query_vector=q, query_text=t, k=10, ef_search=1000) for q, t in queries]
    victim = db.shards[shard_of(items[0][0], SHARDS)]
    old_pid = ray.get(victim.pid.remote())
    # Kill it with a query in flight: the call is retried on the restarted actor.
    pending = [db.shards[s].search.remote(sample.query_vectors[0], 10, None, 1000) for s in range(SHARDS)]
    ray.kill(victim, no_restart=False)
    assert all(len(r) == 10 for r in ray.get(pending))
    # ray.kill only asks the cluster to kill the actor: a call sent right after it can still
    # reach the old process, so wait (bounded) until the restarted one answers.
    deadline = time.monotonic() + 120
    while ray.get(victim.pid.remote()) == old_pid:
        assert time.monotonic() < deadline, "the killed shard was not restarted within 120 s"
        time.sleep(0.1)
    assert len(db) == 599
    assert db.get(items[0][0])["metadata"] == {"kind": "api", "n": -1} and items[1][0] not in db
    got = [db.hybrid_search(query_vector=q, query_text=t, k=10, ef_search=1000) for q, t in queries]
    assert [[h["id"] for h in r] for r in got] == [[h["id"] for h in r] for r in expect]
    stats = db.stats()[shard_of(items[0][0], SHARDS)]
    assert stats["disk"]["wal_records_replayed"] > 0
    db.close()
