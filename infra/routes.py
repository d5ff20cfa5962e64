"""The API Gateway resources and methods, derived from the HTTP route table
(:data:`pandasdb_core.http_routes.ROUTES`).

A REST API routes by resource: each static path part is a resource. A path parameter
(``{name}``) may hold ``/`` (frame names do), so from that part on a route maps to a greedy
``{proxy+}`` resource and the function's own router tells the routes under it apart. Routes
whose ``auth`` is False get authorization NONE; every resource also answers the CORS
preflight (OPTIONS) without an authorizer, since a browser sends no token with a preflight
(API Gateway developer guide, "Enabling CORS for a REST API resource").

Example
-------
>>> from types import SimpleNamespace as Route
>>> routes = [Route(method="GET", path="/a/{name}/b", auth=True)]
>>> [(m.resource, m.method, m.auth) for m in gateway_methods(routes)]
[('/a/{proxy+}', 'GET', True), ('/a/{proxy+}', 'OPTIONS', False)]
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

PROXY = "{proxy+}"


class RouteLike(Protocol):
    """What a route of the table offers: method, path with ``{param}`` parts, auth."""

    @property
    def method(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def auth(self) -> bool: ...


@dataclass(frozen=True, order=True)
class GatewayMethod:
    """A method on an API Gateway resource (``/dataframes/{proxy+}``)."""

    resource: str
    method: str
    auth: bool


def resource_path(path: str) -> str:
    """The resource a route's path lands on.

    Example
    -------
    >>> resource_path("/dataframes/{name}/versions"), resource_path("/auth/config")
    ('/dataframes/{proxy+}', '/auth/config')
    """
    parts = []
    for part in path.strip("/").split("/"):
        if part.startswith("{"):
            parts.append(PROXY)
            break
        if part:
            parts.append(part)
    return "/" + "/".join(parts)


def gateway_methods(routes: Iterable[RouteLike]) -> list[GatewayMethod]:
    """Every method the API needs for ``routes``, OPTIONS included, sorted.

    Raises
    ------
    ValueError
        When two routes land on one method with different ``auth``: API Gateway could not
        tell them apart.
    """
    auth: dict[tuple[str, str], bool] = {}
    #: methods of routes that end at their parameter: the only ones a static resource beside
    #: the proxy can receive for its own path (``GET /dataframes/upload``)
    bare: set[tuple[str, str]] = set()
    for route in routes:
        key = (resource_path(route.path), route.method.upper())
        if route.path.endswith("}"):
            bare.add(key)
        if auth.setdefault(key, route.auth) != route.auth:
            raise ValueError(
                f"routes: {route.method} {route.path} lands on {key[1]} {key[0]} with another "
                "route of different auth; API Gateway cannot tell them apart"
            )
    _cover_shadowed(auth, bare)
    for resource in {resource for resource, _ in auth}:
        auth[(resource, "OPTIONS")] = False
    return sorted(GatewayMethod(r, m, a) for (r, m), a in auth.items())


def _cover_shadowed(auth: dict[tuple[str, str], bool], bare: set[tuple[str, str]]) -> None:
    """Give every static resource beside a greedy ``{proxy+}`` the proxy's methods, and a
    ``{proxy+}`` child of its own with them.

    API Gateway picks the most specific resource and does not fall back: with
    ``/dataframes/upload`` (POST) beside ``/dataframes/{proxy+}`` (GET, DELETE), a GET of the
    frame named ``upload`` lands on ``/dataframes/upload``, and one of ``upload/x`` finds no
    resource at all. The function's own router tells such requests apart, so those resources
    send the proxy's methods to it too.
    """
    while True:
        resources = gateway_resources(GatewayMethod(r, m, a) for (r, m), a in auth.items())
        added = False
        for proxy in [r for r in resources if r.endswith("/" + PROXY)]:
            parent = proxy[: -len(PROXY)]
            methods = {m: a for (r, m), a in auth.items() if r == proxy}
            for resource in resources:
                if resource == proxy or not resource.startswith(parent):
                    continue
                below = resource if resource.endswith(PROXY) else f"{resource}/{PROXY}"
                for method, needs_auth in methods.items():
                    targets = [below] + ([resource] if (proxy, method) in bare else [])
                    for target in targets:
                        if (target, method) not in auth:
                            auth[(target, method)] = needs_auth
                            added = True
                            if (proxy, method) in bare:
                                bare.add((below, method))
        if not added:
            return


def gateway_resources(methods: Iterable[GatewayMethod]) -> list[str]:
    """Every resource path the methods need, parents before children; ``/`` (the API's root
    resource) is not listed.

    Example
    -------
    >>> from types import SimpleNamespace as Route
    >>> gateway_resources(gateway_methods([Route(method="GET", path="/a/b/{name}", auth=True)]))
    ['/a', '/a/b', '/a/b/{proxy+}']
    """
    found = set()
    for method in methods:
        parts = method.resource.strip("/").split("/")
        found.update("/" + "/".join(parts[:n]) for n in range(1, len(parts) + 1) if parts[0])
    return sorted(found, key=lambda p: (p.count("/"), p))
