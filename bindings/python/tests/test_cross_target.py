"""One database, every face: what Python writes, the CLI and the npm package read with the
same rankings, and the other way round."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np

import vjson

HERE = Path(__file__).resolve().parent


def queries(sample, n=30):
    qs = []
    for i in range(n):
        q = {"k": 10}
        if i % 3 != 1:
            q["vector"] = [float(x) for x in sample.query_vectors[i]]
        if i % 3 != 0:
            q["text"] = sample.queries[i]["text"]
        if i % 5 == 0:
            q["filter"] = {"kind": "api"}
        qs.append(q)
    return qs


def python_rankings(db, qs):
    out = []
    for q in qs:
        hits = db.hybrid_search(query_vector=q.get("vector"), query_text=q.get("text"), k=q["k"],
                                filter=q.get("filter"))
        out.append([(h["id"], h["combined_score"]) for h in hits])
    return out


def same(a, b):
    assert [[i for i, _ in r] for r in a] == [[i for i, _ in r] for r in b]
    for ra, rb in zip(a, b):
        assert np.allclose([s for _, s in ra], [s for _, s in rb], rtol=1e-5, atol=1e-6)


def test_a_database_written_from_python_opens_in_the_cli(sample, tmp_path, vjson_cli):
    path = tmp_path / "db"
    db = vjson.PyVectorDB(path, dimension=384)
    db.insert_batch(sample.items(800))
    qs = queries(sample)
    ours = python_rankings(db, qs)
    db.close()
    for q, expect in zip(qs, ours):
        args = [str(vjson_cli), "search", str(path), "-k", str(q["k"]), "--json"]
        if "vector" in q:
            args += ["--vector", json.dumps(q["vector"])]
        if "text" in q:
            args.append(f"--text={q['text']}")
        if "filter" in q:
            args += ["--filter", json.dumps(q["filter"])]
        out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
        got = [(h["id"], h["score"]) for h in map(json.loads, out.splitlines())]
        same([got], [expect])


def test_snapshots_travel_between_python_and_the_npm_package(sample, tmp_path, npm_package):
    qs = queries(sample)
    (tmp_path / "queries.json").write_text(json.dumps(qs))

    def node(*args):
        subprocess.run(["node", str(HERE / "npm_rankings.mjs"), str(npm_package), *map(str, args)],
                       check=True, capture_output=True, text=True)
        return [[(h["id"], h["score"]) for h in r] for r in json.loads((tmp_path / "out.json").read_text())]

    # Python -> npm.
    db = vjson.PyVectorDB(None, dimension=384)
    db.insert_batch(sample.items(800))
    (tmp_path / "py.snap").write_bytes(db.export_snapshot())
    same(node(tmp_path / "py.snap", tmp_path / "queries.json", tmp_path / "out.json"), python_rankings(db, qs))

    # npm -> Python.
    docs = [{"id": i, "vector": [float(x) for x in v], "text": t, "metadata": m}
            for i, v, m, t in sample.items(800)]
    (tmp_path / "docs.json").write_text(json.dumps({"dimension": 384, "docs": docs}))
    js = node(tmp_path / "js.snap", tmp_path / "queries.json", tmp_path / "out.json", "--build", tmp_path / "docs.json")
    imported = vjson.PyVectorDB.import_snapshot((tmp_path / "js.snap").read_bytes())
    same(python_rankings(imported, qs), js)
