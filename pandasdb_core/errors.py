"""The exceptions pandasdb raises.

Every error a user can cause is a :class:`PandasDBError` and also a ``ValueError`` (bad input)
or a ``LookupError`` (something named does not exist), so ordinary ``except ValueError`` code
keeps working. Each message names the field and the reason.

Example
-------
>>> import pandasdb_core as pdb
>>> try:
...     pdb.open("memory://").get("nope")
... except pdb.FrameNotFound as exc:
...     print(exc)
frame 'nope' does not exist
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

__all__ = [
    "PandasDBError",
    "InvalidName",
    "InvalidArgument",
    "UnknownParameter",
    "InvalidPartition",
    "SchemaMismatch",
    "FrameNotFound",
    "VersionNotFound",
    "BlobNotFound",
    "ChunkMissing",
    "ChunkCorrupt",
    "BlobExists",
    "CommitConflict",
    "VacuumRaced",
    "StoreUnavailable",
    "Unauthorized",
    "PayloadTooLarge",
]


class PandasDBError(Exception):
    """Base of every pandasdb error."""

    #: short machine-readable code, used as the ``error`` field of HTTP error bodies
    code = "error"


class InvalidName(PandasDBError, ValueError):
    """A frame name, external key or column used as a folder breaks the naming rules."""

    code = "invalid_name"


class InvalidArgument(PandasDBError, ValueError):
    """A parameter has a value pandasdb cannot use (the message names it)."""

    code = "invalid_argument"


class UnknownParameter(InvalidArgument, TypeError):
    """A keyword, query parameter or field the operation does not have (the message names
    the closest valid one). Also a ``TypeError``, as Python's own for a bad keyword."""


class InvalidPartition(PandasDBError, ValueError):
    """The data does not fit the partition layout (non-dates in a Date column, null ids...)."""

    code = "invalid_partition"


class SchemaMismatch(PandasDBError, ValueError):
    """An upload changes the type of a column the frame already has."""

    code = "schema_mismatch"


class FrameNotFound(PandasDBError, LookupError):
    """No frame of that name exists; the message suggests the closest names among ``known``
    (the store's frames).

    Example
    -------
    >>> print(FrameNotFound("sales/dayly", known=["sales/daily", "users"]))
    frame 'sales/dayly' does not exist; did you mean 'sales/daily'?
    """

    code = "not_found"

    def __init__(self, name: str, known: Iterable[str] = (), *, message: str | None = None) -> None:
        #: the closest existing names, best first
        self.close = _closest(name, known)
        if message is None:  # the SDK passes the text the server wrote
            message = f"frame {name!r} does not exist" + _did_you_mean(self.close)
        super().__init__(message)
        self.name = name


def _closest(name: str, known: Iterable[str]) -> tuple[str, ...]:
    """Up to three names like ``name``: similar enough, and about as similar as the best."""
    scored = []
    for candidate in known:
        score = difflib.SequenceMatcher(None, name, candidate).ratio()
        if score >= 0.6:
            scored.append((score, candidate))
    scored.sort(key=lambda pair: (-pair[0], pair[1]))
    best = scored[0][0] if scored else 0.0
    return tuple(candidate for score, candidate in scored[:3] if score >= best - 0.1)


def _did_you_mean(names: Sequence[str]) -> str:
    if not names:
        return ""
    shown = [repr(n) for n in names]
    listed = shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]
    return f"; did you mean {listed}?"


class VersionNotFound(PandasDBError, LookupError):
    """``as_of`` names a version that does not exist or is no longer retained."""

    code = "version_not_found"


class BlobNotFound(PandasDBError, LookupError):
    """A blob key is absent from the blob store."""

    code = "blob_not_found"


class ChunkMissing(PandasDBError, LookupError):
    """A chunk file a committed version references is gone: removed by a vacuum while a read
    of an older version ran, or deleted outside pandasdb (``check()`` finds the latter)."""

    code = "chunk_missing"


class ChunkCorrupt(ChunkMissing):
    """A chunk file a committed version references is there but cannot be decoded (changed
    or damaged outside pandasdb): the message names the file; ``check()`` lists every such
    file. A :class:`ChunkMissing`, since the committed rows are not there either."""

    code = "chunk_corrupt"


class BlobExists(PandasDBError, ValueError):
    """A put with ``if_absent=True`` found the key already present."""

    code = "blob_exists"


class CommitConflict(PandasDBError, RuntimeError):
    """The frame's head moved while committing and retries did not resolve it."""

    code = "conflict"


class VacuumRaced(CommitConflict):
    """A vacuum began, after this writer began writing its chunk files, that may remove
    files as recent as them: the commit is refused (nothing changed), and the writer writes
    its chunk files again under fresh keys before it commits again. Writers catch it before
    :class:`CommitConflict`: committing the same files again would be refused again."""

    code = "vacuum_raced"


class StoreUnavailable(PandasDBError, LookupError):
    """The storage a URL names is missing or not accessible (bucket, table, folder)."""

    code = "store_unavailable"


class Unauthorized(PandasDBError, PermissionError):
    """The request carries no valid credentials (HTTP 401)."""

    code = "unauthorized"


class PayloadTooLarge(PandasDBError, ValueError):
    """A request body is larger than the API accepts inline (HTTP 413)."""

    code = "too_large"
