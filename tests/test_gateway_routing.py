"""Every request the function's router serves reaches it through API Gateway's resources.

API Gateway picks the most specific resource for a path (a static part beats ``{proxy+}``)
and does not fall back when that resource lacks the method: it answers 403 "Missing
Authentication Token" (API Gateway developer guide, "Set up a proxy integration with a proxy
resource"). So a frame named like a static part (``upload``, ``get``, ``sessions``...) needs
the proxy's methods on that static resource too. moto and Pulumi's mocks do not route."""

from __future__ import annotations

import re

import pytest

from infra.routes import PROXY, gateway_methods, gateway_resources
from pandasdb_core.http_routes import ROUTES, find


def gateway_resource(path: str, resources: set[str]) -> str | None:
    """The resource API Gateway matches for ``path``: static parts first, else a greedy
    proxy that takes the rest."""
    current = ""
    parts = path.strip("/").split("/")
    for i, part in enumerate(parts):
        if f"{current}/{part}" in resources:
            current = f"{current}/{part}"
        elif f"{current}/{PROXY}" in resources:
            return f"{current}/{PROXY}"
        else:
            return None
        if i == len(parts) - 1:
            return current
    return current


METHODS = gateway_methods(ROUTES)
DEPLOYED = {(m.resource, m.method) for m in METHODS}
RESOURCES = set(gateway_resources(METHODS))
STATIC_WORDS = sorted({p for r in ROUTES for p in r.path.strip("/").split("/") if "{" not in p})
#: frame names that look like the API's own path parts, at every depth
FRAME_NAMES = [
    "sales/2024/daily",
    *STATIC_WORDS,
    *(f"{word}/x" for word in STATIC_WORDS),
    "upload/a/b",
    "x/versions/y",
]


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
@pytest.mark.parametrize("frame", FRAME_NAMES)
def test_each_route_and_frame_name_reaches_a_deployed_method(route, frame):
    params = {p: frame for p in re.findall(r"\{(\w+)\}", route.path)}
    path = route.url(**params).replace("%2F", "/")  # clients may send slashes raw
    if find(route.method, path) is None:
        return  # the function's router would not serve it either
    resource = gateway_resource(path, RESOURCES)
    assert resource is not None, path
    assert (resource, route.method) in DEPLOYED, f"{route.method} {path} lands on {resource}"
