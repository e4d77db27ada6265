"""The exceptions vjson raises.

Every exception is a :class:`VjsonError` whose ``code`` is the core's stable error code (the
same string as Rust's ``Error::code()`` and the npm package's ``err.code``). Each subclass
also derives from the built-in exception a Python programmer would expect, so
``except ValueError`` / ``except KeyError`` / ``except OSError`` keep working.
"""

from __future__ import annotations

__all__ = [
    "VjsonError",
    "InvalidArgumentError",
    "DimensionMismatchError",
    "InvalidVectorError",
    "InvalidIdError",
    "DuplicateIdError",
    "NotFoundError",
    "InvalidMetadataError",
    "InvalidFilterError",
    "InvalidQueryError",
    "InvalidOptionsError",
    "InvalidSnapshotError",
    "UnsupportedError",
    "StorageError",
    "CorruptError",
    "LockedError",
    "ReadOnlyError",
    "TextIndexError",
    "ClosedError",
]


class VjsonError(Exception):
    """Base class of every vjson error; ``code`` is the stable machine-readable code."""

    code: str = "error"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        # KeyError's own __str__ would print the message's repr.
        return str(self.args[0]) if self.args else ""


class InvalidArgumentError(VjsonError, TypeError, ValueError):
    """An argument of the wrong type or shape (e.g. a 1-D array where rows are needed)."""

    code = "invalid_argument"


class DimensionMismatchError(VjsonError, ValueError):
    """A vector whose length is not the database's dimension."""

    code = "dimension_mismatch"


class InvalidVectorError(VjsonError, ValueError):
    """A vector with NaN or infinite values, or an all-zero vector under cosine."""

    code = "non_finite_vector"


class InvalidIdError(VjsonError, ValueError):
    """An empty id, or one longer than the limit."""

    code = "empty_id"


class DuplicateIdError(VjsonError, ValueError):
    """An insert of an id that already exists (use ``upsert`` to replace)."""

    code = "duplicate_id"


class NotFoundError(VjsonError, KeyError):
    """No document has this id."""

    code = "not_found"


class InvalidMetadataError(VjsonError, ValueError):
    """Metadata that is not a JSON object (or holds what JSON cannot)."""

    code = "invalid_metadata"


class InvalidFilterError(VjsonError, ValueError):
    """A metadata filter that does not parse or does not type-check."""

    code = "invalid_filter"


class InvalidQueryError(VjsonError, ValueError):
    """A query without a vector or a text, or with k out of range."""

    code = "invalid_query"


class InvalidOptionsError(VjsonError, ValueError):
    """Options out of range, or that differ from those the database was created with."""

    code = "invalid_options"


class InvalidSnapshotError(VjsonError, ValueError):
    """Bytes that are not a valid vjson snapshot."""

    code = "invalid_snapshot"


class UnsupportedError(VjsonError, ValueError):
    """An operation these options do not allow (e.g. text search with full text off)."""

    code = "unsupported"


class LimitExceededError(VjsonError, ValueError):
    """A request past one of the database's limits (``PyVectorDB(..., limits={...})``)."""

    code = "limit_exceeded"


class StorageError(VjsonError, OSError):
    """The database's files could not be read or written."""

    code = "io"


class CorruptError(StorageError):
    """A data file is damaged beyond what recovery repairs."""

    code = "corrupt"


class LockedError(StorageError):
    """Another open database (in this process or another) is writing this directory."""

    code = "locked"


class ReadOnlyError(StorageError):
    """A write on a database opened with ``read_only=True``."""

    code = "read_only"


class TextIndexError(StorageError):
    """The full-text index failed."""

    code = "text_index"


class ClosedError(VjsonError, RuntimeError):
    """A call on a database after ``close()``."""

    code = "closed"


_BY_CODE: dict[str, type[VjsonError]] = {
    "invalid_argument": InvalidArgumentError,
    "dimension_mismatch": DimensionMismatchError,
    "non_finite_vector": InvalidVectorError,
    "zero_vector": InvalidVectorError,
    "empty_id": InvalidIdError,
    "id_too_long": InvalidIdError,
    "duplicate_id": DuplicateIdError,
    "not_found": NotFoundError,
    "invalid_metadata": InvalidMetadataError,
    "invalid_filter": InvalidFilterError,
    "invalid_query": InvalidQueryError,
    "invalid_options": InvalidOptionsError,
    "invalid_snapshot": InvalidSnapshotError,
    "unsupported": UnsupportedError,
    "limit_exceeded": LimitExceededError,
    "io": StorageError,
    "corrupt": CorruptError,
    "locked": LockedError,
    "read_only": ReadOnlyError,
    "text_index": TextIndexError,
    "closed": ClosedError,
}


def _for_code(code: str, message: str) -> VjsonError:
    """The exception for ``code`` (called by the native module)."""
    return _BY_CODE.get(code, VjsonError)(message, code)
