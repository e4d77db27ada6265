#!/usr/bin/env python3
"""De-duplicate candidate documents, sample the corpus and build known-item queries.

Usage: make_corpus.py CANDIDATES_JSONL OUT_DIR [--max-docs 30000] [--min-docs 20000]
                      [--queries 2000] [--seed 42]

Copied from the rustdocs build; changes for the Python docs (pydocs): candidates may carry
"prio" (sort priority for de-duplication, lower first; default from the Rust crate order) and
"dedup_rel" (the key for re-export duplicates; default the Rust path below the crate root),
and the per-book / per-module statistics read the candidates' "book" and "crate" fields.

Writes OUT_DIR/docs.jsonl, queries.jsonl, qrels.jsonl and OUT_DIR/build_stats.json.
"""
import argparse
import collections
import hashlib
import json
import os
import random
import re

WS = re.compile(r"\s+")
CRATE_PRIO = {"std": 0, "alloc": 1, "core": 2, "proc_macro": 3, "test": 4}


def norm(s):
    return WS.sub(" ", s).strip()


def qkey(s):
    return norm(s).lower()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cands")
    ap.add_argument("out_dir")
    ap.add_argument("--max-docs", type=int, default=30000)
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--min-remaining", type=int, default=100,
                    help="API docs must keep at least this many characters after the query sentence is removed")
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    cands = [json.loads(l) for l in open(a.cands)]
    stats = collections.OrderedDict()
    stats["candidates"] = len(cands)

    # ---- API: unique ids (macro / derive / attr share names with modules and traits)
    for d in cands:
        if d["kind"] != "api":
            continue
        k = d["item_kind"]
        if k == "macro":
            d["title"] = d["title"] + "!"
        elif k in ("derive", "attr"):
            d["title"] = f"{k}@{d['title']}"
        d["id"] = "api:" + d["title"]

    # ---- API: drop re-export duplicates, keep std over alloc over core
    api = [d for d in cands if d["kind"] == "api"]
    api.sort(key=lambda d: (d.get("prio", CRATE_PRIO.get(d["crate"], len(CRATE_PRIO))), len(d["title"]), d["title"]))
    seen, kept_api = set(), []
    dropped = 0
    for d in api:
        if "dedup_rel" in d:  # pydocs: the full dotted name
            rel = d["dedup_rel"]
        else:  # rustdocs: the path below the crate root
            rel = d["title"].split("::", 1)[1] if "::" in d["title"] else ""
        keys = [("rel", d["item_kind"], rel)]
        if d["has_doc"]:
            keys.append(("doc", d["dedup_key"]))
        if any(k in seen for k in keys):
            dropped += 1
            continue
        seen.update(keys)
        kept_api.append(d)
    stats["api_duplicates_dropped"] = dropped

    # ---- books: drop sections with identical text
    seen_txt, kept_book = set(), []
    bdup = 0
    for d in cands:
        if d["kind"] != "book":
            continue
        h = hashlib.sha1(d["text"].encode()).hexdigest()
        if h in seen_txt:
            bdup += 1
            continue
        seen_txt.add(h)
        kept_book.append(d)
    stats["book_duplicate_sections_dropped"] = bdup

    docs = kept_api + kept_book
    ids = collections.Counter(d["id"] for d in docs)
    assert all(v == 1 for v in ids.values()), [k for k, v in ids.items() if v > 1][:10]
    stats["after_dedup"] = len(docs)
    if len(docs) > a.max_docs:  # uniform sample with fixed seed
        docs = rng.sample(docs, a.max_docs)
        stats["sampled_to"] = len(docs)
    rng.shuffle(docs)

    # ---- queries
    # count every candidate query string over the whole corpus (first sentences and headings)
    cnt = collections.Counter()
    for d in docs:
        if d["kind"] == "api" and d.get("first_sentence"):
            cnt[qkey(d["first_sentence"])] += 1
        elif d["kind"] == "book" and d.get("heading"):
            cnt[qkey(d["heading"])] += 1
    api_q, book_q = [], []
    for i, d in enumerate(docs):
        if d["kind"] == "api":
            fs = norm(d.get("first_sentence") or "")
            if len(fs.split()) < 4 or len(fs) > 300 or cnt[qkey(fs)] != 1:
                continue
            if not d["text"].startswith(fs):
                continue
            rest = norm(d["text"][len(fs):])
            if len(rest) < a.min_remaining or fs in rest:
                continue
            api_q.append((i, fs, rest))
        else:
            h = norm(d.get("heading") or "")
            if len(h.split()) < 4 or cnt[qkey(h)] != 1:
                continue
            book_q.append((i, h, None))
    stats["eligible_api_queries"] = len(api_q)
    stats["eligible_book_queries"] = len(book_q)
    n_book = min(len(book_q), a.queries // 2)
    n_api = min(len(api_q), a.queries - n_book)
    chosen = rng.sample(book_q, n_book) + rng.sample(api_q, n_api)
    rng.shuffle(chosen)
    queries, qrels = [], []
    for j, (i, qt, rest) in enumerate(chosen):
        qid = f"q{j:05d}"
        if rest is not None:  # remove the summary sentence from the API document
            docs[i]["text"] = rest
        queries.append({"id": qid, "text": qt})
        qrels.append({"qid": qid, "docid": docs[i]["id"], "rel": 1})
    stats["queries_api"] = n_api
    stats["queries_book"] = n_book

    # sanity: no API query is a verbatim substring of its (modified) document text
    idx = {d["id"]: d for d in docs}
    for q, r in zip(queries, qrels):
        d = idx[r["docid"]]
        if d["kind"] == "api":
            assert q["text"] not in d["text"], q

    os.makedirs(a.out_dir, exist_ok=True)
    with open(os.path.join(a.out_dir, "docs.jsonl"), "w") as f:
        for d in docs:
            f.write(json.dumps({"id": d["id"], "title": d["title"], "text": d["text"], "kind": d["kind"]},
                               ensure_ascii=False) + "\n")
    with open(os.path.join(a.out_dir, "queries.jsonl"), "w") as f:
        for q in queries:
            f.write(json.dumps(q, ensure_ascii=False) + "\n")
    with open(os.path.join(a.out_dir, "qrels.jsonl"), "w") as f:
        for r in qrels:
            f.write(json.dumps(r) + "\n")
    kinds = collections.Counter(d["kind"] for d in docs)
    stats["docs"] = len(docs)
    stats["docs_api"] = kinds["api"]
    stats["docs_book"] = kinds["book"]
    stats["docs_api_arch"] = sum(1 for d in docs if d["kind"] == "api" and d.get("group") == "arch")
    stats["docs_by_book"] = dict(collections.Counter(
        (d.get("book") or "(root)") for d in docs if d["kind"] == "book").most_common())
    stats["docs_by_crate"] = dict(collections.Counter(
        d["crate"] for d in docs if d["kind"] == "api").most_common())
    stats["docs_api_by_item_kind"] = dict(collections.Counter(
        d["item_kind"] for d in docs if d["kind"] == "api").most_common())
    with open(os.path.join(a.out_dir, "build_stats.json"), "w") as f:
        json.dump(stats, f, indent=1)
    print(json.dumps(stats, indent=1))


if __name__ == "__main__":
    main()
