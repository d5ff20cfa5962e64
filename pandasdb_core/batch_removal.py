"""Removing one external key's batches from a batch frame, as a new version.

``delete(name, external_key=K)`` commits a version that drops every batch of ``K`` and adds
nothing: the same kind of commit as a ``keep_last`` upload, without rows, recorded in
``versions()`` as operation ``delete_key``. Readers see the
frame with or without those batches, never a part of them; ``as_of`` the version before still
reads them, and ``vacuum`` frees their files once no retained version reads them. Removing a
key that has no batches changes nothing (a repeated request is harmless).

Example
-------
>>> import pandas as pd, pandasdb_core as pdb
>>> db = pdb.open("memory://")
>>> _ = db.upload(pd.DataFrame({"a": [1]}), "runs", external_key="r1")
>>> _ = db.upload(pd.DataFrame({"a": [2]}), "runs", external_key="r2")
>>> db.delete("runs", external_key="r1")
>>> db.get("runs")["a"].tolist(), db.get("runs", as_of=2)["a"].tolist()
([2], [1, 2])
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import InvalidArgument
from .layouts import describe, keyed
from .layouts.batch import last_key_key
from .records import Commit, FrameHead
from .writing import Draft, FrameSettings, after_landing, commit_on_head, rows_dropped

if TYPE_CHECKING:
    from .store import Store


def remove_key(store: Store, name: str, key: str) -> Commit | None:
    """Commit a version of frame ``name`` without the batches of ``key``; None when the key
    has no batches at the latest version (nothing is committed).

    Raises
    ------
    FrameNotFound
        No frame ``name``.
    InvalidArgument
        The frame is partitioned (``columns_keys``): it has no external keys.
    CommitConflict
        Other writers kept moving the head through every retry.
    """

    def build(head: FrameHead) -> Draft | None:
        if not keyed(head.layouts):
            raise InvalidArgument(
                f"external_key applies to batch frames; frame {name!r} is partitioned by "
                f"{describe(head.layouts)}: delete the frame, or upload with keep_last=True"
            )
        draft = Draft(
            name=name,
            base=head,
            schema=head.schema,
            settings=FrameSettings(head.layouts, head.format, head.chunk_rows),
            written=(),
            external_key=key,
            keep_last=True,
            rows=0,
            # versions() says what the commit did: not an append, though it is built as one
            operation="delete_key",
        )
        return draft if rows_dropped(store, head, draft) else None

    commit = commit_on_head(store, name, build)
    if commit is not None:
        # informational, as in the seed: the key no longer has a latest batch; the commit
        # stands if this removal fails (reads go by the metadata, never by this file)
        after_landing(
            f"frame {name!r}: version {commit.version} is committed without key {key!r}",
            f"{last_key_key(name, key)!r} could not be removed",
            lambda: store.blobs.delete([last_key_key(name, key)]),
            "it names batches no read returns; an upload of the key writes it again",
        )
    return commit
