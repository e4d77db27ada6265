#!/usr/bin/env python3
"""Cut a small prefix sample out of a corpus directory.

Usage: make_sample.py CORPUS_DIR OUT_DIR [--docs 300] [--queries 60]

Keeps the first --docs documents of docs.jsonl (and the same rows of docs.f32), and the queries,
in corpus order, whose relevant document is among them, at most --queries of them (with their
rows of queries.f32 and their qrels lines). Lines are copied verbatim, so the files have the
corpus format. Prints the counts; warns when fewer than --queries queries qualify. Standard
library only.
"""
import argparse
import json
import os
import sys

DIM = 384
ROW = DIM * 4


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus_dir")
    ap.add_argument("out_dir")
    ap.add_argument("--docs", type=int, default=300)
    ap.add_argument("--queries", type=int, default=60)
    a = ap.parse_args()
    C, O = a.corpus_dir, a.out_dir
    doc_lines = open(os.path.join(C, "docs.jsonl"), encoding="utf-8").read().splitlines()
    q_lines = open(os.path.join(C, "queries.jsonl"), encoding="utf-8").read().splitlines()
    r_lines = open(os.path.join(C, "qrels.jsonl"), encoding="utf-8").read().splitlines()
    assert os.path.getsize(os.path.join(C, "docs.f32")) == len(doc_lines) * ROW
    assert os.path.getsize(os.path.join(C, "queries.f32")) == len(q_lines) * ROW
    keep_docs = {json.loads(l)["id"] for l in doc_lines[:a.docs]}
    rels = {}
    for l in r_lines:
        r = json.loads(l)
        rels.setdefault(r["qid"], []).append((r["docid"], l))
    chosen = []  # query row indices
    for i, l in enumerate(q_lines):
        qid = json.loads(l)["id"]
        if all(d in keep_docs for d, _ in rels[qid]):
            chosen.append(i)
            if len(chosen) == a.queries:
                break
    os.makedirs(O, exist_ok=True)
    with open(os.path.join(O, "docs.jsonl"), "w", encoding="utf-8", newline="\n") as f:
        for l in doc_lines[:a.docs]:
            f.write(l + "\n")
    with open(os.path.join(O, "queries.jsonl"), "w", encoding="utf-8", newline="\n") as f, \
            open(os.path.join(O, "qrels.jsonl"), "w", encoding="utf-8", newline="\n") as g:
        for i in chosen:
            f.write(q_lines[i] + "\n")
            for _, l in rels[json.loads(q_lines[i])["id"]]:
                g.write(l + "\n")
    with open(os.path.join(C, "docs.f32"), "rb") as src, open(os.path.join(O, "docs.f32"), "wb") as dst:
        dst.write(src.read(a.docs * ROW))
    with open(os.path.join(C, "queries.f32"), "rb") as src, open(os.path.join(O, "queries.f32"), "wb") as dst:
        for i in chosen:
            src.seek(i * ROW)
            dst.write(src.read(ROW))
    n_docs = min(a.docs, len(doc_lines))
    print(json.dumps({"docs": n_docs, "queries": len(chosen)}))
    if len(chosen) < a.queries:
        print(f"warning: only {len(chosen)} queries have their relevant document among the first "
              f"{n_docs} documents", file=sys.stderr)


if __name__ == "__main__":
    main()
