"""Every error: the right exception class (and built-in base), its stable code, a message
that says what was wrong, and no half-written batch."""

from __future__ import annotations

import math

import numpy as np
import pytest

import vjson
from vjson import errors


def fresh():
    db = vjson.PyVectorDB(None, dimension=4)
    db.insert("a", [1, 0, 0, 0], {"year": 2020}, "alpha")
    return db


# The codes test_storage_errors and test_text_index_errors raise.
STORAGE_CODES = {"locked", "read_only", "io", "corrupt", "closed", "text_index"}


def check(exc_info, cls, code, builtin):
    e = exc_info.value
    assert isinstance(e, cls) and isinstance(e, vjson.VjsonError) and isinstance(e, builtin)
    assert e.code == code, (e.code, str(e))
    assert len(str(e)) > 15, str(e)


CASES = [
    # (code, class, builtin, action on a fresh in-memory database)
    ("dimension_mismatch", vjson.DimensionMismatchError, ValueError, lambda db: db.insert("x", [1, 2, 3])),
    ("dimension_mismatch", vjson.DimensionMismatchError, ValueError, lambda db: db.search([1, 2])),
    ("non_finite_vector", vjson.InvalidVectorError, ValueError, lambda db: db.insert("x", [1, math.nan, 0, 0])),
    ("non_finite_vector", vjson.InvalidVectorError, ValueError, lambda db: db.search(np.array([np.inf, 0, 0, 0]))),
    ("zero_vector", vjson.InvalidVectorError, ValueError, lambda db: db.insert("x", [0, 0, 0, 0])),
    ("zero_vector", vjson.InvalidVectorError, ValueError, lambda db: db.search([0, 0, 0, 0])),
    ("empty_id", vjson.InvalidIdError, ValueError, lambda db: db.insert("", [1, 0, 0, 0])),
    ("id_too_long", vjson.InvalidIdError, ValueError, lambda db: db.insert("x" * 5000, [1, 0, 0, 0])),
    ("duplicate_id", vjson.DuplicateIdError, ValueError, lambda db: db.insert("a", [1, 0, 0, 0])),
    ("duplicate_id", vjson.DuplicateIdError, ValueError,
     lambda db: db.insert_batch([("n", [1, 0, 0, 0]), ("n", [0, 1, 0, 0])])),
    ("not_found", vjson.NotFoundError, KeyError, lambda db: db.delete("missing")),
    ("invalid_metadata", vjson.InvalidMetadataError, ValueError, lambda db: db.insert("x", [1, 0, 0, 0], [1, 2])),
    ("invalid_metadata", vjson.InvalidMetadataError, ValueError, lambda db: db.insert("x", [1, 0, 0, 0], 5)),
    ("invalid_metadata", vjson.InvalidMetadataError, ValueError, lambda db: db.insert("x", [1, 0, 0, 0], "year=2024")),
    ("invalid_metadata", vjson.InvalidMetadataError, ValueError, lambda db: db.insert("x", [1, 0, 0, 0], {"f": math.nan})),
    ("invalid_metadata", vjson.InvalidMetadataError, ValueError, lambda db: db.insert("x", [1, 0, 0, 0], {"s": {1, 2}})),
    ("invalid_metadata", vjson.InvalidMetadataError, ValueError, lambda db: db.insert("x", [1, 0, 0, 0], {1: "int key"})),
    ("invalid_filter", vjson.InvalidFilterError, ValueError, lambda db: db.search([1, 0, 0, 0], filter={"y": {"$bogus": 1}})),
    ("invalid_filter", vjson.InvalidFilterError, ValueError, lambda db: db.search([1, 0, 0, 0], filter="{not json")),
    ("invalid_query", vjson.InvalidQueryError, ValueError, lambda db: db.search([1, 0, 0, 0], k=0)),
    ("invalid_query", vjson.InvalidQueryError, ValueError, lambda db: db.hybrid_search(k=3)),
    ("invalid_options", vjson.InvalidOptionsError, ValueError, lambda db: vjson.PyVectorDB(None, dimension=0)),
    ("invalid_options", vjson.InvalidOptionsError, ValueError, lambda db: vjson.PyVectorDB(None, dimension=4, metric="manhattan")),
    ("invalid_query", vjson.InvalidQueryError, ValueError, lambda db: db.hybrid_search([1, 0, 0, 0], "a", fusion="best")),
    ("invalid_snapshot", vjson.InvalidSnapshotError, ValueError, lambda db: vjson.PyVectorDB.import_snapshot(b"VJSN junk")),
    ("limit_exceeded", vjson.LimitExceededError, ValueError,
     lambda db: db.insert("x", [1, 0, 0, 0], None, "x" * ((16 << 20) + 1))),
    ("limit_exceeded", vjson.LimitExceededError, ValueError,
     lambda db: vjson.PyVectorDB(None, dimension=4, limits={"max_batch_docs": 1}).insert_batch(
         [("p", [1, 0, 0, 0]), ("q", [0, 1, 0, 0])])),
    ("invalid_options", vjson.InvalidOptionsError, ValueError,
     lambda db: vjson.PyVectorDB(None, dimension=4, limits={"max_speed": 1})),
    ("invalid_options", vjson.InvalidOptionsError, ValueError,
     lambda db: vjson.PyVectorDB(None, dimension=4, limits={"max_k": 0})),
    ("unsupported", vjson.UnsupportedError, ValueError,
     lambda db: vjson.PyVectorDB(None, dimension=4, enable_fulltext=False).text_search("x")),
    ("invalid_argument", vjson.InvalidArgumentError, TypeError, lambda db: db.insert("x", "not a vector")),
    ("invalid_argument", vjson.InvalidArgumentError, ValueError, lambda db: db.insert("x", [[1, 0, 0, 0]])),
    ("invalid_argument", vjson.InvalidArgumentError, ValueError, lambda db: db.search_batch(np.ones(4, dtype=np.float32))),
    ("invalid_argument", vjson.InvalidArgumentError, ValueError, lambda db: db.insert_batch([("x",)])),
    ("invalid_argument", vjson.InvalidArgumentError, ValueError, lambda db: db.insert_batch([{"id": "x", "vec": [1, 0, 0, 0]}])),
    ("invalid_argument", vjson.InvalidArgumentError, ValueError,
     lambda db: db.insert_batch(ids=["x", "y"], vectors=np.ones((3, 4), dtype=np.float32))),
    ("invalid_argument", vjson.InvalidArgumentError, ValueError, lambda db: db.insert_batch()),
]


