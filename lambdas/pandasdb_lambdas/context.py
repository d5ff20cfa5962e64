"""What a request runs against: the caller's store and a way to presign its blobs; and the
request's deadline, which ends its commit retries in time for the answer to reach the client.

Example
-------
>>> import pandasdb_core as pdb
>>> ctx = StoreContext(pdb.open("memory://"), lambda method, key: f"https://x/{key}")
>>> ctx.presign("GET", ".staging/a")
'https://x/.staging/a'
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from pandasdb_core import Store
from pandasdb_core.errors import StoreUnavailable
from pandasdb_core.wire import PRESIGN_SECONDS

from .identity import Caller

#: presign(method, key) -> a URL that allows exactly that method on that key, for a while
Presigner = Callable[[str, str], str]

#: API Gateway ends a REST integration after 29 s (API Gateway quotas, "Integration timeout"),
#: counted from when it received the request: a cold start's init and the body's parsing
#: included
GATEWAY_TIMEOUT_S = 29.0
#: what a request keeps, after its last commit attempt began, to finish that attempt and
#: answer: serialising, the proxy response, the gateway's own hop
ANSWER_MARGIN_S = 3.0


@dataclass(frozen=True)
class StoreContext:
    """The caller's store, its presigner and how long the presigner's URLs are valid."""

    store: Store
    presign: Presigner
    presign_seconds: int = PRESIGN_SECONDS


#: turns a verified caller into their StoreContext
StoreResolver = Callable[[Caller], StoreContext]

_SWITCH = {"1": True, "true": True, "yes": True, "on": True}
_SWITCH.update({"": False, "0": False, "false": False, "no": False, "off": False})


def manifests_setting(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the function opens stores with ``manifests=True``, so that every commit
    rewrites the frame's symlink manifests (for Athena, Trino and Spark tables over them):
    ``PANDASDB_MANIFESTS`` (the stack's ``manifests`` setting; off by default, a commit then
    costs no manifest writes). ``POST /dataframes/{name}/manifest`` writes them on demand.

    Example
    -------
    >>> manifests_setting({}), manifests_setting({"PANDASDB_MANIFESTS": "true"})
    (False, True)
    """
    value = (os.environ if environ is None else environ).get("PANDASDB_MANIFESTS", "")
    switch = _SWITCH.get(value.strip().lower())
    if switch is None:
        raise StoreUnavailable(
            f"PANDASDB_MANIFESTS is {value[:40]!r}; the function takes true or false"
        )
    return switch


def request_deadline(
    event: dict[str, Any], context: Any, *, margin_s: float = ANSWER_MARGIN_S
) -> float | None:
    """The :func:`time.monotonic` time by which a request must stop retrying its commit,
    taken once at handler entry; None when nothing bounds the request (a direct call).

    Two clocks bound it, and the earlier wins:

    - Lambda's: ``context.get_remaining_time_in_millis()``, the function's own timeout
      (Lambda developer guide, "Using the Lambda context object to retrieve Python function
      information"); it starts after the init phase, so it knows nothing of a cold start;
    - API Gateway's: 29 s from ``requestContext.requestTimeEpoch``, the epoch milliseconds at
      which the gateway received the request (API Gateway developer guide, "Input format of a
      Lambda function for proxy integration"), cold start and all.

    Example
    -------
    >>> class Context:
    ...     def get_remaining_time_in_millis(self):
    ...         return 10_000
    >>> left = request_deadline({}, Context()) - time.monotonic()
    >>> 6.9 < left <= 7.0
    True
    >>> request_deadline({}, None) is None
    True
    """
    now = time.monotonic()
    left: list[float] = []
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining):
        left.append(remaining() / 1000)
    received = (event.get("requestContext") or {}).get("requestTimeEpoch")
    if isinstance(received, int | float) and received > 0:
        left.append(received / 1000 + GATEWAY_TIMEOUT_S - time.time())
    if not left:
        return None
    return now + min(left) - margin_s


class DeadlineResolver:
    """A resolver whose stores' commit retries end at the deadline of the request under way
    (:meth:`request`): each store it resolves within the block runs
    :meth:`~pandasdb_core.Store.until` that deadline, and is its own again after the block. A
    handler serves one request at a time, as a Lambda execution environment does. The
    wrapped resolver's other attributes (``auth_config``) show through.
    """

    def __init__(self, resolve: StoreResolver) -> None:
        self.resolve = resolve
        self._deadline: float | None = None
        self._bounded: ExitStack | None = None

    def __getattr__(self, name: str) -> Any:
        if name == "resolve":  # not set yet: no recursion
            raise AttributeError(name)
        return getattr(self.resolve, name)

    def __call__(self, caller: Caller) -> StoreContext:
        ctx = self.resolve(caller)
        if self._bounded is not None:
            self._bounded.enter_context(ctx.store.until(self._deadline))
        return ctx

    @contextmanager
    def request(self, deadline: float | None) -> Iterator[None]:
        """Within the block, stores resolved end their commit retries at ``deadline``; after
        it, they keep their own deadline (none) again."""
        if deadline is None:
            yield
            return
        with ExitStack() as bounded:
            self._deadline, self._bounded = deadline, bounded
            try:
                yield
            finally:
                self._deadline, self._bounded = None, None
