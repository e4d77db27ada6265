"""Vectors from numpy: C-contiguous float32 is read in place; everything else is
converted once (numpy.asarray(x, dtype=float32, order="C")) and gives the same answers.

Python-side allocations are measured with tracemalloc, which numpy reports its array
buffers to (the core's own memory is not Python's and is not counted)."""

from __future__ import annotations

import tracemalloc

import numpy as np

import vjson


def python_peak(fn) -> int:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def test_contiguous_float32_is_not_copied_and_other_inputs_are_converted_once(sample):
    X = np.ascontiguousarray(sample.doc_vectors[:1500])          # float32, C order: 2.3 MB
    ids = [f"d{i}" for i in range(len(X))]
    nbytes = X.nbytes

    db = vjson.PyVectorDB(None, dimension=X.shape[1])
    peak_f32 = python_peak(lambda: db.insert_batch(ids=ids, vectors=X))
    assert peak_f32 < nbytes / 10, f"{peak_f32} bytes of Python allocations for {nbytes} bytes of vectors"

    X64 = X.astype(np.float64)
    db64 = vjson.PyVectorDB(None, dimension=X.shape[1])
    peak_f64 = python_peak(lambda: db64.insert_batch(ids=ids, vectors=X64))
    assert peak_f64 >= nbytes * 0.9, f"float64 input converted with only {peak_f64} bytes"

    Xf = np.asfortranarray(X)
    dbf = vjson.PyVectorDB(None, dimension=X.shape[1])
    peak_fortran = python_peak(lambda: dbf.insert_batch(ids=ids, vectors=Xf))
    assert peak_fortran >= nbytes * 0.9

    # The same vectors, however they came, are stored alike and give the same answers
    # (an exhaustive ef_search: graphs built in parallel differ between builds).
    for i in range(0, 1500, 97):
        v = db.get(ids[i])["vector"]
        assert np.array_equal(v, db64.get(ids[i])["vector"]) and np.array_equal(v, dbf.get(ids[i])["vector"])
    for q in sample.query_vectors[:20]:
        a = [h["id"] for h in db.search(q, k=10, ef_search=2000)]
        assert a == [h["id"] for h in db64.search(q.astype(np.float64), k=10, ef_search=2000)]
        assert a == [h["id"] for h in dbf.search(list(map(float, q)), k=10, ef_search=2000)]


def test_search_reads_query_arrays_in_place(sample):
    db = vjson.PyVectorDB(None, dimension=384)
    db.insert_batch(ids=[d["id"] for d in sample.docs], vectors=sample.doc_vectors)
    Q = np.ascontiguousarray(sample.query_vectors)                # 768 KB
    # The results (500 ids and scores) are allocated; the queries are not copied...
    peak = python_peak(lambda: db.search_batch(Q, k=1))
    assert peak < Q.nbytes / 4, peak
    # ...unless they must be converted.
    Q64 = Q.astype(np.float64)
    assert python_peak(lambda: db.search_batch(Q64, k=1)) >= Q.nbytes * 0.9
    strided = sample.query_vectors[:, ::1][::2]                   # every other row: a view
    assert not strided.flags["C_CONTIGUOUS"]
    ids, scores = db.search_batch(strided, k=5)
    ids2, _ = db.search_batch(np.ascontiguousarray(strided), k=5)
    assert (ids == ids2).all() and scores.shape == (250, 5)


def test_vectors_come_back_as_float32(sample):
    db = vjson.PyVectorDB(None, dimension=384, metric="dot")
    db.insert("a", sample.doc_vectors[0])
    v = db.get("a")["vector"]
    assert v.dtype == np.float32 and np.array_equal(v, sample.doc_vectors[0])
