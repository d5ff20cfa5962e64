"""``FrameStore``: the interface the embedded store and the SDK share, so code written
against one runs against the other.

Options of ``upload`` and ``get`` are the fields of :class:`~pandasdb_core.operations.UploadOptions`
and :class:`~pandasdb_core.operations.ReadQuery`; both implementations build those objects from
their keyword arguments (their signatures and docs come from the same fields).

Example
-------
>>> import pandasdb_core as pdb
>>> isinstance(pdb.open("memory://"), FrameStore)
True
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .conversion import Engine
from .records import Commit
from .results import FrameList, VersionList

if TYPE_CHECKING:
    import polars as pl

    from .snapshot import Snapshot


@runtime_checkable
class FrameStore(Protocol):
    """What every pandasdb store offers, embedded or over HTTP."""

    def upload(self, df: Any, name: str, **options: Any) -> Commit:
        """Store ``df`` as a new version of ``name``."""
        ...

    def get(self, name: str, *, engine: Engine = "pandas", **filters: Any) -> Any:
        """Read ``name`` with filters, projection and time travel."""
        ...

    def list(self, prefix: str = "") -> FrameList:
        """The frames whose name starts with ``prefix``."""
        ...

    def versions(self, name: str) -> VersionList:
        """A frame's retained versions."""
        ...

    def dates(self, name: str, **options: Any) -> list[dt.date]:
        """The days a Date layout of a frame holds rows for."""
        ...

    def iter_batches(
        self,
        name: str,
        *,
        batch_rows: int | None = None,
        engine: Engine = "pandas",
        **filters: Any,
    ) -> Iterator[Any]:
        """Read ``name`` batch by batch, in ``get``'s order and dtypes."""
        ...

    def files(self, name: str, **filters: Any) -> Snapshot:
        """The committed chunk files of one version a read fetches, with the schema."""
        ...

    def scan(
        self, name: str, *, storage_options: dict[str, Any] | None = None, **filters: Any
    ) -> pl.LazyFrame:
        """A polars LazyFrame over exactly those files."""
        ...

    def to_dask(self, name: str, **filters: Any) -> Any:
        """A Dask DataFrame over those files, one partition per chunk file."""
        ...

    def manifest(self, name: str) -> list[str]:
        """Write the symlink manifests of a frame's latest version; their keys."""
        ...

    def delete(self, name: str, **options: Any) -> None:
        """Delete a frame, or with ``external_key`` only that key's batches."""
        ...

    def replace(self, name: str, df: Any, **options: Any) -> Commit:
        """Replace the rows of a date or id range by ``df``, as one commit."""
        ...

    def delete_rows(self, name: str, **options: Any) -> Commit:
        """Remove the rows a date or id filter selects, as one commit."""
        ...

    def compact(self, name: str, **options: Any) -> Commit:
        """Merge small chunk files, as one commit that changes no row."""
        ...
