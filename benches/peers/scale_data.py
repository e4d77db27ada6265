#!/usr/bin/env python3
"""Reproducible synthetic corpora for the scale benchmark (`scale.py`): N documents of 384
float32 dimensions with text and metadata, 1,000 queries, and the exact top 10 of every
query by brute force.

    python3 benches/peers/scale_data.py N OUT_DIR [--seed 7]

Vectors: a mixture of 100 clusters on the unit sphere, each cluster a random centre plus
a 48-dimensional random subspace of its own (then a little isotropic noise, then
normalised), so neighbourhoods have the low intrinsic dimension that real sentence
embeddings show, not the worst case of i.i.d. Gaussian noise. Documents and queries come
from the same mixture (queries are not documents). Metric: cosine.

Text: 20 to 60 words; about a third drawn from the document's cluster's 30 topic words,
the rest Zipf-distributed over a 50,000-word vocabulary of made-up words. Query text: two
topic words of the query's cluster and one common word. Metadata:
`{"category": "c<0..19>", "year": 2000..2025, "price": 0.0..1000.0}`; the filtered query
is `{"category": "c<q mod 20>"}` (5 % of the documents).

Files (every one written by this script, from the seed alone):
`docs.f32` (N x 384), `docs.jsonl` (`{"id","text","metadata"}` per line, line i = row i),
`queries.f32` (1,000 x 384), `queries.jsonl` (`{"text","filter"}`), `truth_k10.u32`
(1,000 x 10 row numbers), `meta.json`. Data for a given N and seed is the same on every
machine; the first N documents of a larger set are not the smaller set (the cluster
assignment is drawn per set).
"""

import argparse
import json
import sys
from pathlib import Path

DIM = 384
CLUSTERS = 100
SUBSPACE = 48
QUERIES = 1000
K = 10
VOCAB = 50_000
TOPIC = 30
CATEGORIES = 20


def words(rng, n):
    """n distinct pronounceable made-up words."""
    cons, vows = "bcdfghjklmnprstvz", "aeiou"
    out, seen = [], set()
    while len(out) < n:
        syl = rng.integers(2, 5)
        w = "".join(cons[rng.integers(len(cons))] + vows[rng.integers(len(vows))]
                    for _ in range(syl))
        if w not in seen:
            seen.add(w)
            out.append(w)
    return out


def draw(rng, centres, bases, n):
    import numpy as np

    c = rng.integers(0, CLUSTERS, n)
    out = np.empty((n, DIM), dtype=np.float32)
    for s in range(0, n, 65536):
        cc = c[s:s + 65536]
        z = rng.standard_normal((len(cc), SUBSPACE)).astype(np.float32)
        v = centres[cc] + np.einsum("ns,nsd->nd", z, bases[cc])
        v += 0.015 * rng.standard_normal(v.shape).astype(np.float32)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        out[s:s + 65536] = v
    return out, c


def exact_top_k(docs, queries):
    import numpy as np

    out = np.empty((len(queries), K), dtype=np.uint32)
    best = np.full((len(queries), K), -np.inf, dtype=np.float32)
    idx = np.zeros((len(queries), K), dtype=np.int64)
    for s in range(0, len(docs), 131072):
        score = queries @ docs[s:s + 131072].T
        part = np.argpartition(-score, K - 1, axis=1)[:, :K]
        ps = np.take_along_axis(score, part, axis=1)
        cand_s = np.concatenate([best, ps], axis=1)
        cand_i = np.concatenate([idx, part + s], axis=1)
        top = np.argpartition(-cand_s, K - 1, axis=1)[:, :K]
        best = np.take_along_axis(cand_s, top, axis=1)
        idx = np.take_along_axis(cand_i, top, axis=1)
    order = np.argsort(-best, axis=1, kind="stable")
    out[:] = np.take_along_axis(idx, order, axis=1)
    return out


def main():
    import numpy as np

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("n", type=int)
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    out = Path(a.out)
    if (out / "meta.json").exists():
        return
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(a.seed)
    centres = rng.standard_normal((CLUSTERS, DIM)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    bases = (rng.standard_normal((CLUSTERS, SUBSPACE, DIM)).astype(np.float32)
             * (0.16 / np.sqrt(DIM)))
    vocab = words(rng, VOCAB)
    topics = rng.integers(0, VOCAB, (CLUSTERS, TOPIC))
    zipf = 1.0 / np.arange(1, VOCAB + 1) ** 1.05
    zipf /= zipf.sum()

    docs, dc = draw(rng, centres, bases, a.n)
    docs.astype("<f4").tofile(out / "docs.f32")
    with open(out / "docs.jsonl", "w") as f:
        for s in range(0, a.n, 100_000):
            m = min(100_000, a.n - s)
            lens = rng.integers(20, 61, m)
            total = int(lens.sum())
            common = rng.choice(VOCAB, total, p=zipf)
            topical = rng.random(total) < 0.33
            pick = rng.integers(0, TOPIC, total)
            cat = rng.integers(0, CATEGORIES, m)
            year = rng.integers(2000, 2026, m)
            price = np.round(rng.random(m) * 1000, 2)
            pos = 0
            lines = []
            for j in range(m):
                c = dc[s + j]
                ws = []
                for t in range(pos, pos + lens[j]):
                    ws.append(vocab[topics[c, pick[t]]] if topical[t] else vocab[common[t]])
                pos += lens[j]
                lines.append(json.dumps({
                    "id": f"doc{s + j}", "text": " ".join(ws),
                    "metadata": {"category": f"c{cat[j]}", "year": int(year[j]),
                                 "price": float(price[j])}}))
            f.write("\n".join(lines) + "\n")
            print(f"  docs {s + m:,}/{a.n:,}", file=sys.stderr, flush=True)

    queries, qc = draw(rng, centres, bases, QUERIES)
    queries.astype("<f4").tofile(out / "queries.f32")
    with open(out / "queries.jsonl", "w") as f:
        for i in range(QUERIES):
            t = rng.choice(TOPIC, 2, replace=False)
            w = [vocab[topics[qc[i], t[0]]], vocab[topics[qc[i], t[1]]],
                 vocab[rng.choice(VOCAB, p=zipf)]]
            f.write(json.dumps({"text": " ".join(w),
                                "filter": {"category": f"c{i % CATEGORIES}"}}) + "\n")
    print("  exact top 10 ...", file=sys.stderr, flush=True)
    exact_top_k(docs, queries).astype("<u4").tofile(out / f"truth_k{K}.u32")
    (out / "meta.json").write_text(json.dumps(
        {"n": a.n, "queries": QUERIES, "dim": DIM, "metric": "cosine", "seed": a.seed}))


if __name__ == "__main__":
    main()
