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

import contextlib
import importlib
import multiprocessing
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
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


#: what the handler imports only when a request needs it, loaded as a worker starts (as a
#: Lambda function's init phase runs before its first invocation): pyarrow sizes a parquet
#: body from its footer before it is decoded (``payloads.decoded_size``), some 0.2 s of a
#: worker's first upload piece, and the local store's SQLite
PRELOADED = ("pyarrow.parquet", "sqlite3")

#: this worker process's handler (one per process, as in a Lambda execution environment)
_handler: Handler | None = None


def _start_worker(config: FunctionConfig) -> None:
    global _handler
    # the server stops its workers itself; Ctrl-C in a terminal must not hit them mid-call
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    presigner = Presigner(config.base_url, config.secret, config.presign_seconds)
    stores = StoreCache(config.data, config.per_user, presigner, config.manifests)
    _handler = config.handler_factory(stores)  # a resolver that says how tokens are got
    for module in PRELOADED:
        importlib.import_module(module)


def _call(event: dict[str, Any], ends_at: float | None = None) -> dict[str, Any]:
    assert _handler is not None, "the worker was started by _start_worker"
    request_id = str((event.get("requestContext") or {}).get("requestId", ""))
    context = None if ends_at is None else InvocationContext(ends_at, request_id)
    return _handler(event, context)


def _pid() -> int:
    return os.getpid()


def _serve_calls(conn: Connection, config: FunctionConfig) -> None:
    """A worker process: build the handler, then run each call the pipe brings, one at a
    time, answering ``(True, result, "")`` or ``(False, exception, its traceback)``, until
    the pipe closes."""
    _start_worker(config)
    while True:
        try:
            function, args = conn.recv()
        except (EOFError, OSError):
            return  # the server closed the pipe: no more calls
        try:
            answer: tuple[bool, Any, str] = (True, function(*args), "")
        except Exception as exc:  # the handler's failure is the call's answer (a 502)
            answer = (False, exc, traceback.format_exc())
        try:
            conn.send(answer)
        except (EOFError, OSError):
            return  # the server went away
        except Exception as exc:  # an exception that does not pickle: say what it was
            conn.send((False, RuntimeError(f"{answer[1]!r} ({exc})"), answer[2]))


class RemoteTraceback(Exception):
    """The traceback of a handler's exception in its worker process (the ``__cause__`` of
    the exception :meth:`FunctionPool.invoke` raises), as ``concurrent.futures`` gives it."""

    def __str__(self) -> str:
        return f'\n"""\n{self.args[0]}"""'


class _Worker:
    """One worker process and the pipe its calls and answers travel on."""

    def __init__(self, config: FunctionConfig) -> None:
        ours, theirs = multiprocessing.Pipe()
        # not fork: the server's threads would be copied mid-flight; a daemon, so that a
        # server that stops without closing its pool (a test's) leaves no process behind
        self.process = multiprocessing.get_context("spawn").Process(
            target=_serve_calls, args=(theirs, config), name="pandasdb-function", daemon=True
        )
        self.process.start()
        theirs.close()
        self.conn = ours

    def close(self) -> None:
        """No more calls: the process exits once the call it runs (if any) is answered."""
        self.conn.close()


