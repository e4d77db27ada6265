"""One logical vjson database over N shards, each held by a Ray actor.

::

    import ray, vjson.distributed
    ray.init()
    db = vjson.distributed.ShardedVectorDB("/data/db", dimension=384, num_shards=3)
    db.insert_batch(ids=ids, vectors=X, texts=texts)
    hits = db.hybrid_search(query_vector=q, query_text="ownership", k=10)

Each shard is an ordinary on-disk vjson database in ``root/shard-NNNN``, opened inside its
actor (only ids, arrays, dicts and strings cross the wire). Actors restart when they die
(``max_restarts``), reopening their shard, which replays its write-ahead log, and the
calls in flight are retried (``max_task_retries``): every acknowledged write survives.
Place an actor on the node that holds its shard's disk with ``actor_options`` (e.g. a
custom resource).

Routing: a document lives on shard ``blake2b-64(id) mod num_shards`` (stable across
processes, machines and Python versions; never Python's ``hash()``). The shard count is
recorded in ``root/vjson-shards.json`` and cannot change.

Ranking: vector search fans out and merges by score (vector scores are comparable across
shards): at an exhaustive ``ef_search`` the top k equals a single database's. Hybrid
search fetches each side's top candidates from every shard, merges each side globally and
fuses once here, with the same fusion as a single database — it never merges per-shard
fused scores. BM25 statistics (document count, document frequencies, average length) are
per shard, so text scores differ slightly from a single database's (more so with few
documents per shard): text and hybrid results are close to, not identical with, a single
database's (the tests measure the overlap on the bundled sample). With one shard the score
fusions (zscore, weighted, average, DBSF, min, max) give exactly a single database's answers; RRF,
which reads ranks, can differ where one side has an exact tie (a database orders tied hits
by row, the merge of shards by id).

Writes: a batch is split by shard, one call per shard. It is first checked on every shard
(dimension, values, ids, metadata; on insert, ids that exist), then written; each shard's
part is written all or nothing. Only a failure between the check and the write (a full
disk, a lost node) can leave a batch written on some shards and not others. Two clients
inserting the same new id at the same moment can both pass the check; the second write then
fails on that shard with ``DuplicateIdError`` after the other shards took their parts (give
each id one writer, or use ``upsert_batch``).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from types import TracebackType
from typing import Any, Iterable, Literal, Mapping, Sequence

import numpy as np
import numpy.typing as npt

from vjson._vjson import DEFAULT_CANDIDATES, DEFAULT_FUSION, PyVectorDB, fuse
from vjson.errors import ClosedError, DuplicateIdError, InvalidArgumentError, InvalidOptionsError, InvalidQueryError
from vjson.types import JSON, Filter, Hit, Item, StoredDocument, VectorLike

__all__ = ["ShardedVectorDB", "shard_of"]

LAYOUT = "vjson-shards.json"


def _ray() -> Any:
    """Ray, imported when a sharded database is first used (vjson itself needs no Ray)."""
    try:
        import ray
    except ImportError as e:
        raise ImportError("vjson.distributed needs Ray: pip install ray") from e
    return ray


def shard_of(id: str, num_shards: int) -> int:
    """The shard that owns ``id``: blake2b (8 bytes, little-endian) of its UTF-8 bytes,
    modulo ``num_shards``."""
    digest = hashlib.blake2b(id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") % num_shards


class _Shard:
    """A Ray actor's state: one shard's database, opened in the actor's process."""

    def __init__(self, path: str, options: dict[str, Any]) -> None:
        # An error opening the shard is kept and raised by the first call (`count`), so the
        # caller sees the database's own exception; Ray would report a dead actor instead.
        self.error: BaseException | None = None
        try:
            self.db = PyVectorDB(path, **options)
        except Exception as e:  # noqa: BLE001 - re-raised by count()
            self.error = e

    def pid(self) -> int:
        return os.getpid()

    def check(self, ids: list[str], vectors: np.ndarray, metadatas: list[Any], texts: list[Any],
              titles: list[Any], replace: bool) -> None:
        self.db.validate_batch(ids=ids, vectors=vectors, metadatas=metadatas, texts=texts, titles=titles,
                               replace=replace)

    def write(self, ids: list[str], vectors: np.ndarray, metadatas: list[Any], texts: list[Any],
              titles: list[Any], replace: bool) -> None:
        if replace:
            self.db.upsert_batch(ids=ids, vectors=vectors, metadatas=metadatas, texts=texts, titles=titles)
        else:
            self.db.insert_batch(ids=ids, vectors=vectors, metadatas=metadatas, texts=texts, titles=titles)

    def delete(self, id: str, retry: bool) -> None:
        """Deletes ``id``; on a retry after a restart, a missing id means the first call
        did delete it."""
        if retry and id not in self.db:
            return
        self.db.delete(id)

    def get(self, id: str) -> StoredDocument | None:
        return self.db.get(id)

    def contains(self, id: str) -> bool:
        return id in self.db

    def count(self) -> int:
        if self.error is not None:
            raise self.error
        return len(self.db)

    def search(self, vector: np.ndarray, k: int, filter: Any, ef_search: int | None) -> list[Hit]:
        return self.db.search(vector, k=k, filter=filter, ef_search=ef_search)

    def search_batch(self, vectors: np.ndarray, k: int, filter: Any, ef_search: int | None) -> list[list[Hit]]:
        return [self.db.search(v, k=k, filter=filter, ef_search=ef_search) for v in vectors]

    def text_search(self, text: str, k: int, filter: Any) -> list[Hit]:
        return self.db.text_search(text, k=k, filter=filter)

    def sides(self, vector: np.ndarray, text: str, k: int, fusion: str | None, filter: Any,
              ef_search: int | None) -> Any:
        """Both sides of a hybrid query in one call, as (id, score) pairs only
        (``PyVectorDB.sides``): the texts and metadata of the few hits that survive fusion
        are fetched afterwards."""
        return self.db.sides(vector, text, k=k, fusion=fusion, filter=filter, ef_search=ef_search, candidates=k)

    def fields(self, ids: list[str]) -> list[tuple[str | None, str | None, Any]]:
        """(text, title, metadata) of each id."""
        out: list[tuple[str | None, str | None, Any]] = []
        for id_ in ids:
            d = self.db.get(id_)
            out.append((d["text"], d["title"], d["metadata"]) if d is not None else (None, None, None))
        return out

    def flush(self) -> None:
        self.db.flush()

    def close(self) -> None:
        self.db.close()

    def stats(self) -> dict[str, Any]:
        return self.db.stats()


