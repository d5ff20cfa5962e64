"""The base of every request type: one definition of an operation's parameters, with their
validation and their conversion to and from Python keywords, query strings, JSON bodies and
command-line flags.

A request type is a frozen pydantic model. Field metadata (``json_schema_extra``) says how a
field travels where its Python type does not say it all:

- ``"many": True``: several values (repeated query parameters, comma-separated text, or
  a JSON array of strings, whose values may hold commas);
- ``"in": "path"``: part of the URL path (a frame name), never a query parameter;
- ``"cli": False``: not a command-line flag (e.g. the CLI takes the name positionally).

Example
-------
>>> from pandasdb_core.operations import ReadQuery
>>> query = ReadQuery.from_query({"as_of": "3", "columns": ["a,b"]}, name="f")
>>> query.as_of, query.columns, query.to_query()
(3, ('a', 'b'), {'columns': ['a', 'b'], 'as_of': '3'})
"""

from __future__ import annotations

import argparse
import difflib
import functools
import inspect
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any, ClassVar, Literal, Self, TypeVar, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.fields import FieldInfo

from ..errors import InvalidArgument, PandasDBError, UnknownParameter
from ..values import DateBound

QueryValue = str | list[str]
F = TypeVar("F", bound=Callable[..., Any])
#: what parsed types accept, as signatures show them
_ACCEPTS: dict[Any, str] = {
    DateBound: "str | datetime.date | datetime.datetime",
    tuple[int, ...]: "int | list[int]",
    tuple[str, ...]: "list[str]",
}
#: the line of a method's docstring that :func:`takes` replaces by the operation's parameters
OPTIONS_MARKER = "<options>"

#: readable forms of pydantic's error types, for messages that name the field and reason
_REASONS = {
    "int_parsing": "must be an integer",
    "int_type": "must be an integer",
    "int_from_float": "must be a whole number",
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
    "string_type": "must be text",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "dict_type": "must be an object",
    "missing": "is required",
}


def _meta(field: FieldInfo) -> dict[str, Any]:
    extra = field.json_schema_extra
    return extra if isinstance(extra, dict) else {}


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _message(cls: type[Operation], exc: ValidationError) -> str:
    problems = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(part) for part in err.get("loc", ()))
        field = cls.public_name(loc.split(".", 1)[0])
        kind = err.get("type", "")
        if kind == "value_error":
            reason = str(err.get("ctx", {}).get("error", err.get("msg", "")))
            problems.append(reason if not loc or reason.startswith(field) else f"{field}: {reason}")
            continue
        reason = _REASONS.get(kind, err.get("msg", "is invalid").rstrip(".").lower())
        if kind == "literal_error":
            reason = f"must be one of {err['ctx']['expected']}"
        got = "" if kind == "missing" else f", got {_shown(err.get('input'))}"
        problems.append(f"{field}: {reason}{got}")
    return "; ".join(problems)


class Text(str):
    """A value spelt out as text (a query parameter, a command-line flag): numbers and
    switches in it are parsed, where values from Python or JSON must have their types."""

    __slots__ = ()


