"""The store: upload, get, list, versions, delete and vacuum over a BlobStore + MetadataStore.

Example
-------
>>> import pandas as pd, pandasdb_core as pdb
>>> db = pdb.open("memory://")
>>> db.upload(pd.DataFrame({"a": [1, 2]}), "demo").version
1
>>> db.get("demo")["a"].tolist()
[1, 2]
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, Literal, TypeVar

import polars as pl

from . import codecs
from .conversion import check_engine, empty_frame, to_engine, to_polars
from .errors import (
    BlobNotFound,
    CommitConflict,
    FrameNotFound,
    InvalidArgument,
    VersionNotFound,
)
from .names import validate_frame_name, validate_segment
from .partitioning import PlannedChunk, check_layout_columns, parse_columns_keys, plan_chunks
from .ports import BlobStore, MetadataStore
from .read_plan import ReadPlan, plan_read
from .records import (
    CheckReport,
    ChunkRecord,
    Commit,
    FrameHead,
    FrameInfo,
    Layout,
    VacuumReport,
    VersionInfo,
    VersionRecord,
)
from .schema import Schema, align, merge_schema, polars_schema, user_columns
from .visibility import committed, garbage, live

DEFAULT_CHUNK_ROWS = 250_000
#: how long a writer keeps retrying a commit that other writers keep beating; each conflict
#: means another commit succeeded, so the store as a whole always makes progress
COMMIT_TIMEOUT = 120.0
LAST_KEY_FILE = "last_key.txt"
T = TypeVar("T")
R = TypeVar("R")


class Store:
    """A partitioned, chunked, versioned DataFrame store on a blob store and a metadata store.

    Every upload is one atomic commit: concurrent writers never lose each other's rows and
    readers see whole versions only.

    Parameters
    ----------
    blobs, meta
        The two ports (see :mod:`pandasdb_core.ports`); usually built by :func:`pandasdb_core.open`.
    chunk_rows
        Default rows per chunk file for new frames.
    format
        Default file format for new frames: ``"csv.gz"`` or ``"parquet"``.
    workers
        Threads used to encode, write, fetch and decode chunks.
    progress
        Show a progress bar for uploads and reads of many chunks.
    """

    def __init__(
        self,
        blobs: BlobStore,
        meta: MetadataStore,
        *,
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
        format: codecs.Format = "csv.gz",
        workers: int = 8,
        progress: bool = False,
    ) -> None:
        self.blobs = blobs
        self.meta = meta
        self.chunk_rows = _check_chunk_rows(chunk_rows)
        self.format = _check_format(format)
        self.workers = workers
        self.progress = progress

    def __repr__(self) -> str:
        return f"<pandasdb Store blobs={type(self.blobs).__name__} meta={type(self.meta).__name__}>"

    # ------------------------------------------------------------------ writing

    def upload(
        self,
        df: Any,
        name: str,
        *,
        columns_keys: dict[str, str] | None = None,
        external_key: str | None = None,
        keep_last: bool = False,
        chunk_rows: int | None = None,
        format: codecs.Format | None = None,
    ) -> Commit:
        """Store ``df`` as a new version of frame ``name``.

        Parameters
        ----------
        df
            A pandas or polars DataFrame with at least one row.
        name
            ``[A-Za-z0-9._-]`` segments joined by ``/``.
        columns_keys
            ``{column: "Date" | "ID"}``: partition by calendar day (UTC) or by sorted id
            ranges; each entry stores the data once more. Fixed when the frame is created.
        external_key
            For frames without ``columns_keys``: the batch key (default ``"default"``).
        keep_last
            Drop the earlier batches of this external key (for partitioned frames: all
            earlier data), atomically with this commit.
        chunk_rows, format
            Rows per chunk file and file format, for a new frame.

        Returns
        -------
        Commit
            The new version, its rows and the chunk keys written.

        Raises
        ------
        InvalidName, InvalidArgument, InvalidPartition, SchemaMismatch
            Bad input; nothing is written.
        CommitConflict
            Other writers kept moving the head through every retry.

        Examples
        --------
        >>> import pandas as pd, pandasdb_core as pdb
        >>> db = pdb.open("memory://")
        >>> df = pd.DataFrame({"ts": pd.to_datetime(["2024-01-01", "2024-01-02"]), "v": [1, 2]})
        >>> db.upload(df, "sales/daily", columns_keys={"ts": "Date"}).chunks
        2
        """
        validate_frame_name(name)
        layouts = parse_columns_keys(columns_keys)
        if not isinstance(keep_last, bool):
            raise InvalidArgument(f"keep_last must be true or false, got {keep_last!r}")
        if external_key is not None:
            validate_segment(external_key, "external_key")
            if layouts:
                raise InvalidArgument(
                    "external_key applies to batch frames; leave it out with columns_keys"
                )
        if chunk_rows is not None:
            _check_chunk_rows(chunk_rows)
        if format is not None:
            _check_format(format)
        frame, incoming = to_polars(df)
        if frame.height == 0:
            raise InvalidArgument("dataframe has no rows; nothing to upload")
        if frame.width == 0:
            raise InvalidArgument("dataframe has no columns; nothing to upload")

        encoded_for: tuple[Any, ...] | None = None
        written: list[tuple[PlannedChunk, str, int]] = []
        for attempt in _attempts():
            head = self.meta.head(name)
            if head is not None:
                frame_layouts = self._reconcile(head, layouts, external_key, chunk_rows, format)
            else:
                frame_layouts = layouts
            expected = head.version if head else 0
            version = expected + 1
            schema = merge_schema(head.schema if head else None, incoming, version=version)
            fmt = head.format if head else (format or self.format)
            rows_per_chunk = head.chunk_rows if head else (chunk_rows or self.chunk_rows)
            shape = (
                tuple(c["name"] for c in schema["columns"]),
                frame_layouts,
                fmt,
                rows_per_chunk,
            )
            if shape != encoded_for:
                # first attempt, or a concurrent writer added columns: (re-)encode the chunks
                aligned = align(frame, schema)
                check_layout_columns(aligned, frame_layouts)
                planned = plan_chunks(
                    aligned,
                    name,
                    frame_layouts,
                    chunk_rows=rows_per_chunk,
                    fmt=fmt,
                    external_key=external_key or "default",
                    now=dt.datetime.now(dt.UTC),
                )
                written = self._write_chunks(planned, fmt)
                encoded_for = shape
            try:
                commit = self._commit(
                    head,
                    name,
                    version,
                    schema,
                    frame_layouts,
                    fmt,
                    rows_per_chunk,
                    written,
                    external_key,
                    keep_last,
                    frame.height,
                )
            except CommitConflict:
                _backoff(attempt)
                continue
            if not frame_layouts:
                self._write_last_key(name, external_key or "default", written)
            return commit
        raise CommitConflict(
            f"frame {name!r}: the head kept moving; gave up after {COMMIT_TIMEOUT:.0f}s"
        )

    @staticmethod
    def _reconcile(
        head: FrameHead,
        layouts: tuple[Layout, ...],
        external_key: str | None,
        chunk_rows: int | None,
        fmt: str | None,
    ) -> tuple[Layout, ...]:
        if layouts and layouts != head.layouts:
            have = ", ".join(f"{lay.column}={lay.kind}" for lay in head.layouts) or "none"
            raise InvalidArgument(
                f"columns_keys differ from frame {head.name!r}'s layouts ({have}); "
                "a frame keeps the layouts it was created with"
            )
        if external_key is not None and head.layouts:
            raise InvalidArgument(
                f"external_key applies to batch frames; frame {head.name!r} has columns_keys"
            )
        if fmt is not None and fmt != head.format:
            raise InvalidArgument(
                f"format {fmt!r} differs from frame {head.name!r}'s format {head.format!r}"
            )
        del chunk_rows  # a frame keeps its chunk size; a new value applies to new frames only
        return head.layouts

    def _write_chunks(
        self, planned: Sequence[PlannedChunk], fmt: codecs.Format
    ) -> list[tuple[PlannedChunk, str, int]]:
        def write(chunk: PlannedChunk) -> tuple[PlannedChunk, str, int]:
            data = codecs.encode(chunk.frame, fmt)
            self.blobs.put(chunk.key, data, if_absent=True)
            return chunk, hashlib.sha256(data).hexdigest(), len(data)

        written = self._map(write, planned, "writing chunks")
        self.blobs.flush()  # chunks are durable before any commit can reference them
        return written

    def _commit(
        self,
        head: FrameHead | None,
        name: str,
        version: int,
        schema: Schema,
        layouts: tuple[Layout, ...],
        fmt: codecs.Format,
        chunk_rows: int,
        written: Sequence[tuple[PlannedChunk, str, int]],
        external_key: str | None,
        keep_last: bool,
        rows: int,
    ) -> Commit:
        now = time.time()
        txn = uuid.uuid4().hex
        frame_id = head.frame_id if head else uuid.uuid4().hex
        batch_key = None if layouts else (external_key or "default")
        dropped = self._rows_dropped(head, layouts, batch_key) if (keep_last and head) else 0
        total = (head.rows if head else 0) - dropped + rows
        records = [
            ChunkRecord(
                chunk_id=uuid.uuid4().hex,
                layout=chunk.layout,
                lo=chunk.lo,
                hi=chunk.hi,
                key=chunk.key,
                rows=chunk.frame.height,
                size=size,
                sha256=digest,
                version=version,
                txn=txn,
                seq=seq,
                external_key=chunk.external_key,
            )
            for seq, (chunk, digest, size) in enumerate(written)
        ]
        size = sum(r.size for r in records)
        record = VersionRecord(
            version=version,
            txn=txn,
            created_at=now,
            rows_added=rows,
            rows_total=total,
            chunks_added=len(records),
            bytes_added=size,
            external_key=batch_key,
            keep_last=keep_last,
        )
        new_head = FrameHead(
            name=name,
            frame_id=frame_id,
            version=version,
            format=fmt,
            layouts=layouts,
            schema=schema,
            chunk_rows=chunk_rows,
            rows=total,
            created_at=head.created_at if head else now,
            updated_at=now,
            min_version=head.min_version if head else 1,
        )
        self.meta.commit(new_head, record, records, expected=head.version if head else 0)
        return Commit(name, version, rows, len(records), tuple(r.key for r in records), size)

    def _rows_dropped(
        self, head: FrameHead, layouts: tuple[Layout, ...], batch_key: str | None
    ) -> int:
        layout = layouts[0].tag if layouts else "batch"
        versions = self.meta.versions(head.frame_id)
        chunks = (
            self.meta.chunks(head.frame_id, layout, batch_key, batch_key)
            if batch_key
            else self.meta.chunks(head.frame_id, layout)
        )
        return sum(
            c.rows for c in live(chunks, versions, head.version) if c.external_key == batch_key
        )

    def _write_last_key(
        self, name: str, key: str, written: Sequence[tuple[PlannedChunk, str, int]]
    ) -> None:
        # informational, as in the seed: the metadata store stays the source of truth
        latest = "\n".join(chunk.key for chunk, _, _ in written) + "\n"
        self.blobs.put(f"{name}/external_key/{key}/{LAST_KEY_FILE}", latest.encode())

    # ------------------------------------------------------------------ reading

    def get(
        self,
        name: str,
        *,
        external_key: str | None = None,
        use_last: bool = False,
        start_date: Any = None,
        end_date: Any = None,
        partition_value: Any = None,
        start_id: Any = None,
        end_id: Any = None,
        columns: Sequence[str] | None = None,
        as_of: int | None = None,
        engine: Literal["pandas", "polars"] = "pandas",
    ) -> Any:
        """Read frame ``name``, fetching only the chunks the filters need.

        Parameters
        ----------
        external_key, use_last
            Batch frames: only this key's batches; only its latest batch (key ``default``
            when ``external_key`` is not given).
        start_date, end_date
            Inclusive bounds on the Date column; a date without a time covers its whole day.
        partition_value
            One id or a list of ids: exactly the rows with those ids (ID layout).
        start_id, end_id
            Inclusive id range (ID layout).
        columns
            Only these columns, in this order.
        as_of
            Read this earlier version instead of the latest.
        engine
            ``"pandas"`` (default) or ``"polars"``.

        Raises
        ------
        FrameNotFound, VersionNotFound, InvalidArgument

        Examples
        --------
        >>> import pandas as pd, pandasdb_core as pdb
        >>> db = pdb.open("memory://")
        >>> _ = db.upload(pd.DataFrame({"id": [3, 1, 2], "v": ["c", "a", "b"]}), "u",
        ...               columns_keys={"id": "ID"})
        >>> db.get("u", partition_value=2)["v"].tolist()
        ['b']
        """
        check_engine(engine)
        frame, schema = self.read(
            name,
            external_key=external_key,
            use_last=use_last,
            start_date=start_date,
            end_date=end_date,
            partition_value=partition_value,
            start_id=start_id,
            end_id=end_id,
            columns=columns,
            as_of=as_of,
        )
        return to_engine(frame, schema, engine)

    def read(
        self,
        name: str,
        *,
        external_key: str | None = None,
        use_last: bool = False,
        start_date: Any = None,
        end_date: Any = None,
        partition_value: Any = None,
        start_id: Any = None,
        end_id: Any = None,
        columns: Sequence[str] | None = None,
        as_of: int | None = None,
    ) -> tuple[pl.DataFrame, Schema]:
        """Like :meth:`get`, but return the stored polars frame (index levels as
        ``__index_level_i__`` columns) with the frame's schema, for callers that convert
        elsewhere (the HTTP API hands both to the SDK).

        Examples
        --------
        >>> import pandas as pd, pandasdb_core as pdb
        >>> db = pdb.open("memory://")
        >>> _ = db.upload(pd.DataFrame({"a": [1]}, index=pd.Index([7], name="k")), "f")
        >>> db.read("f")[0].columns
        ['__index_level_0__', 'a']
        """
        head = self._head(name)
        version = self._resolve_as_of(head, as_of)
        plan = plan_read(
            head,
            external_key=external_key,
            use_last=use_last,
            start_date=start_date,
            end_date=end_date,
            partition_value=partition_value,
            start_id=start_id,
            end_id=end_id,
        )
        dtypes = polars_schema(head.schema, as_of=version)
        wanted = self._columns(head.schema, dtypes, columns)
        return self._read(head, plan, version, dtypes, wanted), head.schema

    def _head(self, name: str) -> FrameHead:
        validate_frame_name(name)
        head = self.meta.head(name)
        if head is None:
            raise FrameNotFound(name)
        return head

    @staticmethod
    def _resolve_as_of(head: FrameHead, as_of: Any) -> int:
        if as_of is None:
            return head.version
        if isinstance(as_of, bool) or not isinstance(as_of, int):
            raise InvalidArgument(f"as_of must be a version number, got {as_of!r}")
        if not head.min_version <= as_of <= head.version:
            raise VersionNotFound(
                f"as_of={as_of} is out of range: frame {head.name!r} has versions "
                f"{head.min_version}..{head.version}"
            )
        return as_of

    @staticmethod
    def _columns(
        schema: Schema, dtypes: dict[str, pl.DataType], columns: Sequence[str] | None
    ) -> list[str]:
        if columns is None:
            return list(dtypes)
        if isinstance(columns, str) or not all(isinstance(c, str) for c in columns):
            raise InvalidArgument("columns must be a list of column names")
        unknown = [c for c in columns if c not in dtypes]
        if unknown:
            raise InvalidArgument(
                f"columns: unknown column(s) {unknown!r}; the frame has {user_columns(schema)!r}"
            )
        index_levels = [c for c in dtypes if c not in user_columns(schema)]
        return index_levels + [c for c in dict.fromkeys(columns) if c not in index_levels]

    def _read(
        self,
        head: FrameHead,
        plan: ReadPlan,
        version: int,
        dtypes: dict[str, pl.DataType],
        wanted: list[str],
    ) -> pl.DataFrame:
        records = self.meta.chunks(head.frame_id, plan.layout.tag, plan.lo, plan.hi)
        chunks = live(records, self.meta.versions(head.frame_id), version)
        if plan.external_key is not None:
            chunks = [c for c in chunks if c.external_key == plan.external_key]
        if plan.use_last and chunks:
            newest = max(c.version for c in chunks)
            chunks = [c for c in chunks if c.version == newest]
        if plan.ids is not None:
            chunks = [c for c in chunks if any(c.lo <= i <= c.hi for i in plan.ids)]  # type: ignore[operator]
        if plan.layout.kind == "batch":
            chunks.sort(key=lambda c: (c.version, c.seq))
        needed = list(dict.fromkeys(wanted + [col for col, _ in plan.filters]))
        since = {c["name"]: c["since"] for c in head.schema["columns"]}

        def fetch(chunk: ChunkRecord) -> pl.DataFrame:
            present = [c for c in needed if since[c] <= chunk.version]
            part = codecs.decode(self.blobs.get(chunk.key), head.format, dtypes, present)
            missing = [pl.lit(None, dtype=dtypes[c]).alias(c) for c in needed if c not in present]
            part = part.with_columns(missing) if missing else part
            for _, keep in plan.filters:
                part = part.filter(keep(part))
            return part.select(wanted)

        parts = self._map(fetch, chunks, "reading chunks")
        if not parts:
            return empty_frame(head.schema, wanted)
        return pl.concat(parts, how="vertical", rechunk=False)

    # ------------------------------------------------------------------ catalogue

    def list(self, prefix: str = "") -> list[FrameInfo]:
        """One record per frame whose name starts with ``prefix``, sorted by name.

        Examples
        --------
        >>> import pandasdb_core as pdb
        >>> pdb.open("memory://").list()
        []
        """
        if not isinstance(prefix, str):
            raise InvalidArgument("prefix must be a string")
        return [
            FrameInfo(
                name=h.name,
                version=h.version,
                rows=h.rows,
                format=h.format,
                layouts=tuple(lay.tag for lay in h.layouts) or ("batch",),
                columns=tuple(user_columns(h.schema)),
                updated_at=h.updated_at,
            )
            for h in self.meta.frames(prefix)
        ]

    def versions(self, name: str) -> list[VersionInfo]:
        """The retained version history of frame ``name``, oldest first.

        Examples
        --------
        >>> import pandas as pd, pandasdb_core as pdb
        >>> db = pdb.open("memory://")
        >>> for value in (1, 2):
        ...     _ = db.upload(pd.DataFrame({"a": [value]}), "f")
        >>> [v.rows_total for v in db.versions("f")]
        [1, 2]
        """
        head = self._head(name)
        return [
            VersionInfo(
                version=v.version,
                created_at=v.created_at,
                rows_added=v.rows_added,
                rows_total=v.rows_total,
                chunks_added=v.chunks_added,
                bytes_added=v.bytes_added,
                external_key=v.external_key,
                keep_last=v.keep_last,
            )
            for v in self.meta.versions(head.frame_id)
            if v.version >= head.min_version
        ]

    def delete(self, name: str) -> None:
        """Delete frame ``name`` atomically; ``vacuum`` later frees its files.

        Examples
        --------
        >>> import pandas as pd, pandasdb_core as pdb
        >>> db = pdb.open("memory://")
        >>> _ = db.upload(pd.DataFrame({"a": [1]}), "f")
        >>> db.delete("f"); db.list()
        []
        """
        for attempt in _attempts():
            head = self._head(name)
            try:
                self.meta.drop_frame(name, expected=head.version)
            except CommitConflict:
                _backoff(attempt)
                continue
            self.blobs.delete(
                b.key
                for b in self.blobs.list(f"{name}/external_key/")
                if b.key.endswith("/" + LAST_KEY_FILE)
            )
            return
        raise CommitConflict(f"frame {name!r}: could not delete while writers kept committing")

    def vacuum(
        self,
        *,
        retain_versions: int | None = None,
        grace_seconds: float = 3600.0,
        dry_run: bool = False,
    ) -> VacuumReport:
        """Remove chunk files no retained version references.

        Parameters
        ----------
        retain_versions
            Keep only the newest N versions readable by ``as_of`` (default: keep all). Files
            dropped by ``keep_last`` are freed once no retained version reads them.
        grace_seconds
            Leave files younger than this alone, so a writer between writing its chunks and
            committing them never loses them.
        dry_run
            Report what would be removed without removing it.

        Examples
        --------
        >>> import pandasdb_core as pdb
        >>> pdb.open("memory://").vacuum(dry_run=True).blobs_deleted
        ()
        """
        if retain_versions is not None and (
            isinstance(retain_versions, bool)
            or not isinstance(retain_versions, int)
            or retain_versions < 1
        ):
            raise InvalidArgument(
                f"retain_versions must be a positive integer, got {retain_versions!r}"
            )
        cutoff = time.time() - grace_seconds
        referenced: set[str] = set()
        live_frames: set[str] = set()
        forgotten = 0
        for head in self.meta.frames():
            live_frames.add(head.name)
            min_version = head.min_version
            if retain_versions is not None:
                min_version = max(min_version, head.version - retain_versions + 1)
            if min_version != head.min_version and not dry_run:
                # record the new retention before freeing anything it allows to free
                try:
                    self.meta.update_head(
                        replace(head, min_version=min_version), expected=head.version
                    )
                except CommitConflict:
                    min_version = head.min_version  # a writer got in; the next vacuum retries
            versions = self.meta.versions(head.frame_id)
            for layout in head.layouts or (Layout("batch"),):
                records = self.meta.chunks(head.frame_id, layout.tag)
                dead = garbage(records, versions, min_version, head.version)
                dead_ids = {c.chunk_id for c in dead}
                referenced.update(c.key for c in records if c.chunk_id not in dead_ids)
                forgotten += len(dead)
                if dead and not dry_run:
                    self.meta.forget_chunks(head.frame_id, dead)
        doomed = [
            b
            for b in self.blobs.list()
            if b.modified < cutoff
            and b.key not in referenced
            and (b.key.endswith(codecs.FORMATS) or _orphan_last_key(b.key, live_frames))
        ]
        if not dry_run:
            self.blobs.delete(b.key for b in doomed)
            self.blobs.discard_stale(cutoff)
        return VacuumReport(
            blobs_deleted=tuple(sorted(b.key for b in doomed)),
            chunk_records_forgotten=forgotten,
            bytes_freed=sum(b.size for b in doomed),
            dry_run=dry_run,
        )

    def check(self, prefix: str = "") -> CheckReport:
        """Verify that every chunk a retained version references exists and matches the
        size and SHA-256 recorded at commit.

        Examples
        --------
        >>> import pandas as pd, pandasdb_core as pdb
        >>> db = pdb.open("memory://")
        >>> _ = db.upload(pd.DataFrame({"a": [1]}), "f")
        >>> db.check().ok
        True
        """
        targets: list[ChunkRecord] = []
        heads = self.meta.frames(prefix)
        for head in heads:
            versions = self.meta.versions(head.frame_id)
            for layout in head.layouts or (Layout("batch"),):
                records = self.meta.chunks(head.frame_id, layout.tag)
                dead = {
                    c.chunk_id for c in garbage(records, versions, head.min_version, head.version)
                }
                targets.extend(c for c in committed(records, versions) if c.chunk_id not in dead)

        def verify(chunk: ChunkRecord) -> tuple[str, str | None]:
            try:
                data = self.blobs.get(chunk.key)
            except BlobNotFound:
                return chunk.key, "missing"
            if len(data) != chunk.size or hashlib.sha256(data).hexdigest() != chunk.sha256:
                return chunk.key, "corrupt"
            return chunk.key, None

        found = self._map(verify, targets, "checking chunks")
        return CheckReport(
            frames=len(heads),
            chunks_checked=len(targets),
            missing=tuple(sorted(k for k, problem in found if problem == "missing")),
            corrupt=tuple(sorted(k for k, problem in found if problem == "corrupt")),
        )

    # ------------------------------------------------------------------ helpers

    def _map(self, fn: Callable[[T], R], items: Sequence[T], label: str) -> list[R]:
        if len(items) <= 1:
            return [fn(item) for item in items]
        with ThreadPoolExecutor(max_workers=min(self.workers, len(items))) as pool:
            results: Iterable[R] = pool.map(fn, items)
            if self.progress and len(items) >= 8:
                from tqdm.auto import tqdm

                results = tqdm(results, total=len(items), desc=label, unit="chunk", leave=False)
            return list(results)


def _attempts() -> Iterator[int]:
    """Attempt numbers until COMMIT_TIMEOUT has passed (at least one attempt)."""
    deadline = time.monotonic() + COMMIT_TIMEOUT
    attempt = 0
    while attempt == 0 or time.monotonic() < deadline:
        yield attempt
        attempt += 1


def _backoff(attempt: int) -> None:
    """Jittered exponential backoff after a lost race, capped so nobody starves."""
    time.sleep(min(0.25, 0.005 * 2 ** min(attempt, 6)) * random.uniform(0.5, 1.5))


def _orphan_last_key(key: str, live_frames: set[str]) -> bool:
    if not key.endswith("/" + LAST_KEY_FILE) or "/external_key/" not in key:
        return False
    return key.split("/external_key/", 1)[0] not in live_frames


def _check_chunk_rows(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgument(f"chunk_rows must be a positive integer, got {value!r}")
    return value


def _check_format(value: Any) -> codecs.Format:
    if value not in codecs.FORMATS:
        raise InvalidArgument(f"format must be one of {list(codecs.FORMATS)}, got {value!r}")
    return value