def _merge(lists: Iterable[list[Hit]], k: int) -> list[Hit]:
    """The best ``k`` hits of per-shard lists, by score (ties by id)."""
    every = [h for hits in lists for h in hits]
    every.sort(key=lambda h: (-h["combined_score"], h["id"]))
    return every[:k]


def _merge_pairs(lists: Iterable[list[tuple[str, float]]], k: int) -> list[tuple[str, float]]:
    """The best ``k`` (id, score) pairs of per-shard lists (ties by id)."""
    every = [p for pairs in lists for p in pairs]
    every.sort(key=lambda p: (-p[1], p[0]))
    return every[:k]


class ShardedVectorDB:
    """A vjson database split over ``num_shards`` Ray actors (see the module docs).

    ``root`` holds one directory per shard; reopening needs no ``dimension`` nor
    ``num_shards`` (they are recorded there; when given they must match). Other keyword
    options (``m``, ``ef_construction``, ``ef_search``, ``durability``) are passed to every
    shard's ``PyVectorDB``. ``actor_options`` go to Ray's ``.options()`` of each actor
    (e.g. ``num_cpus``, ``resources``); ``max_restarts`` and ``max_task_retries`` default
    to unlimited. Ray must be initialised (``ray.init()``) or it starts a local instance.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        dimension: int | None = None,
        num_shards: int | None = None,
        enable_fulltext: bool = True,
        metric: str = "cosine",
        *,
        actor_options: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> None:
        ray = _ray()
        self.root = Path(root)
        layout_path = self.root / LAYOUT
        if layout_path.exists():
            layout = json.loads(layout_path.read_text())
            for name, given in (("num_shards", num_shards), ("dimension", dimension)):
                if given is not None and given != layout[name]:
                    raise InvalidOptionsError(
                        f"{self.root} holds a sharded database with {name} {layout[name]}, not {given}; "
                        "the shard count and dimension are fixed when it is created")
            num_shards, dimension = layout["num_shards"], layout["dimension"]
            enable_fulltext, metric = layout["enable_fulltext"], layout["metric"]
            if options.get("m", layout.get("m")) != layout.get("m"):
                raise InvalidOptionsError(f"{self.root} was created with m {layout.get('m')}, not {options['m']}")
            if layout.get("m") is not None:
                options["m"] = layout["m"]
        else:
            if dimension is None:
                raise InvalidOptionsError(f"{self.root} holds no sharded database; pass dimension= to create one")
            num_shards = 3 if num_shards is None else num_shards
            if num_shards < 1:
                raise InvalidOptionsError(f"num_shards must be at least 1, got {num_shards}")
            self.root.mkdir(parents=True, exist_ok=True)
            layout = {"format": "vjson-shards", "version": 1, "hash": "blake2b-64-le",
                      "num_shards": num_shards, "dimension": dimension,
                      "enable_fulltext": enable_fulltext, "metric": metric, "m": options.get("m")}
            tmp = layout_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(layout, indent=1))
            os.replace(tmp, layout_path)
        self.num_shards: int = num_shards
        self.dimension: int = dimension
        shard_options = dict(dimension=dimension, enable_fulltext=enable_fulltext, metric=metric, **options)
        opts = {"max_restarts": -1, "max_task_retries": -1, **(actor_options or {})}
        actor = ray.remote(_Shard).options(**opts)
        self._shards: list[Any] = [
            actor.remote(str(self.root / f"shard-{i:04d}"), shard_options) for i in range(num_shards)
        ]
        self._open = True
        try:
            self._call("count")  # every shard open, or its error raised here
        except BaseException:
            # No actor is left holding its shard's lock.
            self._open = False
            for shard in self._shards:
                _ray().kill(shard, no_restart=True)
            raise

    # --- plumbing ------------------------------------------------------------------------

    def _get(self, refs: Any) -> Any:
        ray = _ray()
        try:
            return ray.get(refs)
        except ray.exceptions.RayTaskError as e:
            # The shard's own exception (a VjsonError with its code), not Ray's wrapper.
            cause = getattr(e, "cause", None)
            if isinstance(cause, BaseException):
                raise cause from None
            raise

    def _call(self, method: str, *args: Any) -> list[Any]:
        """``method(*args)`` on every shard, in parallel."""
        self._check_open()
        results: list[Any] = self._get([getattr(s, method).remote(*args) for s in self._shards])
        return results

    def _owner(self, id: str) -> Any:
        self._check_open()
        if not isinstance(id, str):
            raise InvalidArgumentError(f"ids are str, not {type(id).__name__}")
        return self._shards[shard_of(id, self.num_shards)]

    def _check_open(self) -> None:
        if not self._open:
            raise ClosedError("this sharded database is closed; open it again with ShardedVectorDB(root)")

    @property
    def shards(self) -> list[Any]:
        """The shard actors (Ray actor handles), in shard order."""
        return list(self._shards)

    # --- writes --------------------------------------------------------------------------

    def _columns(self, items: Iterable[Item] | None, ids: Sequence[str] | None, vectors: VectorLike | None,
                 metadatas: Sequence[Any] | None, texts: Sequence[Any] | None,
                 titles: Sequence[Any] | None) -> tuple[list[str], np.ndarray, list[Any], list[Any], list[Any]]:
        if items is not None:
            if any(c is not None for c in (ids, vectors, metadatas, texts, titles)):
                raise InvalidArgumentError("pass either items or the columns (ids=, vectors=, ...), not both")
            ids, vecs, metadatas, texts, titles = [], [], [], [], []
            for i, item in enumerate(items):
                t: tuple[Any, ...]
                if isinstance(item, Mapping):
                    extra = set(item) - {"id", "vector", "metadata", "text", "title"}
                    if extra or "id" not in item or "vector" not in item:
                        raise InvalidArgumentError(
                            f"item {i}: a dict needs id and vector (and may have metadata, text, title)")
                    t = (item["id"], item["vector"], item.get("metadata"), item.get("text"), item.get("title"))
                else:
                    t = tuple(item)
                    if not 2 <= len(t) <= 5:
                        raise InvalidArgumentError(f"item {i}: expected (id, vector[, metadata[, text[, title]]])")
                    t = t + (None,) * (5 - len(t))
                ids.append(t[0])
                vecs.append(t[1])
                metadatas.append(t[2])
                texts.append(t[3])
                titles.append(t[4])
            vectors = vecs
        if ids is None or vectors is None:
            raise InvalidArgumentError("pass items, or ids= and vectors= (with metadatas=, texts=, titles=)")
        if isinstance(ids, str):
            raise InvalidArgumentError("ids must be a sequence of str, not one str")
        ids = list(ids)
        try:
            X = np.asarray(vectors, dtype=np.float32, order="C")
        except (TypeError, ValueError) as e:
            raise InvalidArgumentError(f"vectors must be numbers: {e}") from None
        if X.ndim != 2 or X.shape[0] != len(ids):
            raise InvalidArgumentError(f"{len(ids)} ids need a ({len(ids)}, d) array of vectors, got shape {X.shape}")
        n = len(ids)
        metadatas = [None] * n if metadatas is None else list(metadatas)
        texts = [None] * n if texts is None else list(texts)
        titles = [None] * n if titles is None else list(titles)
        if len(metadatas) != n or len(texts) != n or len(titles) != n:
            raise InvalidArgumentError(
                f"{n} ids but {len(metadatas)} metadatas, {len(texts)} texts and {len(titles)} titles")
        return ids, X, metadatas, texts, titles

    def _write(self, replace: bool, *args: Any) -> None:
        ids, X, metas, texts, titles = self._columns(*args)
        for id_ in ids:
            self._owner(id_)  # type check
        parts: dict[int, list[int]] = {}
        for i, id_ in enumerate(ids):
            parts.setdefault(shard_of(id_, self.num_shards), []).append(i)
        seen: set[str] = set()
        for id_ in ids:
            if id_ in seen:
                raise DuplicateIdError(f'id "{id_}" appears twice in this batch')
            seen.add(id_)

        def part(rows: list[int]) -> tuple[list[str], np.ndarray, list[Any], list[Any], list[Any]]:
            return ([ids[r] for r in rows], X[rows], [metas[r] for r in rows], [texts[r] for r in rows],
                    [titles[r] for r in rows])

        # Check every part on its shard, then write: a bad document fails the whole batch.
        self._get([self._shards[s].check.remote(*part(rows), replace) for s, rows in parts.items()])
        self._once_each({s: ("write", (*part(rows), replace), (*part(rows), True)) for s, rows in parts.items()})

    def _once_each(self, calls: dict[int, tuple[str, tuple[Any, ...], tuple[Any, ...]]]) -> None:
        """Runs a write on each shard once: Ray does not retry these by itself (a write the
        shard logged before it died would then fail as a duplicate). A shard that died
        during its call is called again, once it restarted, with the retry arguments:
        an insert then as an upsert of the same documents, which the check above found
        absent, so either way the shard ends with exactly them."""
        ray = _ray()
        refs = {s: getattr(self._shards[s], m).options(max_task_retries=0).remote(*args)
                for s, (m, args, _) in calls.items()}
        for s, ref in refs.items():
            try:
                self._get(ref)
            except ray.exceptions.RayActorError:
                method, _, retry_args = calls[s]
                self._get(getattr(self._shards[s], method).remote(*retry_args))

    def insert(self, id: str, vector: VectorLike, metadata: Mapping[str, JSON] | None = None,
               text: str | None = None, title: str | None = None) -> None:
        """Inserts one document on the shard that owns its id."""
        self._write(False, [(id, vector, metadata, text, title)], None, None, None, None, None)

    def insert_batch(self, items: Iterable[Item] | None = None, *, ids: Sequence[str] | None = None,
                     vectors: VectorLike | None = None, metadatas: Sequence[Mapping[str, JSON] | None] | None = None,
                     texts: Sequence[str | None] | None = None, titles: Sequence[str | None] | None = None) -> None:
        """Inserts many documents (tuples, dicts or columns as ``PyVectorDB.insert_batch``):
        one call per shard, checked on every shard before any is written."""
        self._write(False, items, ids, vectors, metadatas, texts, titles)

    def upsert(self, id: str, vector: VectorLike, metadata: Mapping[str, JSON] | None = None,
               text: str | None = None, title: str | None = None) -> None:
        """Inserts or replaces one document on the shard that owns its id."""
        self._write(True, [(id, vector, metadata, text, title)], None, None, None, None, None)

    def upsert_batch(self, items: Iterable[Item] | None = None, *, ids: Sequence[str] | None = None,
                     vectors: VectorLike | None = None, metadatas: Sequence[Mapping[str, JSON] | None] | None = None,
                     texts: Sequence[str | None] | None = None, titles: Sequence[str | None] | None = None) -> None:
        """``insert_batch`` that replaces documents whose id exists."""
        self._write(True, items, ids, vectors, metadatas, texts, titles)

    def delete(self, id: str) -> None:
        """Deletes a document from its shard; a missing id is a ``NotFoundError``."""
        self._owner(id)  # checks the id's type, and that the database is open
        self._once_each({shard_of(id, self.num_shards): ("delete", (id, False), (id, True))})

    # --- reads ---------------------------------------------------------------------------

    def get(self, id: str) -> StoredDocument | None:
        """The document with this id (from its shard), or ``None``."""
        doc: StoredDocument | None = self._get(self._owner(id).get.remote(id))
        return doc

    def __contains__(self, id: object) -> bool:
        return isinstance(id, str) and bool(self._get(self._owner(id).contains.remote(id)))

    def __len__(self) -> int:
        return sum(self._call("count"))

    def search(self, query_vector: VectorLike, k: int = 10, filter: Filter | None = None,
               ef_search: int | None = None) -> list[Hit]:
        """Vector search on every shard, merged by score."""
        q = np.asarray(query_vector, dtype=np.float32)
        return _merge(self._call("search", q, k, filter, ef_search), k)

    def text_search(self, query_text: str, k: int = 10, filter: Filter | None = None) -> list[Hit]:
        """Full-text search on every shard, merged by BM25 score (statistics per shard)."""
        return _merge(self._call("text_search", query_text, k, filter), k)

    def hybrid_search(self, query_vector: VectorLike | None = None, query_text: str | None = None, k: int = 10,
                      fusion: str | None = None, filter: Filter | None = None, ef_search: int | None = None,
                      candidates: int | None = None) -> list[Hit]:
        """Hybrid search: each side's top ``candidates`` from every shard, merged globally,
        then fused once (as a single database fuses its two sides)."""
        if query_vector is None and query_text is None:
            raise InvalidQueryError("invalid query: a query needs a vector, a text, or both")
        if query_text is None:
            return self.search(query_vector, k, filter, ef_search)  # type: ignore[arg-type]
        if query_vector is None:
            return self.text_search(query_text, k, filter)
        c = max(candidates if candidates is not None else DEFAULT_CANDIDATES, k)
        q = np.asarray(query_vector, dtype=np.float32)
        both = self._call("sides", q, query_text, c, fusion, filter, ef_search)
        # Each side's global best: the best of every shard's own results.
        vec = _merge_pairs((v[:nv] for (v, nv), _ in both), c)
        txt = _merge_pairs((t[:nt] for _, (t, nt) in both), c)
        # Under z-score fusion every candidate carries both scores, as in one database
        # (when both sides found something): a row among a side's global best was among
        # its shard's, and that shard scored it on the other side too — unless that shard's
        # other side found nothing, which means the row scores 0 there.
        vscore = {i: s for (v, _), _ in both for i, s in v}
        tscore = {i: s for _, (t, _) in both for i, s in t}
        if (fusion or DEFAULT_FUSION).strip().lower().split(":")[0] == "zscore" and vec and txt:
            in_vec, in_txt = {i for i, _ in vec}, {i for i, _ in txt}
            vec = vec + [(i, vscore.get(i, 0.0)) for i, _ in txt if i not in in_vec]
            txt = txt + [(i, tscore.get(i, 0.0)) for i, _ in vec if i not in in_txt]
        else:
            vscore, tscore = dict(vec), dict(txt)
        top = fuse(vec, txt, fusion)[:k]
        # The texts, titles and metadata of the hits, from their shards (one call per shard).
        wanted: dict[int, list[str]] = {}
        for id_, _ in top:
            wanted.setdefault(shard_of(id_, self.num_shards), []).append(id_)
        got = self._get([self._shards[s].fields.remote(ids) for s, ids in wanted.items()])
        fields = {id_: f for ids, fs in zip(wanted.values(), got) for id_, f in zip(ids, fs)}
        out: list[Hit] = []
        for id_, score in top:
            text, title, metadata = fields[id_]
            out.append({"id": id_, "combined_score": score, "vector_score": vscore.get(id_),
                        "text_score": tscore.get(id_), "text": text, "title": title, "metadata": metadata})
        return out

    def search_batch(self, query_vectors: VectorLike, k: int = 10, filter: Filter | None = None,
                     ef_search: int | None = None) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.float32]]:
        """``search`` for every row of ``query_vectors``: ``(ids, scores)`` arrays as
        ``PyVectorDB.search_batch``."""
        Q = np.asarray(query_vectors, dtype=np.float32, order="C")
        if Q.ndim != 2:
            raise InvalidArgumentError(f"query_vectors must be a 2-D array, got shape {Q.shape}")
        per_shard = self._call("search_batch", Q, k, filter, ef_search)
        ids = np.full((len(Q), k), None, dtype=object)
        scores = np.full((len(Q), k), np.nan, dtype=np.float32)
        for r in range(len(Q)):
            for j, h in enumerate(_merge((s[r] for s in per_shard), k)):
                ids[r, j], scores[r, j] = h["id"], h["combined_score"]
        return ids, scores

    # --- lifecycle -----------------------------------------------------------------------

    def flush(self) -> None:
        """Flushes every shard."""
        self._call("flush")

    def stats(self) -> list[dict[str, Any]]:
        """Every shard's ``stats()``, in shard order."""
        stats: list[dict[str, Any]] = self._call("stats")
        return stats

    def close(self) -> None:
        """Closes every shard and ends its actor. Closing twice is allowed."""
        if not self._open:
            return
        try:
            self._call("close")
        finally:
            self._open = False
            for s in self._shards:
                _ray().kill(s, no_restart=True)

    def __enter__(self) -> ShardedVectorDB:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> Literal[False]:
        self.close()
        return False

    def __repr__(self) -> str:
        return f"ShardedVectorDB({str(self.root)!r}, dimension={self.dimension}, num_shards={self.num_shards})"