class FunctionPool:
    """Up to ``workers`` worker processes, started on first use; each runs one call at a
    time, sent to it on a pipe of its own. A worker that dies is replaced (the call it ran
    fails with :class:`FunctionCrashed`).

    A call costs one pickled message each way: through a ``ProcessPoolExecutor`` it also
    woke the executor's queue-feeding and result-collecting threads, some 0.3 ms of the
    server's CPU per request, and as much latency, on 2 cores."""

    def __init__(self, config: FunctionConfig, workers: int) -> None:
        self.config = config
        self.workers = workers
        self._idle: list[_Worker] = []
        #: workers started and not lost (idle or running a call)
        self._running = 0
        self._closed = False
        self._changed = threading.Condition()

    def _take(self, ends_at: float | None) -> _Worker:
        """An idle worker, or a new one while fewer than ``workers`` run, waiting for one
        until ``ends_at`` (epoch seconds); :class:`TimeoutError` if none came free in time."""
        with self._changed:
            while not self._idle and self._running >= self.workers:
                left = None if ends_at is None else ends_at - time.time()
                if self._closed or (left is not None and left <= 0):
                    raise TimeoutError("no worker came free in time")
                self._changed.wait(left)
            if self._closed:
                raise TimeoutError("the server is stopping")
            if self._idle:
                return self._idle.pop()
            self._running += 1
        try:
            return _Worker(self.config)
        except BaseException:
            self._lost()
            raise

    def _give_back(self, worker: _Worker) -> None:
        """A worker whose call was answered: idle again, or closed if the pool is."""
        with self._changed:
            if self._closed:
                worker.close()
                self._running -= 1
            else:
                self._idle.append(worker)
            self._changed.notify_all()

    def _lost(self) -> None:
        """A worker that died (or never started) no longer counts: another may start."""
        with self._changed:
            self._running -= 1
            self._changed.notify_all()

    def _answer(self, worker: _Worker, wait: float | None) -> tuple[bool, Any, str] | None:
        """The answer of the call ``worker`` runs, or None if it did not come within
        ``wait`` seconds; :class:`FunctionCrashed` if the worker died."""
        try:
            if not worker.conn.poll(wait):
                return None
            answer: tuple[bool, Any, str] = worker.conn.recv()
        except (EOFError, OSError):
            raise self._crashed(worker, "during the call") from None
        self._give_back(worker)
        return answer

    def _crashed(self, worker: _Worker, when: str) -> FunctionCrashed:
        """The error of a worker that died ``when``, which no longer counts."""
        worker.close()
        worker.process.join(5)
        self._lost()
        return FunctionCrashed(f"a worker process died {when}")

    def _outlived(self, worker: _Worker) -> None:
        """Wait for the answer of a call the gateway stopped waiting for (the worker is
        busy until it ends, as a Lambda invocation outlives API Gateway's 504)."""
        with contextlib.suppress(FunctionCrashed):
            self._answer(worker, None)

    def invoke(
        self, event: dict[str, Any], timeout: float | None, started: float | None = None
    ) -> dict[str, Any]:
        """The handler's response to ``event``. ``timeout`` seconds after ``started`` (epoch
        seconds, when the request arrived; default now) raises :class:`TimeoutError`: a call
        under way goes on (as a Lambda invocation outlives API Gateway's 504), one still
        waiting for a worker is dropped. The handler's context then says how much of that
        time is left, so its commit retries end before it (:mod:`pandasdb_lambdas.context`)."""
        ends_at = None if timeout is None else (started or time.time()) + timeout
        worker = self._take(ends_at)
        try:
            worker.conn.send((_call, (event, ends_at)))
        except OSError:
            raise self._crashed(worker, "before the call") from None
        wait = None if ends_at is None else max(0.0, ends_at - time.time())
        answer = self._answer(worker, wait)
        if answer is None:
            threading.Thread(target=self._outlived, args=(worker,), daemon=True).start()
            raise TimeoutError("the function outlived the gateway's timeout")
        ok, value, trace = answer
        if not ok:
            raise value from RemoteTraceback(trace)
        response: dict[str, Any] = value
        return response

    def warm(self) -> list[int]:
        """Start every worker now (each loads the handler), rather than on first calls;
        returns their process ids."""
        # none is given back meanwhile, so each is another worker (they start at once)
        taken = [self._take(None) for _ in range(self.workers)]
        for worker in taken:
            worker.conn.send((_pid, ()))
        answers = [self._answer(worker, None) for worker in taken]
        return sorted(answer[1] for answer in answers if answer is not None)

    def close(self) -> None:
        """Stop taking calls; calls under way finish (this waits for them), then their
        workers exit."""
        with self._changed:
            self._closed = True
            for worker in self._idle:
                worker.close()
            self._running -= len(self._idle)
            self._idle = []
            self._changed.notify_all()
            while self._running > 0:
                self._changed.wait()
