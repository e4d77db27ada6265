"""Types of the values vjson returns, for type checkers and readers (``vjson.types``)."""

from __future__ import annotations

from typing import Any, Mapping, TypedDict, Union

import numpy as np
import numpy.typing as npt

__all__ = ["JSON", "Filter", "Hit", "Item", "StoredDocument", "VectorLike"]

#: A JSON value (dict with str keys, list, str, int, float, bool or None).
JSON = Any

#: A vector: a 1-D float32 array (read in place), or anything numpy converts to one.
VectorLike = npt.ArrayLike

#: A Mongo-style metadata filter, as a dict or as JSON text.
Filter = Union[Mapping[str, JSON], str]

#: One document of ``insert_batch(items)``: ``(id, vector[, metadata[, text[, title]]])``
#: or a dict with those keys.
Item = Union[
    "tuple[str, VectorLike]",
    "tuple[str, VectorLike, Mapping[str, JSON] | None]",
    "tuple[str, VectorLike, Mapping[str, JSON] | None, str | None]",
    "tuple[str, VectorLike, Mapping[str, JSON] | None, str | None, str | None]",
    Mapping[str, Any],
]


class Hit(TypedDict):
    """One search result."""

    id: str
    #: The fused score (with one side only: that side's score); higher is better.
    combined_score: float
    #: Vector similarity, or None when the vector side did not find the document.
    vector_score: float | None
    #: BM25 score, or None when the text side did not find the document.
    text_score: float | None
    text: str | None
    #: The document's title (its own full-text field).
    title: str | None
    metadata: dict[str, JSON] | None


class StoredDocument(TypedDict):
    """What ``get`` returns."""

    id: str
    vector: npt.NDArray[np.float32]
    text: str | None
    title: str | None
    metadata: dict[str, JSON] | None
