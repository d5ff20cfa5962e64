"""The staging area of a user's store: large uploads sent by presigned URL before they are
committed, and large results left for the client to fetch. Both live under ``.staging/``
(no frame name can start with ``.``) and are removed once used, by ``vacuum`` after its grace
period, and on AWS by the bucket's lifecycle rule.

Example
-------
>>> from pandasdb_core.adapters.memory import MemoryBlobStore
>>> staging = Staging(MemoryBlobStore())
>>> upload_id = staging.new_upload_id()
>>> staging.upload_key(upload_id).startswith(".staging/uploads/")
True
"""

from __future__ import annotations

import re
import uuid

from .errors import BlobNotFound, InvalidArgument
from .ports import BlobStore

STAGING_PREFIX = ".staging/"
_UPLOAD_ID = re.compile(r"[0-9a-f]{32}")


class Staging:
    """Keys and transfers of the staging area of one blob store."""

    def __init__(self, blobs: BlobStore) -> None:
        self.blobs = blobs

    @staticmethod
    def new_upload_id() -> str:
        """A fresh, unguessable upload id."""
        return uuid.uuid4().hex

    @staticmethod
    def upload_key(upload_id: str) -> str:
        """Where the data of upload ``upload_id`` is staged."""
        if not isinstance(upload_id, str) or not _UPLOAD_ID.fullmatch(upload_id):
            raise InvalidArgument(f"staged: {upload_id!r} is not an upload id")
        return f"{STAGING_PREFIX}uploads/{upload_id}"

    @staticmethod
    def result_key(fmt: str) -> str:
        """A fresh key for a result too large to answer inline."""
        return f"{STAGING_PREFIX}results/{uuid.uuid4().hex}.{fmt}"

    def upload_size(self, upload_id: str) -> int | None:
        """The bytes staged for ``upload_id`` (None if nothing was staged), without reading
        them: a request refuses staged data too large for its memory before it holds any.

        Example
        -------
        >>> from pandasdb_core.adapters.memory import MemoryBlobStore
        >>> staging = Staging(MemoryBlobStore())
        >>> upload_id = staging.new_upload_id()
        >>> staging.blobs.put(staging.upload_key(upload_id), b"a\\n1\\n")
        >>> staging.upload_size(upload_id), staging.upload_size(staging.new_upload_id())
        (4, None)
        """
        key = self.upload_key(upload_id)
        return next((b.size for b in self.blobs.list(key) if b.key == key), None)

    def take_upload(self, upload_id: str) -> bytes:
        """The staged data of ``upload_id`` (refused if nothing was staged)."""
        try:
            return self.blobs.get(self.upload_key(upload_id))
        except BlobNotFound:
            raise InvalidArgument(f"staged: no staged upload {upload_id!r}") from None

    def discard_upload(self, upload_id: str) -> None:
        """Remove a staged upload once committed."""
        self.blobs.delete([self.upload_key(upload_id)])

    def put_result(self, data: bytes, fmt: str) -> str:
        """Stage a result; returns its key."""
        key = self.result_key(fmt)
        self.blobs.put(key, data)
        return key
