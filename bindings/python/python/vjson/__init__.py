"""vjson: an embedded vector database with hybrid (vector + full-text) search.

The same Rust core as the ``vjson`` command and the npm package, through PyO3::

    import vjson
    db = vjson.PyVectorDB("./db", dimension=384, enable_fulltext=True)
    db.insert("doc1", embedding, {"category": "AI"}, text="Machine learning tutorial")
    hits = db.hybrid_search(query_vector=q, query_text="machine learning", k=10)

``vjson.VectorDB`` is the same class as ``vjson.PyVectorDB``. Errors are
:class:`vjson.VjsonError` subclasses with a stable ``code`` (see :mod:`vjson.errors`).
"""

from vjson._vjson import ERROR_CODES, PyVectorDB, __version__
from vjson.errors import (
    ClosedError,
    CorruptError,
    DimensionMismatchError,
    DuplicateIdError,
    InvalidArgumentError,
    InvalidFilterError,
    InvalidIdError,
    InvalidMetadataError,
    InvalidOptionsError,
    InvalidQueryError,
    InvalidSnapshotError,
    InvalidVectorError,
    LimitExceededError,
    LockedError,
    NotFoundError,
    ReadOnlyError,
    StorageError,
    TextIndexError,
    UnsupportedError,
    VjsonError,
)

VectorDB = PyVectorDB

__all__ = [
    "ERROR_CODES",
    "PyVectorDB",
    "VectorDB",
    "__version__",
    "ClosedError",
    "CorruptError",
    "DimensionMismatchError",
    "DuplicateIdError",
    "InvalidArgumentError",
    "InvalidFilterError",
    "InvalidIdError",
    "InvalidMetadataError",
    "InvalidOptionsError",
    "InvalidQueryError",
    "InvalidSnapshotError",
    "InvalidVectorError",
    "LimitExceededError",
    "LockedError",
    "NotFoundError",
    "ReadOnlyError",
    "StorageError",
    "TextIndexError",
    "UnsupportedError",
    "VjsonError",
]
