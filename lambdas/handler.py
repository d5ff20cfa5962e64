"""The Lambda handler: one request -> path normalised -> routes -> response, logged and
measured. AWS and ``pandasdb serve`` run this same function, bound to different stores.

Example
-------
>>> import pandasdb_core as pdb
>>> from lambdas.context import StoreContext
>>> handle = make_handler(lambda caller: StoreContext(pdb.open("memory://"), lambda m, k: k))
>>> event = {"httpMethod": "GET", "path": "/dataframes", "headers": {},
...          "requestContext": {"requestId": "r1", "authorizer": {"claims": {"sub": "u1"}}}}
>>> response = handle(event, None)  # prints the request's metrics as CloudWatch EMF
{"_aws":...}
>>> response["statusCode"]
200
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .api import build_app, route_path
from .context import StoreResolver
from .observability import logger, metrics

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def make_handler(resolve: StoreResolver) -> Handler:
    """Build the handler for ``resolve`` (caller -> the caller's store)."""
    app = build_app(resolve)

    @metrics.log_metrics
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        request_context = event.get("requestContext") or {}
        logger.set_correlation_id(request_context.get("requestId"))
        method = event.get("httpMethod", "")
        event = {**event, "path": route_path(event.get("path", ""), method)}
        metrics.add_dimension(name="route", value=f"{method} {_route_label(event['path'])}")
        response = app.resolve(event, context)
        logger.info(
            "request",
            extra={"method": method, "path": event["path"], "status": response["statusCode"]},
        )
        return response

    handler.app = app  # type: ignore[attr-defined]
    return handler


def _route_label(path: str) -> str:
    parts = path.split("/")
    if len(parts) >= 3 and parts[1] == "dataframes" and parts[2] not in ("upload", "staging"):
        parts[2] = "{name}"
    return "/".join(parts)


__all__ = ["make_handler"]
