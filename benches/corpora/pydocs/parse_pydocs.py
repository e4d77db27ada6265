#!/usr/bin/env python3
"""Parse the Python HTML documentation (Sphinx, Debian package python3-doc) into candidate documents.

Usage: parse_pydocs.py HTML_ROOT OUT_JSONL [--workers 2]

HTML_ROOT is the documentation folder, e.g. /usr/share/doc/python3-doc/html.
Writes one JSON object per candidate document (before sampling) in the format that
make_corpus.py reads: fields id, title, text, kind ("api"|"book") and helper fields
  api:  crate (top-level module, from the id or else the page; "builtins"), group, item_kind (Sphinx object type:
        function, method, class, exception, attribute, data), first_sentence, dedup_key,
        has_doc, dedup_rel (the full dotted name), prio
  book: book (top-level folder of the page, "" for pages at the root), heading
        (section heading text, "" for a page intro)

API documents: every `<dl class="py ...">` block with an id under library/ (one per
documented object); the id is the object's full dotted name. The text is the block's
description (its <dd>) without the signature and without nested object blocks (a class's
methods and attributes, which are documents of their own), capped at 2,000 characters.

Book documents: every other page, and the prose of the library pages with their object
blocks removed, split into sections at h2/h3 headings.
"""
import argparse
import hashlib
import json
import os
import re
import sys
from multiprocessing import Pool

import lxml.html

CAP = 2000
# pages that are indexes, search or tables of contents rather than documentation text
SKIP_FILES = {"genindex.html", "search.html", "py-modindex.html", "contents.html", "index.html"}
SKIP_FILE_RE = re.compile(r"^genindex-.*\.html$")
SKIP_DIRS = {"_static", "_sources", "_images", "_downloads"}
SKIP_TAGS = {"script", "style", "button", "nav", "noscript", "svg"}
BLOCK_TAGS = {"p", "div", "pre", "li", "ul", "ol", "table", "tr", "td", "th", "h4", "h5", "h6",
              "blockquote", "section", "details", "summary", "dt", "dd", "dl", "br", "figure",
              "figcaption", "aside", "hr", "caption"}
TITLE_SUFFIX = re.compile(r"\s+\u2014\s+Python [0-9.]+\w* documentation$")
SECNUM = re.compile(r"^\d+(\.\d+)*\.\s+")

WS = re.compile(r"\s+")


def norm(s):
    return WS.sub(" ", s).strip()


def cap(s, n=CAP):
    s = norm(s)
    if len(s) <= n:
        return s
    cut = s[:n]
    sp = cut.rfind(" ")
    if sp > n * 0.8:
        cut = cut[:sp]
    return cut.rstrip()


def classes(e):
    return (e.get("class") or "").split()


def is_py_obj(e):
    """A Sphinx Python object description block: <dl class="py function"> etc."""
    return e.tag == "dl" and "py" in classes(e)


def obj_id(dl):
    for c in dl:
        if c.tag == "dt" and c.get("id"):
            return c.get("id")
    return None


def skip_chrome(c):
    cl = classes(c)
    return (c.tag in SKIP_TAGS or "headerlink" in cl or "section-number" in cl
            or "toctree-wrapper" in cl or "linenos" in cl)


def el_text(el, on_obj=None):
    """Text of an element with spaces between block elements and without UI chrome.

    on_obj: if given, nested Python object blocks are not descended into; on_obj(dl) is called.
    """
    out = []

    def walk(e):
        for c in e:
            if not isinstance(c.tag, str):  # comments etc.
                if c.tail:
                    out.append(c.tail)
                continue
            if skip_chrome(c):
                pass
            elif on_obj is not None and is_py_obj(c):
                on_obj(c)
                out.append(" ")
            else:
                blk = c.tag in BLOCK_TAGS
                if blk:
                    out.append(" ")
                if c.text:
                    out.append(c.text)
                walk(c)
                if blk:
                    out.append(" ")
            if c.tail:
                out.append(c.tail)

    if el.text:
        out.append(el.text)
    walk(el)
    return norm("".join(out))


SENT_RE = re.compile(r"^(.+?[.!?])(?=\s+[A-Z\[(`\"'‘“]|$)")


def first_sentence(par):
    par = norm(par)
    if not par:
        return ""
    m = SENT_RE.match(par)
    return m.group(1).strip() if m else par


def page_title(doc):
    t = doc.find(".//title")
    s = norm(t.text_content()) if t is not None else ""
    s = TITLE_SUFFIX.sub("", s)
    return SECNUM.sub("", s)


def main_body(doc):
    for d in doc.iter("div"):
        if d.get("role") == "main" and "body" in classes(d):
            return d
    return None


# ---------------------------------------------------------------- API objects

def dd_of(dl):
    for c in dl:
        if c.tag == "dd":
            return c
    return None


