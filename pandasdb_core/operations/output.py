"""``OutputOptions``: how a read hands its rows over, outside what it reads: the engine of
the frames (``get``, ``iter_batches``), the rows per batch (``iter_batches``) and the
cloud options of a lazy scan (``scan``).

These are Python-only keywords (no route or flag takes them), validated once here for the
embedded store and the SDK alike, before any work is done: ``batch_rows=0`` would otherwise
make an SDK loop that yields empty frames forever.

Example
-------
>>> OutputOptions.build(batch_rows=1000, engine="polars").batch_rows
1000
>>> OutputOptions.build(batch_rows=0)
Traceback (most recent call last):
...
pandasdb_core.errors.InvalidArgument: batch_rows must be a positive integer, got 0
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, ValidationInfo

from ..errors import InvalidArgument
from .base import Operation

#: the engines a read returns frames of
ENGINES = ("pandas", "polars")


def _positive(value: Any, info: ValidationInfo) -> Any:
    # bool is an int to Python; a row count is never true or false
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgument(f"{info.field_name} must be a positive integer, got {value!r}")
    return value


def _engine(value: Any, info: ValidationInfo) -> Any:
    if not isinstance(value, str) or value not in ENGINES:
        raise InvalidArgument(f"engine must be 'pandas' or 'polars', got {value!r}")
    return value


def _options(value: Any, info: ValidationInfo) -> Any:
    if value is None:
        return None
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise InvalidArgument(
            f"storage_options must be a dict of option name -> value (polars' cloud "
            f"options, e.g. aws_region), got {type(value).__name__}"
        )
    return dict(value)


class OutputOptions(Operation):
    """How a read hands its rows over (see the module docstring)."""

    verb = "get"

    engine: Annotated[Literal["pandas", "polars"], BeforeValidator(_engine)] = Field(
        "pandas", description="'pandas' (default) or 'polars'."
    )
    batch_rows: Annotated[int | None, BeforeValidator(_positive)] = Field(
        None,
        description="Rows per batch of iter_batches (the last may be shorter); None: one "
        "batch per chunk file.",
    )
    storage_options: Annotated[dict[str, Any] | None, BeforeValidator(_options)] = Field(
        None, description="For s3:// stores: polars' cloud options (scan)."
    )
