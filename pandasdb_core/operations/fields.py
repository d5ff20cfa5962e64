"""Field types shared by the request types: names, keys, dates, ids, versions, columns.

Each type validates with pandasdb's own rules (so messages name the field and reason) and
describes itself to OpenAPI.

Example
-------
>>> from pydantic import TypeAdapter
>>> from pandasdb_core.operations.base import Text
>>> TypeAdapter(Version).validate_python(Text("3"))
3
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, ValidationInfo, WithJsonSchema

from ..errors import InvalidArgument
from ..layouts import USER_KINDS, parse_columns_keys
from ..names import validate_addressable, validate_frame_name, validate_segment
from ..values import DateBound, parse_date_bound, parse_id, parse_ids
from .base import Text


def _name(value: Any, info: ValidationInfo) -> str:
    return validate_frame_name(value, info.field_name or "name")


def _addressable(value: Any, info: ValidationInfo) -> str:
    return validate_addressable(value, info.field_name or "name")


def _segment(value: Any, info: ValidationInfo) -> str:
    return validate_segment(value, info.field_name or "value")


def _date(value: Any, info: ValidationInfo) -> DateBound:
    return parse_date_bound(value, info.field_name or "date")


def _id(value: Any, info: ValidationInfo) -> int:
    return parse_id(value, info.field_name or "id")


def _ids(value: Any, info: ValidationInfo) -> tuple[int, ...]:
    return parse_ids(value, info.field_name or "ids")


def _whole(what: str) -> Any:
    def check(value: Any, info: ValidationInfo) -> int:
        if isinstance(value, Text) and re.fullmatch(r"[+-]?\d{1,19}", value):
            return int(value)
        # bool is an int to Python; a version or a row count is never true or false
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidArgument(f"{info.field_name} must be {what}, got {value!r}")
        return value

    return check


def _flag(value: Any, info: ValidationInfo) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, Text) and value.lower() in _FLAGS:
        return _FLAGS[value.lower()]
    raise InvalidArgument(f"{info.field_name} must be true or false, got {value!r}")


_FLAGS = {"true": True, "1": True, "false": False, "0": False}


def _names(value: Any, info: ValidationInfo) -> Any:
    if isinstance(value, str) or not hasattr(value, "__iter__"):
        raise InvalidArgument(f"{info.field_name} must be a list of column names, got {value!r}")
    names = tuple(value)
    if not names:
        # pandas' df[[]] keeps the row count, which a read that decodes no column cannot
        # know; the store, the SDK and HTTP's columns= once gave three different frames, so
        # the one meaning is a refusal (relaxing it later breaks no caller)
        raise InvalidArgument(
            f"{info.field_name} is empty: name at least one column, or leave "
            f"{info.field_name} out to read them all"
        )
    return names


def _columns_keys(value: Any, info: ValidationInfo) -> Any:
    """``{column: kind}``, also as JSON text or ``a:Date,b:ID`` text for people with curl;
    checked against the layout registry."""
    if isinstance(value, str):
        value = _mapping_text(value, info.field_name or "columns_keys")
    parse_columns_keys(value)
    return value


def _mapping_text(value: str, field: str) -> Any:
    text = value.strip()
    if text.startswith("{") or text == "null":
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            raise InvalidArgument(f"{field} is not valid JSON") from None
    pairs = [p.split(":", 1) for p in text.split(",") if p]
    if pairs and all(len(p) == 2 for p in pairs):
        return {k.strip(): v.strip() for k, v in pairs}
    raise InvalidArgument(f'{field} must be an object like {{"ts": "Date"}} or text like ts:Date')


_TEXT = {"type": "string"}
FrameName = Annotated[
    str, BeforeValidator(_name), WithJsonSchema({**_TEXT, "maxLength": 1024}), Field()
]
#: the name of a frame a write may create: one every route of the HTTP API reaches as
#: itself (:func:`~pandasdb_core.names.validate_addressable`), so a frame stored locally or
#: by the CLI is reachable over HTTP too
NewFrameName = Annotated[
    str, BeforeValidator(_addressable), WithJsonSchema({**_TEXT, "maxLength": 1024}), Field()
]
Segment = Annotated[str, BeforeValidator(_segment), WithJsonSchema({**_TEXT, "maxLength": 255})]
DateValue = Annotated[
    DateBound,
    BeforeValidator(_date),
    WithJsonSchema({**_TEXT, "description": "ISO date or datetime; a date covers its whole day"}),
]
IdValue = Annotated[int, BeforeValidator(_id), WithJsonSchema({"type": "integer"})]
IdList = Annotated[
    tuple[int, ...],
    BeforeValidator(_ids),
    WithJsonSchema({"type": "array", "items": {"type": "integer"}}),
]
#: a version number; whether the frame has it is checked against the frame
Version = Annotated[int, BeforeValidator(_whole("a version number"))]
Count = Annotated[int, BeforeValidator(_whole("a positive integer")), Field(ge=1)]
RowCount = Annotated[
    int, BeforeValidator(_whole("a positive integer")), Field(ge=1, le=100_000_000)
]
Flag = Annotated[bool, BeforeValidator(_flag), WithJsonSchema({"type": "boolean"})]
ColumnNames = Annotated[
    tuple[str, ...],
    BeforeValidator(_names),
    WithJsonSchema({"type": "array", "items": {"type": "string"}}),
]
ColumnsKeys = Annotated[
    dict[str, str],
    BeforeValidator(_columns_keys),
    WithJsonSchema(
        {"type": "object", "additionalProperties": {"enum": [k.user_name for k in USER_KINDS]}}
    ),
]

_KEY = re.compile(r"[A-Za-z0-9._:@+=-]{1,200}")


def _idempotency_key(value: Any, info: ValidationInfo) -> str:
    if not isinstance(value, str) or not _KEY.fullmatch(value):
        raise InvalidArgument(
            f"{info.field_name} must be 1-200 letters, digits or . _ : @ + = -, got {value!r}"
        )
    return value


IdempotencyKey = Annotated[
    str,
    BeforeValidator(_idempotency_key),
    WithJsonSchema({**_TEXT, "pattern": _KEY.pattern}),
    Field(
        description=(
            "Names this write: a repeat with the same key (a retried request, a re-run "
            "notebook cell) commits nothing and returns the first commit. 1-200 letters, "
            "digits or . _ : @ + = -"
        ),
    ),
]

#: field metadata (see :mod:`.base`)
MANY = {"many": True}
IN_PATH = {"in": "path", "cli": False}
