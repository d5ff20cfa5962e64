"""The Lambda handler: one request -> path normalised -> routes -> response, logged and
measured. AWS and ``pandasdb serve`` run this same function, bound to different stores.

The request's deadline is taken once, at entry (:func:`pandasdb_lambdas.context.request_deadline`:
Lambda's remaining time, API Gateway's 29 s from when it received the request, less a
margin), and every store the request resolves runs :meth:`~pandasdb_core.Store.until` it,
so its commit retries stop there: the time a cold start or the body's parsing took is no
longer counted twice, and no commit lands after API Gateway answered 504.

Example
-------
>>> import pandasdb_core as pdb
>>> from pandasdb_lambdas.context import StoreContext
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

from pandasdb_core.http_routes import find

from .api import build_app, request_path
from .context import DeadlineResolver, StoreResolver, request_deadline
from .observability import logger, metrics

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def route_path(path: str, method: str) -> tuple[str, str]:
    """The path Powertools matches (a frame name's ``/`` percent-encoded, so that the name is
    one path segment) and the route's metric label, for the request's path decoded once
    (:func:`pandasdb_lambdas.api.request_path`).

    Example
    -------
    >>> route_path("/dataframes/sales/daily/versions", "GET")
    ('/dataframes/sales%2Fdaily/versions', 'GET /dataframes/{name}/versions')
    """
    route = find(method, path)
    if route is None:
        return path, f"{method} unknown"
    params = route.path_params(path) or {}
    return route.url(**params), f"{method} {route.path}"


def make_handler(resolve: StoreResolver) -> Handler:
    """Build the handler for ``resolve`` (caller -> the caller's store). One handler serves
    one request at a time (Powertools keeps the current event on its app, and its metrics and
    logger are global to the process), as a Lambda execution environment does; ``pandasdb
    serve`` runs one per worker process."""
    bounded = DeadlineResolver(resolve)
    app = build_app(bounded)

    @metrics.log_metrics
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        deadline = request_deadline(event, context)
        request_context = event.get("requestContext") or {}
        logger.set_correlation_id(request_context.get("requestId"))
        method = event.get("httpMethod", "")
        path, label = route_path(request_path(event), method)
        event = {**event, "path": path}
        metrics.add_dimension(name="route", value=label)
        with bounded.request(deadline):
            response = app.resolve(event, context)
        logger.info("request", extra={"route": label, "status": response["statusCode"]})
        return response

    handler.app = app  # type: ignore[attr-defined]
    return handler


__all__ = ["make_handler"]
