"""What a request runs against: the caller's store and a way to presign its blobs.

Example
-------
>>> import pandasdb_core as pdb
>>> ctx = StoreContext(pdb.open("memory://"), lambda method, key: f"https://x/{key}")
>>> ctx.presign("GET", ".staging/a")
'https://x/.staging/a'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pandasdb_core import Store

from .identity import Caller

#: presign(method, key) -> a URL that allows exactly that method on that key, for a while
Presigner = Callable[[str, str], str]


@dataclass(frozen=True)
class StoreContext:
    """The caller's store and its presigner."""

    store: Store
    presign: Presigner


#: turns a verified caller into their StoreContext
StoreResolver = Callable[[Caller], StoreContext]