def api_docs(body, modules):
    out = []
    page_mod = ""  # the page's first module (section id "module-NAME"), for ids without a module prefix
    for e in body.iter("section", "span", "div"):
        i = e.get("id") or ""
        if i.startswith("module-"):
            page_mod = i[len("module-"):].split(".", 1)[0]
            break
    for dl in body.iter("dl"):
        if not is_py_obj(dl):
            continue
        oid = obj_id(dl)
        if not oid:  # :noindex: duplicate description
            continue
        item_kind = [c for c in classes(dl) if c != "py"]
        item_kind = item_kind[0] if item_kind else "object"
        dd = dd_of(dl)
        if dd is None:
            continue
        # nested objects (a class's methods and attributes) are left out: they are documents of their own
        main_text = el_text(dd, on_obj=lambda sub: None)
        fs = ""
        for c in dd:
            if not isinstance(c.tag, str):
                continue
            if c.tag == "p":
                fs = first_sentence(el_text(c))
            break  # the description must open with a paragraph
        text = cap(main_text)
        if len(text) < 20:
            continue
        top = oid.split(".", 1)[0]
        crate = top if top in modules else (page_mod or "builtins")
        name = oid.rsplit(".", 1)[-1]
        dkey = hashlib.sha1(f"{item_kind}|{name}|{norm(main_text)}".encode()).hexdigest()
        out.append({"id": "api:" + oid, "title": oid, "text": text, "kind": "api", "crate": crate,
                    "group": "other", "item_kind": item_kind, "first_sentence": fs, "dedup_key": dkey,
                    "has_doc": bool(main_text), "dedup_rel": oid, "prio": -len(text)})
    return out


# ---------------------------------------------------------------- sections

def section_docs(body, rel, ptitle, drop_objects):
    page_id = rel[:-5]
    sections = [{"anchor": "", "heading": "", "chunks": []}]

    def walk(e):
        for c in e:
            if not isinstance(c.tag, str):
                if c.tail:
                    sections[-1]["chunks"].append(c.tail)
                continue
            if c.tag in ("h1", "h2", "h3"):
                htext = el_text(c)
                par = c.getparent()
                hid = ""
                if par is not None and (par.tag == "section" or "section" in classes(par)):
                    hid = par.get("id") or ""
                if c.tag == "h1" or not hid:
                    # h1 (page title) or heading without anchor: keep in current section
                    sections[-1]["chunks"].append(" " + htext + " ")
                else:
                    sections.append({"anchor": hid, "heading": htext, "chunks": []})
            elif skip_chrome(c) or (drop_objects and is_py_obj(c)):
                pass
            else:
                blk = c.tag in BLOCK_TAGS
                if blk:
                    sections[-1]["chunks"].append(" ")
                if c.text:
                    sections[-1]["chunks"].append(c.text)
                walk(c)
                if blk:
                    sections[-1]["chunks"].append(" ")
            if c.tail:
                sections[-1]["chunks"].append(c.tail)

    if body.text:
        sections[0]["chunks"].append(body.text)
    walk(body)
    out = []
    book = rel.split("/")[0] if "/" in rel else ""
    for s in sections:
        text = norm("".join(s["chunks"]))
        if len(text) < 200:
            continue
        if s["anchor"]:
            did = f"book:{page_id}#{s['anchor']}"
            title = f"{ptitle} > {s['heading']}" if ptitle else s["heading"]
        else:
            did = f"book:{page_id}"
            title = ptitle
        out.append({"id": did, "title": title, "text": cap(text), "kind": "book", "book": book,
                    "heading": s["heading"]})
    return out


def parse_page(args):
    root, rel, modules = args
    with open(os.path.join(root, rel), "rb") as f:
        raw = f.read()
    try:
        doc = lxml.html.fromstring(raw)
    except Exception:
        return []
    body = main_body(doc)
    if body is None:
        return []
    ptitle = page_title(doc)
    is_lib = rel.startswith("library/")
    out = []
    if is_lib:
        out += api_docs(body, modules)
    out += section_docs(body, rel, ptitle, drop_objects=is_lib)
    return out


def module_names(root):
    """Top-level module names listed in py-modindex.html."""
    mods = set()
    p = os.path.join(root, "py-modindex.html")
    if os.path.exists(p):
        doc = lxml.html.parse(p).getroot()
        for code in doc.iter("code"):
            if "xref" in classes(code):
                mods.add(norm(code.text_content()).split(".")[0])
    return mods


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("html_root")
    ap.add_argument("out")
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    root = a.html_root
    files = []
    for dp, dn, fn in os.walk(root):
        dn[:] = sorted(d for d in dn if d not in SKIP_DIRS)
        for f in sorted(fn):
            if not f.endswith(".html"):
                continue
            rel = os.path.relpath(os.path.join(dp, f), root)
            if dp == root and (f in SKIP_FILES or SKIP_FILE_RE.match(f)):
                continue
            files.append(rel)
    # library pages first, then the rest, each in path order
    files.sort(key=lambda r: (not r.startswith("library/"), r))
    modules = module_names(root)
    print(f"pages {len(files)}, modules {len(modules)}", file=sys.stderr)
    n = {"api": 0, "book": 0}
    with Pool(a.workers) as pool, open(a.out, "w") as out:
        for rs in pool.imap(parse_page, [(root, f, modules) for f in files], chunksize=4):
            for r in rs:
                out.write(json.dumps(r, ensure_ascii=False) + "\n")
                n[r["kind"]] += 1
    print(f"wrote {n['api']} api and {n['book']} book candidate docs", file=sys.stderr)


if __name__ == "__main__":
    main()
