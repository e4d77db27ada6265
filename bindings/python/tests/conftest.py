"""Shared fixtures: the bundled rustdocs sample (2,000 documents, 500 queries, MiniLM
vectors) and paths to the other faces of vjson (the CLI, the npm package) for the
cross-target tests.

``VJSON_REQUIRE_ALL=1`` (set by ``./scripts/test.sh``) turns a missing CLI binary or npm
package into a failure instead of a skip."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[3]
SAMPLE = REPO / "tests" / "data" / "sample"


@dataclass
class Sample:
    docs: list[dict]
    doc_vectors: np.ndarray
    queries: list[dict]
    query_vectors: np.ndarray
    relevant: list[str]

    def items(self, n: int | None = None) -> list[tuple]:
        """The seed's (id, vector, metadata, text) tuples."""
        n = len(self.docs) if n is None else n
        return [
            (d["id"], self.doc_vectors[i], {"kind": d["kind"], "n": i}, d["title"] + ": " + d["text"])
            for i, d in enumerate(self.docs[:n])
        ]


@pytest.fixture(scope="session")
def sample() -> Sample:
    docs = [json.loads(l) for l in (SAMPLE / "docs.jsonl").read_text().splitlines()]
    queries = [json.loads(l) for l in (SAMPLE / "queries.jsonl").read_text().splitlines()]
    qrels = [json.loads(l) for l in (SAMPLE / "qrels.jsonl").read_text().splitlines()]
    dv = np.fromfile(SAMPLE / "docs.f32", dtype="<f4").reshape(len(docs), -1)
    qv = np.fromfile(SAMPLE / "queries.f32", dtype="<f4").reshape(len(queries), -1)
    return Sample(docs, dv, queries, qv, [r["docid"] for r in qrels])


def _require(what: str) -> None:
    if os.environ.get("VJSON_REQUIRE_ALL") == "1":
        pytest.fail(f"{what} is missing (./scripts/test.sh builds it first)")
    pytest.skip(f"{what} is not built")


@pytest.fixture(scope="session")
def vjson_cli() -> Path:
    """The `vjson` command: $VJSON_CLI, else the release build in the target directory."""
    env = os.environ.get("VJSON_CLI")
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    for p in [Path(env)] if env else [target / "release" / "vjson", target / "debug" / "vjson"]:
        if p.is_file():
            return p
    _require("the vjson CLI (cargo build --release)")
    raise AssertionError


@pytest.fixture(scope="session")
def npm_package() -> Path:
    """The npm package built by scripts/build-npm.sh ($VJSON_NPM_PKG, else pkg/)."""
    pkg = Path(os.environ.get("VJSON_NPM_PKG", REPO / "pkg"))
    if not (pkg / "package.json").is_file() or shutil.which("node") is None:
        _require("the npm package (./scripts/build-npm.sh) and node")
    return pkg


def assert_same_ranking(a: list[tuple[str, float]], b: list[tuple[str, float]]) -> None:
    """Two rankings of (id, score) are the same: equal scores position by position, and
    the same ids, where exact ties may come in either order (a database breaks them by
    row, a merge of shards or `vjson.fuse` by id or first appearance) and a tie at the
    last position may be cut either way."""
    assert len(a) == len(b)
    assert np.allclose([s for _, s in a], [s for _, s in b], atol=1e-6), (a, b)
    if not a:
        return
    last = min(a[-1][1], b[-1][1])

    def above(r: list[tuple[str, float]]) -> list[tuple[float, str]]:
        return sorted((round(s, 5), i) for i, s in r if s > last + 1e-6)

    assert above(a) == above(b), (a, b)