class Operation(BaseModel):
    """Base of the request types (see the module docstring)."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", arbitrary_types_allowed=True, validate_by_name=True
    )
    #: the operation's Python method, named in error messages (``get``, ``upload``)
    verb: ClassVar[str] = ""

    # ------------------------------------------------------------------ fields

    @classmethod
    def public_name(cls, field: str) -> str:
        """The name a field has on the wire (its alias, if any)."""
        info = cls.model_fields.get(field)
        return (info.alias or field) if info is not None else field

    @classmethod
    def query_fields(cls) -> dict[str, FieldInfo]:
        """Fields that travel as query parameters, by public name."""
        return {
            cls.public_name(name): info
            for name, info in cls.model_fields.items()
            if _meta(info).get("in") != "path"
        }

    @classmethod
    def keywords(cls) -> list[str]:
        """The Python keyword names, in definition order."""
        return list(cls.model_fields)

    # ------------------------------------------------------------------ Python

    @classmethod
    def build(cls, **values: Any) -> Self:
        """Validate Python keyword arguments (see :meth:`validate_values`)."""
        return cls.validate_values(values)

    @classmethod
    def validate_values(cls, values: Mapping[str, Any]) -> Self:
        """Validate values by field or alias name; a misspelt name names the closest valid
        one. :class:`Text` values (from query strings and flags) are parsed; others must have
        their field's type.

        Raises
        ------
        UnknownParameter
            A keyword the operation does not have (also a ``TypeError``).
        InvalidArgument
            A value that does not fit, naming the field and the reason.
        """
        unknown = [k for k in values if k not in cls.model_fields and k not in cls._aliases()]
        if unknown:
            raise UnknownParameter(cls._unknown(unknown, cls.keywords(), "keyword argument"))
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            found = exc.errors(include_url=False)
            cause = found[0].get("ctx", {}).get("error") if len(found) == 1 else None
            if isinstance(cause, PandasDBError):
                # keep its class (InvalidName, InvalidPartition...), naming the field as the
                # caller spelt it: dataframe_name over HTTP, name in Python
                spelt = str(found[0]["loc"][0]) if found[0].get("loc") else ""
                field = next((n for n, i in cls.model_fields.items() if i.alias == spelt), spelt)
                text = str(cause)
                if spelt != field and text.startswith(f"{field} "):
                    raise type(cause)(spelt + text[len(field) :]) from None
                raise cause from None
            raise InvalidArgument(_message(cls, exc)) from None

    @classmethod
    def _aliases(cls) -> set[str]:
        return {info.alias for info in cls.model_fields.values() if info.alias}

    @classmethod
    def _unknown(cls, unknown: list[str], valid: Iterable[str], what: str) -> str:
        verb = cls.verb if what == "keyword argument" else ""
        return unknown_message(verb, unknown, valid, what)

    # ------------------------------------------------------------------ query strings

    @classmethod
    def from_query(cls, params: Mapping[str, QueryValue] | None, **fixed: Any) -> Self:
        """Build from query parameters (one string or a list of strings each, as API Gateway's
        multi-value parameters give them); ``fixed`` values come from elsewhere (the path)."""
        return cls.from_sources(params, None, **fixed)

    @classmethod
    def from_sources(
        cls,
        params: Mapping[str, QueryValue] | None,
        body: Mapping[str, Any] | None,
        **fixed: Any,
    ) -> Self:
        """Build from query parameters and a parsed JSON object together (a null field means
        the default). A field given in both must mean the same in both (``keep_last=true``
        and ``"keep_last": true``); with two meanings it is refused, as a query parameter
        given twice with two values is: which one was meant is not for the server to guess.

        Example
        -------
        >>> from pandasdb_core.operations import UploadOptions as Options
        >>> Options.from_sources({"keep_last": "true"}, {"keep_last": True}, name="f").keep_last
        True
        >>> Options.from_sources({"dataframe_name": "a"}, {"dataframe_name": "b"})
        Traceback (most recent call last):
        ...
        pandasdb_core.errors.InvalidArgument: dataframe_name is given as query parameter 'a' ...
        """
        fields = cls.query_fields()
        values: dict[str, Any] = {}
        unknown = []
        for key, raw in (params or {}).items():
            info = fields.get(key)
            if info is None:
                unknown.append(key)
                continue
            texts = [raw] if isinstance(raw, str) else list(raw)
            if _meta(info).get("many"):
                values[key] = [Text(p) for text in texts for p in _many(text)]
            elif len(set(texts)) > 1:
                # which one was meant (?as_of=1&as_of=2, two external_key of a delete) is
                # not for the server to guess
                shown = ", ".join(repr(t) for t in list(dict.fromkeys(texts))[:3])
                raise InvalidArgument(
                    f"{key} is given {len(texts)} times with different values ({shown}); it "
                    "takes one value"
                )
            elif texts:
                values[key] = Text(texts[-1])
        if unknown:
            raise UnknownParameter(cls._unknown(unknown, fields, "query parameter"))
        body = body or {}
        unknown = [k for k in body if k not in fields]
        if unknown:
            raise UnknownParameter(cls._unknown(unknown, fields, "field"))
        given = {k: v for k, v in body.items() if v is not None}
        both = [k for k in given if k in values]
        if both:
            cls._same_in_both(both, values, given, fixed)
        values.update(given)
        return cls.validate_values({**values, **fixed})

    @classmethod
    def _same_in_both(
        cls, keys: list[str], query: dict[str, Any], body: dict[str, Any], fixed: dict[str, Any]
    ) -> None:
        """Refuse fields the query and the body both give, with meanings that differ once
        each is parsed (``"1"`` and ``1`` are one value). Values that do not parse are left
        to the validation that follows, whose message names them."""
        for key in keys:
            try:
                from_query = cls.validate_values({**query, **fixed})
                from_body = cls.validate_values({**query, key: body[key], **fixed})
            except PandasDBError:
                continue
            if from_query != from_body:
                raise InvalidArgument(
                    f"{key} is given as query parameter {query[key]!r} and as body field "
                    f"{body[key]!r}, which differ; give it once"
                )

    def to_query(self) -> dict[str, QueryValue]:
        """The query parameters that rebuild this request with :meth:`from_query` (fields at
        their default are left out)."""
        out: dict[str, QueryValue] = {}
        for name, info in type(self).model_fields.items():
            if _meta(info).get("in") == "path":
                continue
            value = getattr(self, name)
            if value is None or value == info.default:
                continue
            out[info.alias or name] = _to_text(value)
        return out

    # ------------------------------------------------------------------ JSON bodies

    @classmethod
    def from_json(cls, body: Mapping[str, Any], **fixed: Any) -> Self:
        """Build from a parsed JSON object (unknown fields are refused; nulls mean default)."""
        return cls.from_sources(None, body, **fixed)

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict of the non-default fields, by public name."""
        out: dict[str, Any] = {}
        for name, info in type(self).model_fields.items():
            value = getattr(self, name)
            if _meta(info).get("in") == "path" or value is None or value == info.default:
                continue
            out[info.alias or name] = _plain(value)
        return out

    # ------------------------------------------------------------------ command line

    @classmethod
    def add_cli_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """Add one flag per field (``--start-date``; booleans are switches; several values
        repeat the flag or separate them by commas)."""
        for name, info in cls.model_fields.items():
            meta = _meta(info)
            if meta.get("cli") is False or meta.get("in") == "path":
                continue
            flag = "--" + name.replace("_", "-")
            help_text = (info.description or "").split(". ")[0]
            if info.annotation is bool:
                parser.add_argument(flag, action="store_true", dest=name, help=help_text)
            elif meta.get("many"):
                parser.add_argument(flag, action="append", dest=name, help=help_text)
            else:
                parser.add_argument(flag, dest=name, help=help_text, choices=_choices(info))

    @classmethod
    def from_cli(cls, args: argparse.Namespace, **fixed: Any) -> Self:
        """Build from the flags :meth:`add_cli_arguments` added (text values are parsed as
        query parameters are)."""
        params: dict[str, QueryValue] = {}
        for name, info in cls.model_fields.items():
            value = getattr(args, name, None)
            if value is None or value is False or name in fixed:
                continue
            params[info.alias or name] = "true" if value is True else value
        return cls.from_query(params, **fixed)


