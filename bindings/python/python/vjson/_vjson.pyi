"""Type stubs of the native module ``vjson._vjson`` (checked with ``mypy.stubtest``)."""

import os
from types import TracebackType
from typing import Any, Iterable, Literal, Mapping, Sequence, final

import numpy as np
import numpy.typing as npt

from vjson.types import JSON, Filter, Hit, Item, StoredDocument, VectorLike

__all__ = ["PyVectorDB", "fuse", "ERROR_CODES", "DEFAULT_FUSION", "DEFAULT_CANDIDATES", "__version__"]
ERROR_CODES: list[str]
DEFAULT_FUSION: str
DEFAULT_CANDIDATES: int
__version__: str

@final
class PyVectorDB:
    def __new__(
        cls,
        path: str | os.PathLike[str] | None = None,
        dimension: int | None = None,
        enable_fulltext: bool = True,
        metric: str = "cosine",
        *,
        m: int | None = None,
        ef_construction: int | None = None,
        ef_search: int | None = None,
        title_boost: float | None = None,
        durability: str = "fsync",
        read_only: bool = False,
        limits: Mapping[str, int] | None = None,
    ) -> PyVectorDB: ...
    def insert(
        self,
        id: str,
        vector: VectorLike,
        metadata: Mapping[str, JSON] | None = None,
        text: str | None = None,
        title: str | None = None,
    ) -> None: ...
    def insert_batch(
        self,
        items: Iterable[Item] | None = None,
        *,
        ids: Sequence[str] | None = None,
        vectors: VectorLike | None = None,
        metadatas: Sequence[Mapping[str, JSON] | None] | None = None,
        texts: Sequence[str | None] | None = None,
        titles: Sequence[str | None] | None = None,
    ) -> None: ...
    def upsert(
        self,
        id: str,
        vector: VectorLike,
        metadata: Mapping[str, JSON] | None = None,
        text: str | None = None,
        title: str | None = None,
    ) -> None: ...
    def upsert_batch(
        self,
        items: Iterable[Item] | None = None,
        *,
        ids: Sequence[str] | None = None,
        vectors: VectorLike | None = None,
        metadatas: Sequence[Mapping[str, JSON] | None] | None = None,
        texts: Sequence[str | None] | None = None,
        titles: Sequence[str | None] | None = None,
    ) -> None: ...
    def validate_batch(
        self,
        items: Iterable[Item] | None = None,
        *,
        ids: Sequence[str] | None = None,
        vectors: VectorLike | None = None,
        metadatas: Sequence[Mapping[str, JSON] | None] | None = None,
        texts: Sequence[str | None] | None = None,
        titles: Sequence[str | None] | None = None,
        replace: bool = False,
    ) -> None: ...
    def delete(self, id: str) -> None: ...
    def get(self, id: str) -> StoredDocument | None: ...
    def __len__(self) -> int: ...
    def __contains__(self, id: object, /) -> bool: ...
    def search(
        self,
        query_vector: VectorLike,
        k: int = 10,
        filter: Filter | None = None,
        ef_search: int | None = None,
    ) -> list[Hit]: ...
    def hybrid_search(
        self,
        query_vector: VectorLike | None = None,
        query_text: str | None = None,
        k: int = 10,
        fusion: str | None = None,
        filter: Filter | None = None,
        ef_search: int | None = None,
        candidates: int | None = None,
    ) -> list[Hit]: ...
    def sides(
        self,
        query_vector: VectorLike,
        query_text: str,
        k: int = 10,
        fusion: str | None = None,
        filter: Filter | None = None,
        ef_search: int | None = None,
        candidates: int | None = None,
    ) -> tuple[tuple[list[tuple[str, float]], int], tuple[list[tuple[str, float]], int]]: ...
    def text_search(
        self, query_text: str, k: int = 10, filter: Filter | None = None
    ) -> list[Hit]: ...
    def search_batch(
        self,
        query_vectors: VectorLike,
        k: int = 10,
        filter: Filter | None = None,
        ef_search: int | None = None,
    ) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.float32]]: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...
    def compact(self) -> None: ...
    def stats(self) -> dict[str, Any]: ...
    def export_snapshot(self) -> bytes: ...
    @staticmethod
    def import_snapshot(data: bytes) -> PyVectorDB: ...
    @property
    def dimension(self) -> int: ...
    @property
    def metric(self) -> Literal["cosine", "dot", "l2"]: ...
    @property
    def path(self) -> str | None: ...
    @property
    def is_open(self) -> bool: ...
    def __enter__(self) -> PyVectorDB: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc: BaseException | None = None,
        tb: TracebackType | None = None,
    ) -> Literal[False]: ...

def fuse(
    vector_hits: Sequence[tuple[str, float]],
    text_hits: Sequence[tuple[str, float]],
    fusion: str | None = None,
) -> list[tuple[str, float]]: ...
