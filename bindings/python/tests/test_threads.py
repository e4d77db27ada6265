"""Calls release the GIL: Python threads search in parallel, and other Python code runs
while the core works."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import vjson


def test_eight_threads_get_the_answers_of_one(sample):
    db = vjson.PyVectorDB(None, dimension=384)
    db.insert_batch(sample.items())
    queries = list(range(200))
    serial = {i: db.hybrid_search(query_vector=sample.query_vectors[i], query_text=sample.queries[i]["text"], k=10)
              for i in queries}
    with ThreadPoolExecutor(8) as pool:
        parallel = dict(zip(queries, pool.map(
            lambda i: db.hybrid_search(query_vector=sample.query_vectors[i], query_text=sample.queries[i]["text"], k=10),
            queries)))
    assert parallel == serial


def test_python_runs_while_the_core_works(sample):
    # A pure-Python loop in one thread keeps counting while another thread is inside a
    # long insert_batch: the insert does not hold the GIL.
    X = np.ascontiguousarray(np.tile(sample.doc_vectors, (3, 1)))
    X += np.random.default_rng(1).normal(0, 0.01, X.shape).astype(np.float32)
    ids = [f"d{i}" for i in range(len(X))]
    db = vjson.PyVectorDB(None, dimension=384)
    ticks: list[float] = []
    stop = threading.Event()

    def count():
        while not stop.is_set():
            ticks.append(time.perf_counter())

    t = threading.Thread(target=count)
    t.start()
    try:
        start = time.perf_counter()
        db.insert_batch(ids=ids, vectors=X)
        end = time.perf_counter()
    finally:
        stop.set()
        t.join()
    lo, hi = start + (end - start) * 0.2, start + (end - start) * 0.8
    during = sum(lo < x < hi for x in ticks)
    assert len(db) == len(X)
    assert during > 100, f"the counting thread ran {during} times in the middle of a {end - start:.2f} s insert"
