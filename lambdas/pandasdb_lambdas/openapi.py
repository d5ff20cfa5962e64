"""The API's OpenAPI 3.1 document and its HTML docs page, derived from the route table and the
request types (so they list exactly the routes and parameters the app serves).

Example
-------
>>> doc = openapi_document()
>>> [p["name"] for p in doc["paths"]["/dataframes/{name}/versions"]["get"]["parameters"]]
['name']
"""

from __future__ import annotations

import html
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from pandasdb_core.http_routes import ROUTES, Route

ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {"type": "string", "description": "What went wrong, for a person"},
        "message": {"type": "string", "description": "The same sentence"},
        "code": {"type": "string", "description": "A stable code: invalid_argument, ..."},
    },
    "required": ["error", "message", "code"],
}
_ERRORS = {
    "400": "Bad input: the message names the field and the reason",
    "401": "Missing or invalid token",
    "404": "No such frame (also another user's)",
    "409": "A commit conflict that retries could not resolve",
    "413": "Too large to send inline: stage it",
}


def _version() -> str:
    try:
        return version("pandasdb")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0"


def _parameters(route: Route) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string"},
            "description": "A frame name; may contain `/` (send it as `%2F`).",
        }
        for name in ("name",)
        if "{name}" in route.path
    ]
    if route.request is None:
        return params
    properties = route.request.model_json_schema(by_alias=True).get("properties", {})
    for public, info in route.request.query_fields().items():
        schema = dict(properties.get(public, {}))
        schema.pop("title", None)
        description = schema.pop("description", None) or info.description or ""
        params.append(
            {
                "name": public,
                "in": "query",
                "required": info.is_required(),
                "description": description,
                "schema": schema,
            }
        )
    return params


def _operation(route: Route) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": {"description": "OK"}}
    for status, text in _ERRORS.items():
        if status == "401" and not route.auth:
            continue
        responses[status] = {
            "description": text,
            "content": {"application/json": {"schema": ERROR_SCHEMA}},
        }
    summary = route.summary + (
        " (compatibility route of the original backend)" if route.compat else ""
    )
    operation: dict[str, Any] = {
        "operationId": route.name,
        "summary": summary,
        "description": route.description,
        "tags": ["compatibility" if route.compat else "dataframes"],
        "parameters": _parameters(route),
        "responses": responses,
    }
    operation["security"] = [{"bearer": []}] if route.auth else []
    return operation


@cache
def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route."""
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {"title": "pandasdb", "version": _version()},
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A Cognito ID token on AWS, a users-file token locally; "
                    "the token alone (without 'Bearer') is accepted too.",
                }
            }
        },
    }


@cache
def docs_page() -> str:
    """A self-contained HTML page describing every route (no CDN needed)."""
    rows = []
    for route in ROUTES:
        params = ", ".join(
            f"<code>{html.escape(p['name'])}</code>"
            for p in _parameters(route)
            if p["in"] == "query"
        )
        mark = " <em>(compatibility)</em>" if route.compat else ""
        auth = "" if route.auth else " <em>(no token)</em>"
        rows.append(
            f"<tr><td><code>{route.method} {html.escape(route.path)}</code>{mark}{auth}</td>"
            f"<td>{html.escape(route.summary)}</td><td>{params}</td></tr>"
        )
    return (
        '<!doctype html><html><head><meta charset="utf-8"><title>pandasdb API</title>'
        "<style>body{font-family:sans-serif;max-width:70em;margin:2em auto}"
        "code{background:#eee}td{padding:.3em;vertical-align:top;border-bottom:1px solid #ddd}"
        "</style></head><body><h1>pandasdb HTTP API</h1>"
        '<p>The machine-readable description is at <a href="openapi.json">openapi.json</a>. '
        "Send <code>Authorization: Bearer TOKEN</code> (or the token alone).</p>"
        "<table><tr><th>route</th><th>what</th><th>query parameters</th></tr>"
        + "".join(rows)
        + '</table><p>Errors are <code>{"error": TEXT, "message": TEXT, "code": CODE}</code> '
        "with 400, 401, 404, 409 or 413.</p></body></html>"
    )
