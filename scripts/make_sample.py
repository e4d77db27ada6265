#!/usr/bin/env python3
"""Build the small bundled sample dataset in tests/data/sample/ from the rustdocs corpus.

Usage:
    python3 scripts/make_sample.py SOURCE_DIR OUTPUT_DIR [--seed 7] [--queries 500] [--docs 2000]

Example (from the repository root):
    python3 scripts/make_sample.py ../shared/data/rustdocs tests/data/sample

SOURCE_DIR must hold the corpus files docs.jsonl, docs.f32, queries.jsonl, queries.f32 and
qrels.jsonl (see that directory's README.md). The selection is deterministic for a given seed:

  * QUERIES queries are drawn at random, stratified by kind so that the api/book mix of the
    sample matches the corpus (kind = the prefix of the relevant document id, `api:` or `book:`);
  * every document relevant to a chosen query is included;
  * the document set is filled up to DOCS documents with other documents drawn at random;
  * documents and queries keep their original corpus order.

Only the Python standard library is needed (vectors are copied as raw bytes; the unit-norm check
uses `struct`).
"""

import argparse
import json
import math
import os
import random
import struct
import sys

DIM = 384
ROW_BYTES = DIM * 4


def read_jsonl_lines(path):
    """Return the raw lines (without trailing newline) and their parsed objects."""
    raw, objs = [], []
    with open(path, "r", encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            raw.append(line)
            objs.append(json.loads(line))
    return raw, objs


def kind_of_docid(docid):
    if docid.startswith("api:"):
        return "api"
    if docid.startswith("book:"):
        return "book"
    raise ValueError("relevant document id with unknown prefix: %r" % docid)


def copy_rows(src_path, n_rows_expected, indices, dst_path):
    """Copy the float32 rows `indices` (ascending) of src_path to dst_path; check their norms."""
    size = os.path.getsize(src_path)
    if size != n_rows_expected * ROW_BYTES:
        raise SystemExit("%s: %d bytes, expected %d rows x %d float32" % (src_path, size, n_rows_expected, DIM))
    worst = 0.0
    with open(src_path, "rb") as src, open(dst_path, "wb") as dst:
        for i in indices:
            src.seek(i * ROW_BYTES)
            row = src.read(ROW_BYTES)
            if len(row) != ROW_BYTES:
                raise SystemExit("%s: short read at row %d" % (src_path, i))
            vals = struct.unpack("<%df" % DIM, row)
            norm = math.sqrt(sum(v * v for v in vals))
            worst = max(worst, abs(norm - 1.0))
            dst.write(row)
    return worst


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source_dir", help="rustdocs corpus directory")
    ap.add_argument("output_dir", help="where to write the sample (created if missing)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--queries", type=int, default=500, help="number of sample queries (default 500)")
    ap.add_argument("--docs", type=int, default=2000, help="number of sample documents (default 2000)")
    args = ap.parse_args(argv)

    src = args.source_dir
    out = args.output_dir
    rng = random.Random(args.seed)

    doc_lines, docs = read_jsonl_lines(os.path.join(src, "docs.jsonl"))
    _, queries = read_jsonl_lines(os.path.join(src, "queries.jsonl"))
    qrel_lines, qrels = read_jsonl_lines(os.path.join(src, "qrels.jsonl"))

    doc_index = {}
    for i, d in enumerate(docs):
        if d["id"] in doc_index:
            raise SystemExit("duplicate document id %r" % d["id"])
        doc_index[d["id"]] = i

    # Relevant documents per query (the corpus has exactly one; more are handled too).
    rel_by_qid = {}
    for q in qrels:
        if q["docid"] not in doc_index:
            raise SystemExit("qrels refers to unknown document %r" % q["docid"])
        rel_by_qid.setdefault(q["qid"], []).append(q["docid"])

    # Kind of each query from its relevant document id(s).
    by_kind = {"api": [], "book": []}
    query_kind = []
    for qi, q in enumerate(queries):
        rels = rel_by_qid.get(q["id"])
        if not rels:
            raise SystemExit("query %r has no relevant document" % q["id"])
        kinds = {kind_of_docid(d) for d in rels}
        if len(kinds) != 1:
            raise SystemExit("query %r has relevant documents of mixed kinds" % q["id"])
        k = kinds.pop()
        query_kind.append(k)
        by_kind[k].append(qi)

    # Stratified draw: the api share of the sample follows the corpus share (rounded down).
    n_total = len(queries)
    if args.queries > n_total:
        raise SystemExit("asked for %d queries, corpus has %d" % (args.queries, n_total))
    n_api = args.queries * len(by_kind["api"]) // n_total
    n_book = args.queries - n_api
    chosen_q = sorted(rng.sample(by_kind["api"], n_api) + rng.sample(by_kind["book"], n_book))

    # Documents: the relevant ones, then random fillers, in corpus order.
    rel_docs = set()
    for qi in chosen_q:
        for d in rel_by_qid[queries[qi]["id"]]:
            rel_docs.add(doc_index[d])
    if len(rel_docs) > args.docs:
        raise SystemExit("%d relevant documents exceed the %d-document budget" % (len(rel_docs), args.docs))
    others = [i for i in range(len(docs)) if i not in rel_docs]
    fillers = rng.sample(others, args.docs - len(rel_docs))
    chosen_d = sorted(rel_docs.union(fillers))
    chosen_ids = {docs[i]["id"] for i in chosen_d}

    os.makedirs(out, exist_ok=True)

    # docs.jsonl: original lines verbatim.
    with open(os.path.join(out, "docs.jsonl"), "w", encoding="utf-8", newline="\n") as f:
        for i in chosen_d:
            f.write(doc_lines[i] + "\n")

    # queries.jsonl: {"id", "text", "kind"}.
    with open(os.path.join(out, "queries.jsonl"), "w", encoding="utf-8", newline="\n") as f:
        for qi in chosen_q:
            q = queries[qi]
            f.write(json.dumps({"id": q["id"], "text": q["text"], "kind": query_kind[qi]}, ensure_ascii=False) + "\n")

    # qrels.jsonl: original lines verbatim, in sample query order.
    chosen_qids = {queries[qi]["id"] for qi in chosen_q}
    qrel_by_qid = {}
    for line, q in zip(qrel_lines, qrels):
        if q["qid"] in chosen_qids:
            qrel_by_qid.setdefault(q["qid"], []).append(line)
    n_qrels = 0
    with open(os.path.join(out, "qrels.jsonl"), "w", encoding="utf-8", newline="\n") as f:
        for qi in chosen_q:
            for line in qrel_by_qid[queries[qi]["id"]]:
                f.write(line + "\n")
                n_qrels += 1

    # Vectors.
    worst_d = copy_rows(os.path.join(src, "docs.f32"), len(docs), chosen_d, os.path.join(out, "docs.f32"))
    worst_q = copy_rows(os.path.join(src, "queries.f32"), len(queries), chosen_q, os.path.join(out, "queries.f32"))

    # Self-checks.
    assert len(chosen_d) == args.docs
    assert os.path.getsize(os.path.join(out, "docs.f32")) == args.docs * ROW_BYTES
    assert os.path.getsize(os.path.join(out, "queries.f32")) == len(chosen_q) * ROW_BYTES
    for qid in chosen_qids:
        for line in qrel_by_qid[qid]:
            assert json.loads(line)["docid"] in chosen_ids
    if max(worst_d, worst_q) > 1e-3:
        raise SystemExit("vector norm off by %.2e" % max(worst_d, worst_q))

    n_api_docs = sum(1 for i in chosen_d if docs[i]["id"].startswith("api:"))
    print(json.dumps({
        "seed": args.seed,
        "queries": len(chosen_q),
        "queries_api": n_api,
        "queries_book": n_book,
        "qrels": n_qrels,
        "docs": len(chosen_d),
        "docs_relevant": len(rel_docs),
        "docs_filler": len(chosen_d) - len(rel_docs),
        "docs_api": n_api_docs,
        "docs_book": len(chosen_d) - n_api_docs,
        "max_norm_error_docs": worst_d,
        "max_norm_error_queries": worst_q,
    }, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
