"""``UploadOptions``: how an upload is stored: the frame's name, its layouts, batch key,
retention, chunk size and format.

The HTTP API takes these as query parameters or JSON body fields (the seed's names:
``dataframe_name``, ``columns_keys``, ``external_key``, ``keep_last``), the CLI as flags
(``--date-col ts`` and ``--id-col uid`` build ``columns_keys``).

Example
-------
>>> opts = UploadOptions.build(name="sales/daily", columns_keys={"ts": "date"})
>>> opts.layouts
(Layout(kind='date', column='ts'),)
>>> opts.to_json()
{'dataframe_name': 'sales/daily', 'columns_keys': {'ts': 'date'}}
"""

from __future__ import annotations

import argparse
from typing import Any, Literal, Self

from pydantic import Field, field_validator, model_validator

from ..errors import InvalidArgument
from ..layouts import NOW_KEY, USER_KINDS, keyed, parse_columns_keys
from ..records import Layout
from .base import Operation
from .fields import ColumnsKeys, Flag, IdempotencyKey, NewFrameName, RowCount, Segment

FormatName = Literal["csv.gz", "parquet"]
#: what an upload does to the rows already stored (see :mod:`pandasdb_core.editing`)
UploadMode = Literal["append", "overwrite", "replace_partitions"]


class UploadOptions(Operation):
    """An upload's settings (see :meth:`pandasdb_core.Store.upload`)."""

    verb = "upload"

    name: NewFrameName = Field(
        alias="dataframe_name",
        description=(
            "The frame: [A-Za-z0-9._-] segments joined by '/', which every route of the "
            "HTTP API reaches as itself (no route word where a route has one)."
        ),
        json_schema_extra={"cli": False},
    )
    columns_keys: ColumnsKeys | None = Field(
        None,
        description=(
            "{column: 'Date' | 'ID'}: partition by calendar day (UTC) or by sorted id ranges; "
            "each entry stores the data once more. Fixed when the frame is created."
        ),
        json_schema_extra={"json": True},
    )
    external_key: Segment | None = Field(
        None,
        description=(
            "For frames without columns_keys: the batch key (default 'default'; 'NOW' also "
            "means the default, as the original backend's SDK sends it, with columns_keys too)."
        ),
    )
    keep_last: Flag = Field(
        False,
        description=(
            "Drop the earlier batches of this external key (for partitioned frames: all earlier "
            "data), atomically with this commit."
        ),
    )
    chunk_rows: RowCount | None = Field(None, description="Rows per chunk file, for a new frame.")
    format: FormatName | None = Field(None, description="File format, for a new frame.")
    mode: UploadMode = Field(
        "append",
        description=(
            "append (default) adds the rows; overwrite replaces the whole frame; "
            "replace_partitions replaces what is stored for the days (Date layout) or ids "
            "(ID layout) the dataframe holds and leaves the rest."
        ),
    )
    idempotency_key: IdempotencyKey | None = None

    @field_validator("external_key", mode="before")
    @classmethod
    def _now_is_the_default(cls, value: Any) -> Any:
        return None if value == NOW_KEY else value

    @model_validator(mode="after")
    def _check_layouts(self) -> Self:
        layouts = parse_columns_keys(self.columns_keys)
        if self.external_key is not None and not keyed(layouts):
            raise ValueError("external_key applies to batch frames; leave it out with columns_keys")
        if self.keep_last and self.mode == "replace_partitions":
            raise ValueError(
                "keep_last drops all earlier data of a partitioned frame: give mode "
                "'replace_partitions' or keep_last, not both"
            )
        return self

    @property
    def layouts(self) -> tuple[Layout, ...]:
        """The layouts ``columns_keys`` asks for (the batch layout when it is empty)."""
        return parse_columns_keys(self.columns_keys)

    @classmethod
    def add_cli_arguments(cls, parser: argparse.ArgumentParser) -> None:
        super().add_cli_arguments(parser)
        for kind in USER_KINDS:  # --date-col, --id-col: one flag per kind of the registry
            parser.add_argument(
                f"--{kind.name}-col", action="append", default=[], help=kind.cli_help
            )

    @classmethod
    def from_cli(cls, args: argparse.Namespace, **fixed: Any) -> Self:
        keys = {
            column: kind.user_name
            for kind in USER_KINDS
            for column in getattr(args, f"{kind.name}_col", [])
        }
        if keys and args.columns_keys:
            flags = "/".join(f"--{kind.name}-col" for kind in USER_KINDS)
            raise InvalidArgument(f"give --columns-keys or {flags}, not both")
        if keys:
            fixed["columns_keys"] = keys
        return super().from_cli(args, **fixed)


class UploadRequest(UploadOptions):
    """An upload over HTTP: the options, and where the data is when it is not the body."""

    staged: str | None = Field(
        None,
        pattern=r"^[0-9a-f]{32}$",
        description="The upload id of data PUT to a URL from POST /dataframes/staging.",
        json_schema_extra={"cli": False},
    )

    @property
    def options(self) -> UploadOptions:
        """The upload's settings, without where its data is."""
        return UploadOptions.model_construct(
            **{f: getattr(self, f) for f in UploadOptions.model_fields}
        )