@pytest.mark.parametrize("code,cls,builtin,action", CASES, ids=[c[0] for c in CASES])
def test_error(code, cls, builtin, action):
    db = fresh()
    with pytest.raises(cls) as e:
        action(db)
    check(e, cls, code, builtin)
    # The database is unchanged and still answers.
    assert len(db) == 1 and db.search([1, 0, 0, 0], k=1)[0]["id"] == "a"


def test_storage_errors(tmp_path):
    path = tmp_path / "db"
    db = vjson.PyVectorDB(path, dimension=4)
    db.insert("a", [1, 0, 0, 0])
    with pytest.raises(vjson.LockedError) as e:
        vjson.PyVectorDB(path, dimension=4)
    check(e, vjson.LockedError, "locked", OSError)
    ro = vjson.PyVectorDB(path, read_only=True)
    with pytest.raises(vjson.ReadOnlyError) as e:
        ro.delete("a")
    check(e, vjson.ReadOnlyError, "read_only", OSError)
    db.close()
    with pytest.raises(vjson.InvalidOptionsError) as e:
        vjson.PyVectorDB(path, dimension=8)
    assert "dimension 4" in str(e.value)
    # A file where the database directory should be.
    (tmp_path / "file").write_text("x")
    with pytest.raises(vjson.StorageError) as e:
        vjson.PyVectorDB(tmp_path / "file", dimension=4)
    check(e, vjson.StorageError, "io", OSError)
    with pytest.raises(vjson.StorageError) as e:
        vjson.PyVectorDB(tmp_path / "nothing-here")
    check(e, vjson.StorageError, "io", OSError)
    # Damage: a manifest that is not one.
    (path / "manifest.json").write_text("{}")
    with pytest.raises(vjson.CorruptError) as e:
        vjson.PyVectorDB(path, dimension=4)
    check(e, vjson.CorruptError, "corrupt", OSError)
    # Closed.
    mem = fresh()
    mem.close()
    for action in (lambda: mem.search([1, 0, 0, 0]), lambda: mem.insert("b", [0, 1, 0, 0]), lambda: "a" in mem):
        with pytest.raises(vjson.ClosedError) as e:
            action()
        check(e, vjson.ClosedError, "closed", RuntimeError)


def test_text_index_errors_are_storage_errors():
    # The core reaches text_index only through a damaged Tantivy directory; its class is
    # what users catch.
    e = errors._for_code("text_index", "full-text index error: x")
    assert isinstance(e, vjson.TextIndexError) and isinstance(e, OSError) and e.code == "text_index"


def test_a_bad_document_rejects_its_whole_batch():
    db = fresh()
    good = [(f"g{i}", [1, i, 0, 0], {"i": i}, "fine") for i in range(50)]
    for bad in [("bad", [1, 0, 0]), ("bad", [math.nan, 0, 0, 0]), ("a", [1, 0, 0, 0]), ("g3", [0, 1, 0, 0])]:
        with pytest.raises(vjson.VjsonError):
            db.insert_batch(good + [bad])
        assert len(db) == 1 and "g0" not in db
    with pytest.raises(vjson.VjsonError):
        db.insert_batch(ids=["p", "q"], vectors=np.array([[1, 0, 0, 0], [np.nan, 0, 0, 0]], dtype=np.float32))
    assert len(db) == 1 and "p" not in db


def test_every_core_code_has_a_class_and_a_test():
    assert set(vjson.ERROR_CODES) <= set(errors._BY_CODE)
    missing = set(vjson.ERROR_CODES) - {c[0] for c in CASES} - STORAGE_CODES
    assert not missing, f"codes no test here raises: {missing}"
