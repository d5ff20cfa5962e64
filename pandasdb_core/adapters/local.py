"""Blobs as files in a folder: written to a temporary name, then renamed into place.

A crash leaves at most a ``.tmp-*`` file, which listing ignores and vacuum removes. Puts are
made durable in one step by :meth:`LocalBlobStore.flush` (``syncfs`` of the store's file
system), which the store calls before every commit: one call instead of two fsyncs per chunk
file, which cost more than encoding the chunks.

Example
-------
>>> import tempfile
>>> blobs = LocalBlobStore(tempfile.mkdtemp())
>>> blobs.put("a/b.csv.gz", b"data")
>>> [b.key for b in blobs.list("a/")]
['a/b.csv.gz']
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

from ..errors import BlobExists, BlobNotFound, InvalidName
from ..names import validate_blob_key
from ..ports import STORE_DIR, BlobStore
from ..records import BlobInfo

TMP_PREFIX = ".tmp-"
#: folders inside the root that hold the store's own files, never blobs
RESERVED_DIRS = frozenset({STORE_DIR})


def _syncfs(path: Path) -> None:
    """Flush every dirty file and directory entry of the file system holding ``path``."""
    libc_name = ctypes.util.find_library("c")
    syncfs = getattr(ctypes.CDLL(libc_name, use_errno=True), "syncfs", None) if libc_name else None
    if syncfs is None:  # not Linux: flush everything
        os.sync()
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        if syncfs(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), str(path))
    finally:
        os.close(fd)


#: per resolved root, whether its file system folds names (probing costs a file's creation)
_FOLDS: dict[Path, bool] = {}
_FOLDS_LOCK = threading.Lock()


def folds_names(root: Path) -> bool:
    """Whether the file system holding ``root`` folds file names (ignores case, or drops
    trailing dots as Windows does; see :func:`pandasdb_core.names.fold`), probed once per
    root: there, frames ``Sales`` and ``sales`` would share one folder.

    Example
    -------
    >>> import tempfile
    >>> folds_names(Path(tempfile.mkdtemp()))  # False on Linux, True on macOS by default
    False
    """
    resolved = root.resolve()
    with _FOLDS_LOCK:
        if resolved not in _FOLDS:
            _FOLDS[resolved] = _probe_folding(resolved)
        return _FOLDS[resolved]


def _probe_folding(root: Path) -> bool:
    """Create a probe file in ``root`` and look for its upper-case and dotted twins."""
    # a temporary file's name: listing ignores it, and vacuum removes one a crash left
    probe = root / f"{TMP_PREFIX}case-probe-{uuid.uuid4().hex}"
    try:
        probe.touch(exist_ok=False)
    except OSError:
        return True  # cannot tell (a read-only folder): folding is the safe assumption
    try:
        twins = (probe.with_name(probe.name.upper()), probe.with_name(f"{probe.name}."))
        return any(twin.exists() for twin in twins)
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()


def _file_in_the_way(key: str) -> InvalidName:
    """A key whose path a file holds as a folder, or a folder as a file: on a file system
    one frame's fixed file (``a/external_key/default/last_key.txt``) and another frame named
    like it (``a/external_key/default/last_key.txt``, whose chunks go under that path)
    cannot both exist."""
    return InvalidName(
        f"blob {key!r} cannot be written here: a file and a folder of this store would share "
        "one path (a frame named after another frame's file, or the reverse); choose another "
        "frame name"
    )


class LocalBlobStore(BlobStore):
    """Blobs stored as files under ``root``, one file per key. ``folds_names`` says whether
    its file system folds names: then two keys of one :func:`~pandasdb_core.names.fold` are
    one file, and listing names it as its folders were first spelt."""

    def __init__(self, root: str | os.PathLike[str], *, fsync: bool = True) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._fsync = fsync
        self.folds_names = folds_names(self.root)

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*key.split("/"))

    def uri(self, key: str) -> str:
        return str(self._path(validate_blob_key(key)).resolve())

    def _put(self, key: str, data: bytes, if_absent: bool) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise _file_in_the_way(key) from None
        if path.is_dir():
            raise _file_in_the_way(key)
        tmp = path.parent / f"{TMP_PREFIX}{uuid.uuid4().hex}"
        with open(tmp, "wb") as fh:
            fh.write(data)
        try:
            if if_absent:
                # link() fails if the target exists, which makes only-if-absent atomic
                try:
                    os.link(tmp, path)
                except FileExistsError:
                    raise BlobExists(f"blob {key!r} already exists") from None
            else:
                os.replace(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def flush(self) -> None:
        if self._fsync:
            _syncfs(self.root)

    def _get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise BlobNotFound(f"blob {key!r} does not exist") from None

    def _delete(self, keys: list[str]) -> None:
        parents = set()
        for key in keys:
            path = self._path(key)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            parents.add(path.parent)
        for parent in sorted(parents, key=lambda p: len(p.parts), reverse=True):
            self._prune_empty(parent)

    def _prune_empty(self, folder: Path) -> None:
        # empty partition folders are left by deletes; remove them up to the root
        while folder != self.root and self.root in folder.parents:
            try:
                folder.rmdir()
            except OSError:
                return
            folder = folder.parent

    def _list(self, prefix: str) -> Iterator[BlobInfo]:
        # walk only the folder the prefix names, not the whole store
        base = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = self._path(base) if base else self.root
        if not start.is_dir():
            return
        for dirpath, dirnames, filenames in os.walk(start):
            if Path(dirpath) == self.root:
                dirnames[:] = [d for d in dirnames if d not in RESERVED_DIRS]
            rel = Path(dirpath).relative_to(self.root).as_posix()
            for fname in filenames:
                if fname.startswith(TMP_PREFIX):
                    continue
                key = fname if rel == "." else f"{rel}/{fname}"
                if not key.startswith(prefix):
                    continue
                try:
                    st = os.stat(os.path.join(dirpath, fname))
                except FileNotFoundError:
                    continue
                yield BlobInfo(key, st.st_size, st.st_mtime)

    def discard_stale(self, older_than: float) -> int:
        removed = 0
        for dirpath, dirnames, filenames in os.walk(self.root):
            if Path(dirpath) == self.root:
                dirnames[:] = [d for d in dirnames if d not in RESERVED_DIRS]
            elif STORE_DIR in dirnames:
                dirnames[:] = []  # another store's folder: its leftovers are its own
                continue
            for fname in filenames:
                path = Path(dirpath, fname)
                with contextlib.suppress(FileNotFoundError):
                    if fname.startswith(TMP_PREFIX) and path.stat().st_mtime < older_than:
                        path.unlink()
                        removed += 1
        return removed
