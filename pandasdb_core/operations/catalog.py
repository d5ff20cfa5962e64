"""Request types of the catalogue operations: list, versions, delete, vacuum.

Example
-------
>>> ListQuery.from_query({"prefix": "sales/"}).prefix
'sales/'
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from ..layouts import DEFAULT_KEY, NOW_KEY
from .base import Operation
from .fields import IN_PATH, Count, Flag, FrameName, Segment, Version


class ListQuery(Operation):
    """Which frames ``list`` reports."""

    verb = "list"

    prefix: str = Field("", max_length=1024, description="Only names starting with this (literal).")


class FrameRef(Operation):
    """One frame, by name (``versions``)."""

    verb = "versions"

    name: FrameName = Field(description="The frame.", json_schema_extra=IN_PATH)


class DatesQuery(Operation):
    """Which days ``dates`` lists: those of one Date layout of a frame, read from its index."""

    verb = "dates"

    name: FrameName = Field(description="The frame.", json_schema_extra=IN_PATH)
    column: Segment | None = Field(
        None, description="The Date layout's column (needed only if the frame has several)."
    )
    as_of: Version | None = Field(None, description="The days of this version (default: latest).")


class DeleteRequest(Operation):
    """What ``delete`` removes: the frame, or only one external key's batches."""

    verb = "delete"

    name: FrameName = Field(description="The frame.", json_schema_extra=IN_PATH)
    external_key: Segment | None = Field(
        None,
        description=(
            "Batch frames: remove only this key's batches, as a new version ('NOW': the "
            "default key, as the original backend's SDK names it)."
        ),
    )

    @field_validator("external_key", mode="before")
    @classmethod
    def _now_is_the_default(cls, value: Any) -> Any:
        return DEFAULT_KEY if value == NOW_KEY else value


class VacuumOptions(Operation):
    """What ``vacuum`` frees."""

    verb = "vacuum"

    retain_versions: Count | None = Field(
        None, description="Keep only the newest N versions readable by as_of (default: all)."
    )
    grace_seconds: float = Field(
        3600.0, ge=0, description="Leave files younger than this alone (writers in flight)."
    )
    dry_run: Flag = Field(False, description="Report what would be removed; remove nothing.")
