"""Request types of the edits: ``replace`` (a date or id range by new rows), ``delete_rows``
and ``compact``. Their range fields are the read's own (same names, parsing and docs), so a
range means the same rows in a read and in an edit.

Example
-------
>>> DeleteRowsOptions.from_query({"start_date": "2024-01-02"}, name="f").range_query().to_query()
{'start_date': '2024-01-02'}
"""

from __future__ import annotations

from typing import ClassVar, Self

from pydantic import Field, model_validator

from .base import Operation
from .fields import (
    IN_PATH,
    DateValue,
    FrameName,
    IdempotencyKey,
    IdList,
    IdValue,
    RowCount,
)
from .read import ReadQuery
from .upload import UploadRequest

_READ = ReadQuery.model_fields


class _Ranged(Operation):
    """An edit of the rows a range selects: what a read with these filters returns."""

    #: the range fields the edit takes (a read's)
    range_fields: ClassVar[tuple[str, ...]] = ()

    def range_query(self) -> ReadQuery:
        """The read that returns the rows this edit selects."""
        values = {f: getattr(self, f) for f in type(self).range_fields}
        return ReadQuery.model_construct(name=self.name, **values)  # type: ignore[attr-defined]

    @model_validator(mode="after")
    def _some_range(self) -> Self:
        if all(getattr(self, f) is None for f in type(self).range_fields):
            raise ValueError(
                f"{self.verb} needs a range: give at least one of "
                f"{', '.join(type(self).range_fields)}"
            )
        return self


class ReplaceOptions(_Ranged):
    """What ``replace`` replaces: the rows of a date or id range (see
    :meth:`pandasdb_core.Store.replace`)."""

    verb = "replace"
    range_fields = ("start_date", "end_date", "start_id", "end_id")

    name: FrameName = Field(description="The frame.", json_schema_extra=IN_PATH)
    start_date: DateValue | None = _READ["start_date"]
    end_date: DateValue | None = _READ["end_date"]
    start_id: IdValue | None = _READ["start_id"]
    end_id: IdValue | None = _READ["end_id"]
    idempotency_key: IdempotencyKey | None = None


class ReplaceRequest(ReplaceOptions):
    """A replace over HTTP: the options, and where the data is when it is not the body."""

    staged: str | None = UploadRequest.model_fields["staged"]

    @property
    def options(self) -> ReplaceOptions:
        """The replace's settings, without where its data is."""
        return ReplaceOptions.model_construct(
            **{f: getattr(self, f) for f in ReplaceOptions.model_fields}
        )


class DeleteRowsOptions(_Ranged):
    """Which rows ``delete_rows`` removes (see :meth:`pandasdb_core.Store.delete_rows`)."""

    verb = "delete_rows"
    range_fields = ("start_date", "end_date", "partition_value", "start_id", "end_id")

    name: FrameName = Field(description="The frame.", json_schema_extra=IN_PATH)
    start_date: DateValue | None = _READ["start_date"]
    end_date: DateValue | None = _READ["end_date"]
    partition_value: IdList | None = _READ["partition_value"]
    start_id: IdValue | None = _READ["start_id"]
    end_id: IdValue | None = _READ["end_id"]
    idempotency_key: IdempotencyKey | None = None


class CompactOptions(Operation):
    """How ``compact`` merges small chunks (see :meth:`pandasdb_core.Store.compact`)."""

    verb = "compact"

    name: FrameName = Field(description="The frame.", json_schema_extra=IN_PATH)
    target_rows: RowCount | None = Field(
        None, description="Rows per merged chunk file (default: the frame's chunk_rows)."
    )
