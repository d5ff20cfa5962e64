"""Users' stores on ``pandasdb serve``: one folder per user, and the presigned URLs that
stand in for S3's (HMAC-signed, expiring, one key and one method, served at ``/_blobs/``).

Example
-------
>>> import tempfile
>>> stores = StoreCache(tempfile.mkdtemp(), per_user=True, presigner=Presigner("http://h"))
>>> from pandasdb_lambdas.identity import Caller
>>> ctx = stores.resolve(Caller("alice", "alice"))
>>> ctx.presign("PUT", ".staging/uploads/1").startswith("http://h/_blobs/alice/.staging/")
True
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pandasdb_core as pdb
from pandasdb_core.wire import PRESIGN_SECONDS

from .auth_config import users_file_config
from .context import StoreContext, manifests_setting
from .identity import Caller


class Presigner:
    """HMAC-signed, expiring URLs for one method on one key of one user's store, valid
    ``seconds`` (S3's presigned URLs of the API: 15 minutes)."""

    def __init__(
        self, base_url: str, secret: bytes | None = None, seconds: int = PRESIGN_SECONDS
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.secret = secret or os.urandom(32)
        self.seconds = seconds

    def _signature(self, method: str, user: str, key: str, expires: int) -> str:
        message = f"{method}\n{user}\n{key}\n{expires}".encode()
        # the one-shot form: a tenth of hmac.new's cost, paid twice by each chunk file's GET
        return hmac.digest(self.secret, message, hashlib.sha256).hex()

    def sign(self, method: str, user: str, key: str, seconds: int | None = None) -> str:
        """A URL allowing ``method`` on ``key`` of ``user`` for ``seconds`` (default: the
        presigner's)."""
        expires = int(time.time()) + (self.seconds if seconds is None else seconds)
        query = urlencode(
            {"expires": expires, "signature": self._signature(method, user, key, expires)}
        )
        return f"{self.base_url}/_blobs/{quote(user)}/{quote(key)}?{query}"

    def check(self, method: str, user: str, key: str, query: dict[str, list[str]]) -> str | None:
        """None if the URL is valid now, else the reason it is not."""
        try:
            expires = int(query["expires"][0])
            signature = query["signature"][0]
        except (KeyError, ValueError, IndexError):
            return "the URL is not signed"
        if expires < time.time():
            return "the URL has expired"
        # as bytes: compare_digest refuses a str that is not ASCII (a URL's %C3%A9)
        expected = self._signature(method, user, key, expires).encode()
        if not hmac.compare_digest(signature.encode("utf-8", "replace"), expected):
            return "the signature does not match"
        return None


class StoreCache:
    """Each user's :class:`StoreContext`, opened once: the folder ``data/{user}`` when
    ``per_user`` (a users file), else ``data`` itself. Safe from any thread.

    ``manifests`` opens the stores with ``manifests=True`` (each commit rewrites the frame's
    symlink manifests); None takes ``PANDASDB_MANIFESTS``, as the Lambda function does
    (:func:`manifests_setting`)."""

    def __init__(
        self,
        data: str | os.PathLike[str],
        per_user: bool,
        presigner: Presigner,
        manifests: bool | None = None,
    ) -> None:
        self.data = Path(data)
        self.per_user = per_user
        self.presigner = presigner
        self.manifests = manifests_setting() if manifests is None else manifests
        self._stores: dict[str, StoreContext] = {}
        self._lock = threading.Lock()

    def __call__(self, caller: Caller) -> StoreContext:
        """The cache is the handler's resolver (see :meth:`resolve`)."""
        return self.resolve(caller)

    def auth_config(self) -> dict[str, Any]:
        """What ``GET /auth/config`` answers: tokens come from the users file, or none."""
        return users_file_config(self.per_user)

    def resolve(self, caller: Caller) -> StoreContext:
        """The caller's store and presigner (a :data:`~pandasdb_lambdas.context.StoreResolver`)."""
        with self._lock:
            ctx = self._stores.get(caller.username)
            if ctx is None:
                root = self.data / caller.username if self.per_user else self.data
                # a server: nobody watches its progress bars
                store = pdb.open(root, progress=False, manifests=self.manifests)

                def presign(method: str, key: str, user: str = caller.username) -> str:
                    return self.presigner.sign(method, user, key)

                ctx = StoreContext(store, presign, self.presigner.seconds)
                self._stores[caller.username] = ctx
            return ctx
