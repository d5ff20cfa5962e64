"""What ``list()`` and ``versions()`` return: lists of records a person reads at a glance.

:class:`FrameList` and :class:`VersionList` are lists (code that indexes, iterates or compares
them with a list keeps working) that show themselves as a table: ``repr`` in a terminal, HTML
in a notebook, and ``to_pandas()`` / ``to_polars()`` with UTC datetime columns. Their JSON form
(the HTTP API's answers, ``pandasdb ls --json``) writes times as ISO-8601 UTC, and
:meth:`Records.from_json` (the SDK) reads it back into the same records.

Example
-------
>>> import pandas as pd, pandasdb_core as pdb
>>> db = pdb.open("memory://")
>>> _ = db.upload(pd.DataFrame({"a": [1, 2]}), "numbers")
>>> history = db.versions("numbers")
>>> history[0].rows_total, str(history.to_pandas()["created_at"].dtype)
(2, 'datetime64[us, UTC]')
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self, SupportsIndex, TypeVar, overload

import polars as pl

from .layouts import kind_of
from .records import FrameInfo, Layout, LayoutStats, VersionInfo

if TYPE_CHECKING:
    import pandas as pd

R = TypeVar("R")
Kind = Literal["int", "bytes", "float", "str", "bool", "time"]
#: record fields holding epoch seconds: datetimes in tables, ISO-8601 text in JSON
TIME_FIELDS = frozenset({"created_at", "updated_at"})
#: rows a repr or HTML table shows before it elides the middle
SHOWN_ROWS = 20
_DTYPES: dict[Kind, pl.DataType] = {
    "int": pl.Int64(),
    "bytes": pl.Int64(),
    "float": pl.Float64(),
    "str": pl.String(),
    "bool": pl.Boolean(),
    "time": pl.Datetime("us", "UTC"),
}
_NUMERIC = ("int", "bytes", "float")


def iso_utc(epoch: float) -> str:
    """Epoch seconds as ISO-8601 UTC text, as the HTTP API writes times.

    Example
    -------
    >>> iso_utc(0.5)
    '1970-01-01T00:00:00.500000Z'
    """
    moment = dt.datetime.fromtimestamp(epoch, dt.UTC)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def epoch_of(value: str | float) -> float:
    """Inverse of :func:`iso_utc` (a number passes through; text without a zone is UTC).

    Example
    -------
    >>> epoch_of("1970-01-01T00:00:00.500000Z"), epoch_of(2.0)
    (0.5, 2.0)
    """
    if not isinstance(value, str):
        return float(value)
    moment = dt.datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def human_bytes(size: int) -> str:
    """A byte count as a person reads it.

    Example
    -------
    >>> human_bytes(512), human_bytes(2_500_000)
    ('512 B', '2.5 MB')
    """
    amount = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(amount) < 1000 or unit == "TB":
            return f"{size} B" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1000
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class Column:
    """One column of a result table: its name, kind (which sets its dtype and how it shows)
    and how to get its value from a record."""

    name: str
    kind: Kind
    value: Callable[[Any], Any]

    @property
    def header(self) -> str:
        """The column's title in a shown table (times say their zone)."""
        return f"{self.name} (UTC)" if self.kind == "time" else self.name

    def cell(self, value: Any) -> str:
        """One value as shown in a table."""
        if value is None:
            return ""
        if self.kind == "time":
            return value.strftime("%Y-%m-%d %H:%M:%S")
        if self.kind == "bytes":
            return human_bytes(value)
        if self.kind == "int":
            return f"{value:,}"
        if self.kind == "float":
            return f"{value:,.1f}"
        if self.kind == "bool":
            return "yes" if value else "no"
        return str(value)


def _field(name: str, kind: Kind) -> Column:
    if kind == "time":
        return Column(name, kind, lambda r: dt.datetime.fromtimestamp(getattr(r, name), dt.UTC))
    return Column(name, kind, lambda r: getattr(r, name))


