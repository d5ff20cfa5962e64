"""The function's concurrent executions on ``pandasdb serve``: worker processes, each with
its own handler, as Lambda runs each concurrent execution in an environment of its own.

Processes rather than threads, for two reasons measured on ``bench/serve_load.py``: the
handler keeps state in module globals (Powertools' metrics, the logger's correlation id), so
two threads of one process corrupt each other's metrics and fail requests; and a long,
CPU-bound upload holding one interpreter's lock stalled every other request (6x the idle
median latency), where a process of its own leaves the others their share of the machine.

Example
-------
>>> import tempfile
>>> pool = FunctionPool(FunctionConfig(tempfile.mkdtemp(), False, "http://h", b"k" * 32), 1)
>>> event = {"httpMethod": "GET", "path": "/dataframes", "headers": {},
...          "requestContext": {"requestId": "r", "authorizer": {"claims": {"sub": "local"}}}}
>>> pool.invoke(event, timeout=60)["statusCode"]
200
>>> pool.close()
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from pandasdb_core.wire import PRESIGN_SECONDS

from .context import StoreResolver
from .handler import make_handler
from .local_stores import Presigner, StoreCache

#: the Lambda handler's signature: a proxy event and a context in, a proxy response out
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


class FunctionCrashed(RuntimeError):
    """A worker process died during a call (Lambda reports a runtime exit)."""


@dataclass(frozen=True)
class FunctionConfig:
    """What a worker process needs to build its handler: the data folder, whether it holds
    one folder per user, the presigned URLs' base, secret and lifetime, the handler factory
    (a picklable callable: resolver -> handler), and whether stores write symlink manifests
    with each commit (None: ``PANDASDB_MANIFESTS``)."""

    data: str
    per_user: bool
    base_url: str
    secret: bytes
    handler_factory: Callable[[StoreResolver], Handler] = make_handler
    presign_seconds: int = PRESIGN_SECONDS
    manifests: bool | None = None


class InvocationContext:
    """The context object of one invocation, as Lambda's Python runtime gives it, for what
    the handler reads of it: the time left until ``ends_at`` (epoch seconds), which is when
    the gateway stops waiting ("Using the Lambda context object to retrieve Python function
    information": get_remaining_time_in_millis).

    Example
    -------
    >>> 9_000 < InvocationContext(time.time() + 10, "r").get_remaining_time_in_millis() <= 10_000
    True
    """

    function_name = "pandasdb-local"
    memory_limit_in_mb = 0

    def __init__(self, ends_at: float, request_id: str) -> None:
        self.ends_at = ends_at
        self.aws_request_id = request_id

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.ends_at - time.time()) * 1000))


#: this worker process's handler (one per process, as in a Lambda execution environment)
_handler: Handler | None = None


def _start_worker(config: FunctionConfig) -> None:
    global _handler
    # the server stops its workers itself; Ctrl-C in a terminal must not hit them mid-call
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    presigner = Presigner(config.base_url, config.secret, config.presign_seconds)
    stores = StoreCache(config.data, config.per_user, presigner, config.manifests)
    _handler = config.handler_factory(stores)  # a resolver that says how tokens are got


def _call(event: dict[str, Any], ends_at: float | None = None) -> dict[str, Any]:
    assert _handler is not None, "the worker was started by _start_worker"
    request_id = str((event.get("requestContext") or {}).get("requestId", ""))
    context = None if ends_at is None else InvocationContext(ends_at, request_id)
    return _handler(event, context)


def _pid() -> int:
    return os.getpid()


class FunctionPool:
    """Up to ``workers`` worker processes, started on first use; each runs one call at a
    time. A worker that dies is replaced (the call it ran fails with
    :class:`FunctionCrashed`)."""

    def __init__(self, config: FunctionConfig, workers: int) -> None:
        self.config = config
        self.workers = workers
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ProcessPoolExecutor(
                    self.workers,
                    # not fork: the server's threads would be copied mid-flight
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_start_worker,
                    initargs=(self.config,),
                )
            return self._executor

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._executor is broken:
                self._executor = None
        broken.shutdown(wait=False, cancel_futures=True)

    def invoke(
        self, event: dict[str, Any], timeout: float | None, started: float | None = None
    ) -> dict[str, Any]:
        """The handler's response to ``event``. ``timeout`` seconds after ``started`` (epoch
        seconds, when the request arrived; default now) raises :class:`TimeoutError`: a call
        under way goes on (as a Lambda invocation outlives API Gateway's 504), one still
        waiting for a worker is dropped. The handler's context then says how much of that
        time is left, so its commit retries end before it (:mod:`pandasdb_lambdas.context`)."""
        pool = self._pool()
        ends_at = None if timeout is None else (started or time.time()) + timeout
        future: Future[dict[str, Any]] = pool.submit(_call, event, ends_at)
        try:
            return future.result(None if ends_at is None else max(0.0, ends_at - time.time()))
        except TimeoutError:
            future.cancel()
            raise
        except BrokenProcessPool:
            self._replace(pool)
            raise FunctionCrashed("a worker process died during the call") from None

    def warm(self) -> list[int]:
        """Start every worker now (each loads the handler), rather than on first calls;
        returns their process ids."""
        pool = self._pool()
        return sorted({f.result() for f in [pool.submit(_pid) for _ in range(self.workers)]})

    def close(self) -> None:
        """Stop taking calls; calls under way finish, then their workers exit."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