def _choices(info: FieldInfo) -> tuple[Any, ...] | None:
    """The values of a ``Literal`` field (or an optional one), for argparse."""
    for candidate in (info.annotation, *get_args(info.annotation)):
        if get_origin(candidate) is Literal:
            return get_args(candidate)
    return None


def _shown_type(annotation: Any) -> Any:
    """A field's type as a reader wants it in a signature: without validators, and with the
    inputs a parsed type accepts."""
    if get_origin(annotation) is Annotated:
        return _shown_type(get_args(annotation)[0])
    args = get_args(annotation)
    if args and type(None) in args:
        inner = [_shown_type(a) for a in args if a is not type(None)]
        return " | ".join(_type_name(a) for a in inner) + " | None"
    return _ACCEPTS.get(annotation, annotation)


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, str):
        return annotation
    if get_origin(annotation) is not None:  # Literal[...], dict[str, str]
        return str(annotation).replace("typing.", "")
    return getattr(annotation, "__name__", str(annotation))


def _many(text: str) -> list[str]:
    """The values of one text of a several-valued parameter: a JSON array of strings
    (``["v,id","x"]``) gives its strings whole, so a column whose name holds a comma can be
    named; any other text is split at commas (``a,b``), empty parts dropped.

    Example
    -------
    >>> _many('["v,id","x"]'), _many("a,b,"), _many("[1]")
    (['v,id', 'x'], ['a', 'b'], ['[1]'])
    """
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except (ValueError, RecursionError):
            parsed = None
        if isinstance(parsed, list) and all(isinstance(v, str) for v in parsed):
            return [v for v in parsed if v != ""]
    return [p for p in text.split(",") if p != ""]