class Records(list[R]):
    """A list of records shown as a table (see the module docstring)."""

    #: the record type of every item
    record: ClassVar[type]
    #: what one item is called ("frame", "version")
    noun: ClassVar[str]
    #: the table's columns, in order
    columns: ClassVar[tuple[Column, ...]]

    # ------------------------------------------------------------------ list behaviour

    @overload
    def __getitem__(self, index: SupportsIndex) -> R: ...

    @overload
    def __getitem__(self, index: slice) -> Self: ...

    def __getitem__(self, index: SupportsIndex | slice) -> R | Self:
        found = super().__getitem__(index)
        return self._like(found) if isinstance(index, slice) else found  # type: ignore[return-value]

    def _like(self, items: Iterable[R]) -> Self:
        """The same kind of list (same caption) holding ``items``."""
        return type(self)(items)

    # ------------------------------------------------------------------ tables

    def caption(self) -> str:
        """What the table shows, e.g. ``2 frames``."""
        return f"{len(self)} {self.noun}{'' if len(self) == 1 else 's'}"

    def to_polars(self) -> pl.DataFrame:
        """The records as a polars DataFrame; times are ``Datetime("us", "UTC")``."""
        return pl.DataFrame(
            [
                pl.Series(c.name, [c.value(r) for r in self], dtype=_DTYPES[c.kind])
                for c in self.columns
            ]
        )

    def to_pandas(self) -> pd.DataFrame:
        """The records as a pandas DataFrame; times are ``datetime64[us, UTC]``."""
        return self.to_polars().to_pandas()

    def _shown(self) -> tuple[list[list[str]], bool]:
        """The cells of the rows a table shows, and whether rows were elided."""
        elided = len(self) > SHOWN_ROWS
        half = SHOWN_ROWS // 2
        rows = [*self[:half], *self[-half:]] if elided else list(self)
        cells = [[c.cell(c.value(r)) for c in self.columns] for r in rows]
        return cells, elided

    def __repr__(self) -> str:
        cells, elided = self._shown()
        if not cells:
            return self.caption()
        headers = [c.header for c in self.columns]
        widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(headers)]

        def line(values: list[str]) -> str:
            parts = [
                v.rjust(w) if c.kind in _NUMERIC else v.ljust(w)
                for v, w, c in zip(values, widths, self.columns, strict=True)
            ]
            return "  ".join(parts).rstrip()

        lines = [self.caption(), line(headers)]
        lines += [line(row) for row in cells]
        if elided:
            lines.insert(2 + SHOWN_ROWS // 2, "...")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        cells, elided = self._shown()
        right = ' style="text-align: right"'
        aligns = [right if c.kind in _NUMERIC else "" for c in self.columns]
        head = "".join(
            f"<th{a}>{html.escape(c.header)}</th>"
            for c, a in zip(self.columns, aligns, strict=True)
        )
        body = [
            "<tr>"
            + "".join(f"<td{a}>{html.escape(v)}</td>" for v, a in zip(row, aligns, strict=True))
            + "</tr>"
            for row in cells
        ]
        if elided:
            body.insert(SHOWN_ROWS // 2, f'<tr><td colspan="{len(self.columns)}">...</td></tr>')
        return (
            f'<table class="pandasdb">\n<caption>{html.escape(self.caption())}</caption>\n'
            f"<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(body) + "\n</tbody>\n</table>"
        )

    # ------------------------------------------------------------------ JSON

    def to_json(self) -> list[dict[str, Any]]:
        """The records as JSON-able dicts, times as ISO-8601 UTC text."""
        return [_json_of(r) for r in self]

    @classmethod
    def from_json(cls, rows: Iterable[Mapping[str, Any]], **context: Any) -> Self:
        """Inverse of :meth:`to_json` (unknown fields are ignored)."""
        return cls((_record_of(cls.record, row) for row in rows), **context)


def _json_of(record: Any) -> Any:
    if isinstance(record, LayoutStats):
        return {**dataclasses.asdict(record), "avg_chunk_rows": record.avg_chunk_rows}
    out: dict[str, Any] = {}
    for f in dataclasses.fields(record):
        value = getattr(record, f.name)
        if f.name in TIME_FIELDS:
            value = iso_utc(value)
        elif isinstance(value, tuple):
            value = [_json_of(v) if dataclasses.is_dataclass(v) else v for v in value]
        out[f.name] = value
    return out


def _record_of(cls: type, row: Mapping[str, Any]) -> Any:
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in row:
            continue
        value = row[f.name]
        if f.name in TIME_FIELDS:
            value = epoch_of(value)
        elif f.name == "stats":
            value = tuple(_record_of(LayoutStats, s) for s in value)
        elif isinstance(value, list):
            value = tuple(value)
        values[f.name] = value
    return cls(**values)


# ---------------------------------------------------------------------------------- frames


def layout_text(tag: str) -> str:
    """A layout tag as users wrote it: ``date:ts`` -> ``ts (Date)``; ``batch`` -> ``batches``.

    Example
    -------
    >>> layout_text("id:uid"), layout_text("batch")
    ('uid (ID)', 'batches')
    """
    kind, _, column = tag.partition(":")
    layout = Layout(kind, column)  # type: ignore[arg-type]
    return f"{column} ({kind_of(layout).user_name})" if column else "batches"


def range_text(info: FrameInfo) -> str:
    """The days or ids a frame's layouts cover: ``2024-01-01 .. 2024-01-04``; with several
    ranged layouts, each after its column."""
    ranged = [s for s in info.stats if s.lo is not None]
    named = len(ranged) > 1
    return "; ".join(
        (f"{s.layout.partition(':')[2]}: " if named else "") + f"{s.lo} .. {s.hi}" for s in ranged
    )


def _frame_total(attr: str) -> Callable[[FrameInfo], int | None]:
    return lambda info: getattr(info, attr) if info.stats else None


def _avg_chunk_rows(info: FrameInfo) -> float | None:
    chunks = info.chunks
    return sum(s.rows for s in info.stats) / chunks if chunks else None


class FrameList(Records[FrameInfo]):
    """What ``list()`` returns: one :class:`FrameInfo` per frame, by name."""

    record = FrameInfo
    noun = "frame"
    columns = (
        _field("name", "str"),
        _field("version", "int"),
        _field("rows", "int"),
        Column("layouts", "str", lambda info: ", ".join(layout_text(t) for t in info.layouts)),
        Column("range", "str", range_text),
        Column("chunks", "int", _frame_total("chunks")),
        Column("avg_chunk_rows", "float", _avg_chunk_rows),
        Column("bytes", "bytes", _frame_total("bytes")),
        _field("format", "str"),
        _field("updated_at", "time"),
        Column("columns", "str", lambda info: ", ".join(info.columns)),
    )


# ---------------------------------------------------------------------------------- versions


class VersionList(Records[VersionInfo]):
    """What ``versions(name)`` returns: one :class:`VersionInfo` per retained version, oldest
    first."""

    record = VersionInfo
    noun = "version"
    columns = (
        _field("version", "int"),
        _field("created_at", "time"),
        _field("rows_added", "int"),
        _field("rows_total", "int"),
        _field("chunks_added", "int"),
        _field("bytes_added", "bytes"),
        _field("external_key", "str"),
        _field("keep_last", "bool"),
        _field("operation", "str"),
    )

    def __init__(self, items: Iterable[VersionInfo] = (), *, name: str = "") -> None:
        super().__init__(items)
        #: the frame these are versions of
        self.name = name

    def _like(self, items: Iterable[VersionInfo]) -> VersionList:
        return VersionList(items, name=self.name)

    def caption(self) -> str:
        """``2 versions of 'sales/daily'``."""
        return super().caption() + (f" of {self.name!r}" if self.name else "")


__all__ = [
    "Column",
    "FrameList",
    "Records",
    "VersionList",
    "epoch_of",
    "human_bytes",
    "iso_utc",
    "layout_text",
    "range_text",
]
