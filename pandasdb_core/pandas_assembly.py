"""A pandas frame built batch by batch as a read decodes it, each column's memory taken once.

Converting a whole polars frame to pandas holds both at once (and the allocator of each keeps
what the other could have reused): a read peaked at three times its result. Here every batch
is copied into its final place as soon as it is decoded and then let go, so a read holds its
result and one batch. Numbers, booleans, datetimes and durations go into numpy arrays sized
for the read's rows (from the chunk index, before anything is fetched); text keeps polars'
arrow chunks as the chunks of one pandas string array, without joining them. Every other
column (categoricals, objects, decimals, recorded arrow types...) is gathered as polars chunks
and converted at the end by :func:`pandasdb_core.conversion.pandas_column`, the conversion
every reader uses, so what comes out is what :func:`~pandasdb_core.conversion.to_pandas` of
the whole frame gives, dtype for dtype.

Example
-------
>>> import polars as pl
>>> schema = {"columns": [{"name": "a", "dtype": {"type": "Int64"}, "since": 1,
...                        "pandas": "int64"}], "index": []}
>>> frame = PandasAssembly(schema, capacity=3)
>>> frame.add(pl.DataFrame({"a": [1, 2]}))
>>> frame.add(pl.DataFrame({"a": [None]}, schema={"a": pl.Int64}))
>>> frame.finish()["a"].tolist()
[1, 2, <NA>]
"""

from __future__ import annotations

from typing import Any

import polars as pl

from .conversion import (
    NAT_TICKS,
    column_kind,
    frame_from_columns,
    numbers_column,
    pandas_column,
    text_column,
    times_column,
)
from .schema import Schema


class _Gathered:
    """Polars chunks of a column, converted once at the end by :func:`pandas_column`."""

    def __init__(self, name: str, dtype: pl.DataType, col: dict[str, Any] | None, _: int):
        self.name, self.dtype, self.col = name, dtype, col
        self.parts: list[pl.Series] = []

    def add(self, series: pl.Series, start: int) -> None:
        self.parts.append(series)

    def finish(self, rows: int) -> Any:
        parts, self.parts = self.parts, []
        if not parts:
            return pandas_column(pl.Series(self.name, [], dtype=self.dtype), self.col)
        return pandas_column(pl.concat(parts, rechunk=False), self.col)


class _Numbers:
    """Integers, floats and booleans: values copied into one numpy array, and a null mask
    taken only once some batch holds nulls."""

    def __init__(self, name: str, dtype: pl.DataType, col: dict[str, Any] | None, size: int):
        import numpy as np

        self.name, self.dtype, self.col = name, dtype, col
        self.values = np.empty(size, dtype=pl.Series([], dtype=dtype).to_numpy().dtype)
        self.mask: Any = None

    def add(self, series: pl.Series, start: int) -> None:
        import numpy as np

        end = start + len(series)
        if series.null_count():
            if self.mask is None:
                self.mask = np.zeros(len(self.values), dtype=bool)
            self.mask[start:end] = series.is_null().to_numpy()
            series = series.fill_null(False if self.dtype == pl.Boolean else 0)
        self.values[start:end] = series.to_numpy()

    def finish(self, rows: int) -> Any:
        mask = None if self.mask is None else self.mask[:rows]
        return numbers_column(self.name, self.dtype, self.values[:rows], mask, self.col)


class _Times:
    """Datetimes and durations: their 64-bit ticks copied into one numpy array."""

    def __init__(self, name: str, dtype: pl.DataType, col: dict[str, Any] | None, size: int):
        import numpy as np

        self.name, self.dtype, self.col = name, dtype, col
        self.ticks = np.empty(size, dtype="int64")

    def add(self, series: pl.Series, start: int) -> None:
        physical = series.to_physical()
        if physical.null_count():
            physical = physical.fill_null(NAT_TICKS)
        self.ticks[start : start + len(series)] = physical.to_numpy()

    def finish(self, rows: int) -> Any:
        return times_column(self.name, self.dtype, self.ticks[:rows], self.col)


class _Text:
    """Strings: each batch as an arrow chunk of one pandas string array."""

    def __init__(self, name: str, dtype: pl.DataType, col: dict[str, Any] | None, _: int):
        self.name, self.col = name, col
        self.chunks: list[Any] = []

    def add(self, series: pl.Series, start: int) -> None:
        if len(series):
            self.chunks.append(series.to_arrow())

    def finish(self, rows: int) -> Any:
        import pyarrow as pa

        chunks, self.chunks = self.chunks, []
        return text_column(self.name, pa.chunked_array(chunks, type=pa.large_string()), self.col)


_SINKS = {"numbers": _Numbers, "times": _Times, "text": _Text, "other": _Gathered}


class PandasAssembly:
    """The pandas frame of a read, filled batch by batch.

    Parameters
    ----------
    schema
        The frame's schema (recorded pandas dtypes and index names).
    capacity
        At least the rows of every batch together (the rows of the chunks read).
    """

    def __init__(self, schema: Schema, capacity: int) -> None:
        self.schema = schema
        self.capacity = capacity
        self.sinks: dict[str, Any] = {}
        self.rows = 0

    def _start(self, batch: pl.DataFrame) -> None:
        recorded = {c["name"]: c for c in self.schema["columns"]}
        for name, dtype in batch.schema.items():
            col = recorded.get(name)
            self.sinks[name] = _SINKS[column_kind(dtype, col)](name, dtype, col, self.capacity)

    def add(self, batch: pl.DataFrame) -> None:
        """Copy one batch after the rows added before (every batch holds the same columns,
        as every batch of one read does)."""
        if not self.sinks:
            self._start(batch)
        if self.rows + batch.height > self.capacity:
            raise ValueError(f"more rows than the {self.capacity:,} planned")  # a bug, not input
        for name, sink in self.sinks.items():
            sink.add(batch.get_column(name), self.rows)
        self.rows += batch.height

    def finish(self) -> Any:
        """The pandas frame of every batch added, with the recorded dtypes and index."""
        columns = {name: sink.finish(self.rows) for name, sink in self.sinks.items()}
        return frame_from_columns(columns, self.rows, self.schema)