def _plain(value: Any) -> Any:
    if isinstance(value, list | tuple | frozenset):
        return [_plain(v) for v in value]
    if isinstance(value, bool | int | float | dict) or value is None:
        return value
    return str(value)


def _to_text(value: Any) -> QueryValue:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, list | tuple | frozenset):
        return [str(_to_text(v)) for v in value]
    return str(value)


def unknown_message(verb: str, unknown: Iterable[str], valid: Iterable[str], what: str) -> str:
    """``get() unexpected keyword argument 'star_date'; did you mean 'start_date'?``.

    Example
    -------
    >>> unknown_message("get", ["engin"], ["engine", "as_of"], "keyword argument")
    "get() unexpected keyword argument 'engin'; did you mean 'engine'? (valid: as_of, engine)"
    """
    choices = sorted(valid)
    parts = []
    for name in unknown:
        close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        parts.append(f"unexpected {what} {name!r}{hint}")
    where = f"{verb}() " if verb else ""
    return f"{where}{'; '.join(parts)} (valid: {', '.join(choices)})"


def takes(op: type[Operation], *, skip: Iterable[str] = ("name",)) -> Callable[[F], F]:
    """Give a method that takes ``**options`` for ``op`` the signature and parameter docs of
    ``op``'s fields, so ``help()``, IDEs and notebooks show them without a second list; a
    misspelt keyword names the closest of all the method's keywords.

    Example
    -------
    >>> from pandasdb_core.operations import ReadQuery
    >>> @takes(ReadQuery)
    ... def get(name: str, **filters: Any) -> None:
    ...     \"\"\"Read.\"\"\"
    >>> "as_of" in inspect.signature(get).parameters
    True
    """
    skipped = set(skip)

    def decorate(fn: F) -> F:
        signature = inspect.signature(fn)
        params = [p for p in signature.parameters.values() if p.kind != p.VAR_KEYWORD]
        docs = []
        for name, info in op.model_fields.items():
            if name in skipped:
                continue
            params.append(
                inspect.Parameter(
                    name,
                    inspect.Parameter.KEYWORD_ONLY,
                    default=info.default,
                    annotation=_shown_type(info.annotation),
                )
            )
            docs.append(f"        {name}\n            {info.description or ''}")
        valid = [p.name for p in params if p.name != "self" and p.kind != p.VAR_POSITIONAL]

        @functools.wraps(fn)
        def checked(*args: Any, **kwargs: Any) -> Any:
            unknown = [k for k in kwargs if k not in valid]
            if unknown:
                raise UnknownParameter(
                    unknown_message(fn.__name__, unknown, valid, "keyword argument")
                )
            return fn(*args, **kwargs)

        checked.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
        if fn.__doc__ and OPTIONS_MARKER in fn.__doc__:
            checked.__doc__ = fn.__doc__.replace(f"        {OPTIONS_MARKER}", "\n".join(docs))
        return checked  # type: ignore[return-value]

    return decorate
