"""``ReadQuery``: what a read asks for: which frame, which version, which rows and columns.

Every surface builds one: ``Store.get`` and the SDK from keywords, the HTTP route from query
parameters, the CLI from flags. Which filters a frame can answer depends on its layouts (see
:mod:`pandasdb_core.layouts`), which check them when the read is planned.

Example
-------
>>> q = ReadQuery.build(name="sales/daily", start_date="2024-01-01", columns=["amount"])
>>> q.to_query()
{'start_date': '2024-01-01', 'columns': ['amount']}
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from ..layouts import NOW_KEY
from .base import Operation
from .fields import (
    IN_PATH,
    MANY,
    ColumnNames,
    DateValue,
    Flag,
    FrameName,
    IdList,
    IdValue,
    Segment,
    Version,
)


class ReadQuery(Operation):
    """A read of one frame (see :meth:`pandasdb_core.Store.get`)."""

    verb = "get"

    name: FrameName = Field(description="The frame.", json_schema_extra=IN_PATH)
    external_key: Segment | None = Field(
        None,
        description=(
            "Batch frames: only this external key's batches ('NOW': the default key, as the "
            "original backend's SDK sends it; ignored for partitioned frames)."
        ),
    )
    use_last: Flag = Field(
        False, description="Batch frames: only the latest batch of the key (default 'default')."
    )
    start_date: DateValue | None = Field(
        None, description="Inclusive lower bound on the Date column; a date covers its day."
    )
    end_date: DateValue | None = Field(
        None, description="Inclusive upper bound on the Date column; a date covers its day."
    )
    partition_value: IdList | None = Field(
        None,
        description="One id or a list of ids: exactly the rows with those ids (ID layout).",
        json_schema_extra=MANY,
    )
    start_id: IdValue | None = Field(None, description="Inclusive lower id bound (ID layout).")
    end_id: IdValue | None = Field(None, description="Inclusive upper id bound (ID layout).")
    columns: ColumnNames | None = Field(
        None, description="Only these columns, in this order.", json_schema_extra=MANY
    )
    as_of: Version | None = Field(
        None, description="Read this earlier version instead of the latest."
    )

    @model_validator(mode="after")
    def _batch_or_partitions(self) -> Self:
        batched = self.external_key not in (None, NOW_KEY) or self.use_last
        ranged = any(
            v is not None
            for v in (
                self.start_date,
                self.end_date,
                self.partition_value,
                self.start_id,
                self.end_id,
            )
        )
        if batched and ranged:
            raise ValueError(
                "external_key/use_last select batches; date and id filters need a frame with "
                "columns_keys: give one kind or the other"
            )
        return self


class ReadRequest(ReadQuery):
    """A read over HTTP: the query, and the format of the answer."""

    format: Literal["json", "csv", "parquet"] | None = Field(
        None,
        description=(
            "json (records, the default), csv, or parquet carrying the schema; without it the "
            "Accept header decides."
        ),
    )
    chunked: Flag = Field(
        False,
        description=(
            "For results larger than one response: answer a manifest of presigned chunk "
            "URLs (the stored files and schema) to fetch and decode, instead of one result "
            "file built by the function (the SDK asks for this)."
        ),
    )

    @property
    def query(self) -> ReadQuery:
        """The read itself, without how it is answered."""
        return ReadQuery.model_construct(**{f: getattr(self, f) for f in ReadQuery.model_fields})
