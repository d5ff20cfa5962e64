"""Metadata in one DynamoDB table (single-table design), with conditional commits.

Keys (``pk`` hash, ``sk`` range, both strings); every ``pk`` begins with the owner's id, so
IAM's ``dynamodb:LeadingKeys`` can confine a caller to ``{owner}#*``:

==============  ================================  =======================================
item            pk                                sk
==============  ================================  =======================================
vacuum marker   ``{owner}#store``                 ``vacuum#{shard:02d}`` (16 shards)
frame head      ``{owner}#frames``                ``frame#{name}``
version         ``{owner}#f#{frame_id}``          ``v#{version:012d}``
id-range span   ``{owner}#f#{frame_id}``          ``span#{layout}``
chunk           ``{owner}#c#{frame_id}#{layout}`` ``{sortable lo}#{chunk_id}``
drop            ``{owner}#d#{frame_id}#{layout}`` ``{sortable lo}#{chunk_id}#{txn}``
==============  ================================  =======================================

A head holds the frame's JSON (zlib-compressed), its ``version``, ``frame_id`` and ``revision``
(the token every head write changes; absent on heads written before record format 4), which
every conditional write of the head compares. A chunk item
is one chunk file (a few hundred bytes), so a frame of any number of chunks stays far below
DynamoDB's 400 KB item limit. Partition bounds sort as strings: dates as ``YYYY-MM-DD``, ids
offset by 2**63 and zero-padded. A span item holds the widest ``hi - lo`` of the layout's
chunks, so an id lookup is a ``Query`` over ``[lo - span, hi]`` and never a ``Scan``.

A commit writes its chunk and drop items first (tagged with the commit's ``txn``), then one
``TransactWriteItems`` puts the head (only if its frame id, version and revision are still the
ones the writer read), the version record, the spans and, for a writer that says when it began
writing its files, a check that no vacuum recorded a later cutoff (the vacuum marker, which
``begin_vacuum`` raises): at most 3 + layouts items, far below the 100-item limit of a
transaction, however many chunks an edit drops. Readers ignore chunk and
drop items whose ``txn`` no version carries. A drop item (an edit's tombstone) has the range of
the chunk it drops, so the span that finds the chunk finds its drop too; its key names the
txn, so a losing commit's drop never overwrites a winner's.

Example
-------
>>> import boto3
>>> from moto import mock_aws
>>> with mock_aws():
...     client = boto3.client("dynamodb", region_name="us-east-1")
...     create_table(client, "meta")
...     DynamoDBMetadataStore(client, "meta", owner="alice").frames()
[]
"""

from __future__ import annotations

import random
import time
import zlib
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from ..errors import CommitConflict, InvalidArgument, StoreUnavailable
from ..ports import MetadataStore, conflict, vacuum_passed, vacuum_raced
from ..record_codec import (
    chunk_from_dict,
    chunk_to_dict,
    drop_from_dict,
    drop_to_dict,
    head_from_json,
    head_to_json,
    version_from_json,
    version_to_json,
)
from ..records import ChunkRecord, DropRecord, FrameHead, PartitionValue, VersionRecord

BATCH_WRITE = 25  # DynamoDB's BatchWriteItem limit
MAX_ITEM_BYTES = 390_000  # below DynamoDB's 400 KB, leaving room for attribute names
_OFFSET = 2**63
#: the vacuum marker is one item per shard, each holding the latest cutoff (vacuum writes
#: them all; a commit checks its frame's): DynamoDB cancels transactions that include one
#: item at once, so one item checked by every commit of the store would make the commits
#: of different frames conflict with each other
MARKER_SHARDS = 16
_ser = TypeSerializer()
_de = TypeDeserializer()


def create_table(client: Any, table: str) -> None:
    """Create the on-demand pk/sk table the adapter uses and wait until it is active."""
    client.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
    )
    client.get_waiter("table_exists").wait(TableName=table)


def sortable(value: PartitionValue) -> str:
    """A partition bound as a string that sorts like the value.

    Example
    -------
    >>> sortable(-1) < sortable(0) < sortable(10)
    True
    """
    if isinstance(value, int):
        return f"{value + _OFFSET:020d}"
    return value


def _shard(name: str) -> int:
    """The vacuum marker's shard a commit of frame ``name`` checks.

    Example
    -------
    >>> _shard("sales/daily") == _shard("sales/daily") and 0 <= _shard("x") < MARKER_SHARDS
    True
    """
    return zlib.crc32(name.encode()) % MARKER_SHARDS


def _seconds(moment: float) -> str:
    """Epoch seconds as a DynamoDB number (microseconds, no exponent)."""
    return f"{moment:.6f}"


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value)
    return value


class DynamoDBMetadataStore(MetadataStore):
    """The metadata port on one DynamoDB table, for one owner (user id)."""

    def __init__(self, client: Any, table: str, *, owner: str = "default", workers: int = 8):
        if not owner or "#" in owner:
            raise InvalidArgument(f"owner {owner!r} must be non-empty and contain no '#'")
        self.client = client
        self.table = table
        self.owner = owner
        self.workers = workers

    # keys ----------------------------------------------------------------

    def _marker_key(self, shard: int) -> dict[str, Any]:
        return {"pk": {"S": f"{self.owner}#store"}, "sk": {"S": f"vacuum#{shard:02d}"}}

    def _head_key(self, name: str) -> dict[str, Any]:
        return {"pk": {"S": f"{self.owner}#frames"}, "sk": {"S": f"frame#{name}"}}

    def _frame_pk(self, frame_id: str) -> str:
        return f"{self.owner}#f#{frame_id}"

    def _chunk_pk(self, frame_id: str, layout: str) -> str:
        return f"{self.owner}#c#{frame_id}#{layout}"

    def _chunk_key(self, frame_id: str, chunk: ChunkRecord) -> dict[str, Any]:
        return {
            "pk": {"S": self._chunk_pk(frame_id, chunk.layout)},
            "sk": {"S": f"{sortable(chunk.lo)}#{chunk.chunk_id}"},
        }

    def _drop_pk(self, frame_id: str, layout: str) -> str:
        return f"{self.owner}#d#{frame_id}#{layout}"

    def _drop_key(self, frame_id: str, drop: DropRecord) -> dict[str, Any]:
        return {
            "pk": {"S": self._drop_pk(frame_id, drop.layout)},
            "sk": {"S": f"{sortable(drop.lo)}#{drop.chunk_id}#{drop.txn}"},
        }

    # items ---------------------------------------------------------------

    def _head_item(self, head: FrameHead) -> dict[str, Any]:
        body = zlib.compress(head_to_json(head).encode())
        if len(body) > MAX_ITEM_BYTES:
            raise InvalidArgument(
                f"frame {head.name!r}: its schema is too large to record ({len(body):,} bytes "
                "compressed); use fewer columns or categories"
            )
        item = {
            **self._head_key(head.name),
            "version": {"N": str(head.version)},
            "frame_id": {"S": head.frame_id},
            "body": {"B": body},
        }
        if head.revision:  # compared by every conditional write of the head
            item["revision"] = {"S": head.revision}
        return item

    def _chunk_item(self, frame_id: str, chunk: ChunkRecord) -> dict[str, Any]:
        fields = {k: v for k, v in chunk_to_dict(chunk).items() if v is not None}
        item = {k: _ser.serialize(v) for k, v in fields.items()}
        item.update(self._chunk_key(frame_id, chunk))
        item["hk"] = {"S": sortable(chunk.hi)}
        return item

    def _drop_item(self, frame_id: str, drop: DropRecord) -> dict[str, Any]:
        item = {k: _ser.serialize(v) for k, v in drop_to_dict(drop).items()}
        item.update(self._drop_key(frame_id, drop))
        item["hk"] = {"S": sortable(drop.hi)}
        return item

    @staticmethod
    def _chunk_from_item(item: dict[str, Any]) -> ChunkRecord:
        return chunk_from_dict({k: _plain(_de.deserialize(v)) for k, v in item.items()})

    @staticmethod
    def _drop_from_item(item: dict[str, Any]) -> DropRecord:
        return drop_from_dict({k: _plain(_de.deserialize(v)) for k, v in item.items()})

    # plumbing ------------------------------------------------------------

    def _query(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        paginator = self.client.get_paginator("query")
        for page in paginator.paginate(TableName=self.table, ConsistentRead=True, **kwargs):
            yield from page["Items"]

    def _batch(self, requests: list[dict[str, Any]]) -> None:
        """Write ``requests`` with BatchWriteItem. The items a call leaves unprocessed (the
        table throttled them) are sent again after an exponential backoff with full jitter,
        as the DynamoDB BatchWriteItem reference asks; after ``retries`` tries the commit
        fails as unavailable (its chunk items carry a txn no version names, so readers ignore
        them)."""
        retries, first_delay, max_delay = 6, 0.05, 2.0

        def send(batch: list[dict[str, Any]]) -> None:
            pending = {self.table: batch}
            for attempt in range(retries + 1):
                if attempt:
                    time.sleep(random.uniform(0, min(max_delay, first_delay * 2**attempt)))
                response = self.client.batch_write_item(RequestItems=pending)
                pending = response.get("UnprocessedItems") or {}
                if not pending:
                    return
            left = sum(len(items) for items in pending.values())
            raise StoreUnavailable(
                f"DynamoDB table {self.table!r} left {left} item(s) unprocessed after "
                f"{retries} retries (throttled); try again"
            )

        batches = [requests[i : i + BATCH_WRITE] for i in range(0, len(requests), BATCH_WRITE)]
        if len(batches) <= 1:
            for batch in batches:
                send(batch)
            return
        with ThreadPoolExecutor(max_workers=min(self.workers, len(batches))) as pool:
            list(pool.map(send, batches))

    def _transact(self, items: list[dict[str, Any]], name: str, expected: FrameHead | None) -> None:
        try:
            self.client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "TransactionCanceledException":
                raise conflict(name, expected) from None
            raise

    @staticmethod
    def _head_condition(expected: FrameHead | None) -> dict[str, Any]:
        if expected is None:
            return {"ConditionExpression": "attribute_not_exists(pk)"}
        # the frame's identity too: a frame deleted and created again restarts at version 1;
        # and the head's revision: vacuum's update_head keeps the version
        values: dict[str, Any] = {
            ":version": {"N": str(expected.version)},
            ":frame": {"S": expected.frame_id},
        }
        condition = "version = :version AND frame_id = :frame AND "
        if expected.revision:
            condition += "revision = :revision"
            values[":revision"] = {"S": expected.revision}
        else:  # a head written before heads had revisions
            condition += "attribute_not_exists(revision)"
        return {"ConditionExpression": condition, "ExpressionAttributeValues": values}

    # the port ------------------------------------------------------------

    def head(self, name: str) -> FrameHead | None:
        item = self.client.get_item(
            TableName=self.table, Key=self._head_key(name), ConsistentRead=True
        ).get("Item")
        return head_from_json(zlib.decompress(item["body"]["B"]).decode()) if item else None

    def _spans(self, frame_id: str, chunks: Sequence[ChunkRecord]) -> dict[str, int]:
        widths: dict[str, int] = {}
        for c in chunks:
            if isinstance(c.lo, int) and isinstance(c.hi, int):
                widths[c.layout] = max(widths.get(c.layout, 0), c.hi - c.lo)
        for layout in list(widths):
            widths[layout] = max(widths[layout], self._span(frame_id, layout))
        return widths

    def _span(self, frame_id: str, layout: str) -> int:
        item = self.client.get_item(
            TableName=self.table,
            Key={"pk": {"S": self._frame_pk(frame_id)}, "sk": {"S": f"span#{layout}"}},
            ConsistentRead=True,
        ).get("Item")
        return int(item["span"]["N"]) if item else 0

    def commit(
        self,
        head: FrameHead,
        version: VersionRecord,
        chunks: Sequence[ChunkRecord],
        *,
        expected: FrameHead | None,
        drops: Sequence[DropRecord] = (),
        written_since: float | None = None,
    ) -> None:
        head_item = self._head_item(head)
        # a span read here is current whenever the commit succeeds: any commit in between
        # moves the head and fails ours
        spans = self._spans(head.frame_id, chunks)
        self._batch(
            [{"PutRequest": {"Item": self._chunk_item(head.frame_id, c)}} for c in chunks]
            + [{"PutRequest": {"Item": self._drop_item(head.frame_id, d)}} for d in drops]
        )
        items: list[dict[str, Any]] = [
            {"Put": {"TableName": self.table, "Item": head_item, **self._head_condition(expected)}},
            {
                "Put": {
                    "TableName": self.table,
                    "Item": {
                        "pk": {"S": self._frame_pk(head.frame_id)},
                        "sk": {"S": f"v#{version.version:012d}"},
                        "body": {"S": version_to_json(version)},
                    },
                    # redundant with the head's condition; a version is never rewritten
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
        ]
        if written_since is not None:
            # one more item: no vacuum began with a later cutoff (none may have begun at all)
            items.append(
                {
                    "ConditionCheck": {
                        "TableName": self.table,
                        "Key": self._marker_key(_shard(head.name)),
                        "ConditionExpression": "attribute_not_exists(cutoff) OR cutoff <= :since",
                        "ExpressionAttributeValues": {":since": {"N": _seconds(written_since)}},
                    }
                }
            )
        for layout, span in spans.items():
            items.append(
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": {
                            "pk": {"S": self._frame_pk(head.frame_id)},
                            "sk": {"S": f"span#{layout}"},
                            "span": {"N": str(span)},
                        },
                    }
                }
            )
        try:
            self._transact(items, head.name, expected)
        except CommitConflict:
            # the losing commit's chunk and drop items are invisible already; tidy them up
            self.forget_chunks(head.frame_id, chunks)
            self.forget_drops(head.frame_id, drops)
            if written_since is not None:
                cutoff = self.vacuum_cutoff()
                if vacuum_passed(cutoff, written_since):
                    raise vacuum_raced(head.name, cutoff, written_since) from None
            raise

    def begin_vacuum(self, cutoff: float) -> None:
        def record(shard: int) -> None:
            try:
                self.client.put_item(
                    TableName=self.table,
                    Item={**self._marker_key(shard), "cutoff": {"N": _seconds(cutoff)}},
                    ConditionExpression="attribute_not_exists(cutoff) OR cutoff < :cutoff",
                    ExpressionAttributeValues={":cutoff": {"N": _seconds(cutoff)}},
                )
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise  # else a later cutoff is recorded already

        # every shard before the vacuum goes on (a failure stops it before it removes anything)
        with ThreadPoolExecutor(max_workers=min(self.workers, MARKER_SHARDS)) as pool:
            list(pool.map(record, range(MARKER_SHARDS)))

    def vacuum_cutoff(self) -> float | None:
        items = list(
            self._query(
                KeyConditionExpression="pk = :pk AND begins_with(sk, :v)",
                ExpressionAttributeValues={
                    ":pk": {"S": f"{self.owner}#store"},
                    ":v": {"S": "vacuum#"},
                },
            )
        )
        return max((float(i["cutoff"]["N"]) for i in items), default=None)

    def versions(self, frame_id: str) -> list[VersionRecord]:
        items = self._query(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :v)",
            ExpressionAttributeValues={":pk": {"S": self._frame_pk(frame_id)}, ":v": {"S": "v#"}},
        )
        return [version_from_json(item["body"]["S"]) for item in items]

    def chunks(
        self,
        frame_id: str,
        layout: str,
        lo: PartitionValue | None = None,
        hi: PartitionValue | None = None,
    ) -> list[ChunkRecord]:
        items = self._ranged(self._chunk_pk(frame_id, layout), frame_id, layout, lo, hi)
        return [self._chunk_from_item(item) for item in items]

    def drops(
        self,
        frame_id: str,
        layout: str,
        lo: PartitionValue | None = None,
        hi: PartitionValue | None = None,
    ) -> list[DropRecord]:
        items = self._ranged(self._drop_pk(frame_id, layout), frame_id, layout, lo, hi)
        return [self._drop_from_item(item) for item in items]

    def _ranged(
        self,
        pk: str,
        frame_id: str,
        layout: str,
        lo: PartitionValue | None,
        hi: PartitionValue | None,
    ) -> Iterator[dict[str, Any]]:
        """The items of ``pk`` (chunks or drops of one layout) whose range overlaps
        ``[lo, hi]``: a Query from ``lo`` less the layout's widest span, filtered on ``hk``."""
        values: dict[str, Any] = {":pk": {"S": pk}}
        conditions = ["pk = :pk"]
        if lo is not None:
            low = lo - self._span(frame_id, layout) if isinstance(lo, int) else lo
            values[":low"] = {"S": sortable(low)}
        if hi is not None:
            values[":high"] = {"S": sortable(hi) + "#~"}
        if lo is not None and hi is not None:
            conditions.append("sk BETWEEN :low AND :high")
        elif lo is not None:
            conditions.append("sk >= :low")
        elif hi is not None:
            conditions.append("sk <= :high")
        extra: dict[str, Any] = {}
        if lo is not None:
            values[":lo"] = {"S": sortable(lo)}
            extra["FilterExpression"] = "hk >= :lo"
        return self._query(
            KeyConditionExpression=" AND ".join(conditions),
            ExpressionAttributeValues=values,
            **extra,
        )

    def frames(self, prefix: str = "") -> list[FrameHead]:
        items = self._query(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
            ExpressionAttributeValues={
                ":pk": {"S": f"{self.owner}#frames"},
                ":p": {"S": f"frame#{prefix}"},
            },
        )
        return [head_from_json(zlib.decompress(i["body"]["B"]).decode()) for i in items]

    def drop_frame(self, name: str, *, expected: FrameHead) -> None:
        head = expected
        self._transact(
            [
                {
                    "Delete": {
                        "TableName": self.table,
                        "Key": self._head_key(name),
                        **self._head_condition(expected),
                    }
                }
            ],
            name,
            expected,
        )
        # the frame is gone once its head is; the rest is unreachable and tidied best-effort
        keys = [
            {"pk": i["pk"], "sk": i["sk"]}
            for i in self._query(
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": self._frame_pk(head.frame_id)}},
                ProjectionExpression="pk, sk",
            )
        ]
        for layout in [lay.tag for lay in head.layouts]:
            for pk in (self._chunk_pk(head.frame_id, layout), self._drop_pk(head.frame_id, layout)):
                keys.extend(
                    {"pk": i["pk"], "sk": i["sk"]}
                    for i in self._query(
                        KeyConditionExpression="pk = :pk",
                        ExpressionAttributeValues={":pk": {"S": pk}},
                        ProjectionExpression="pk, sk",
                    )
                )
        self._batch([{"DeleteRequest": {"Key": k}} for k in keys])

    def update_head(self, head: FrameHead, *, expected: FrameHead) -> None:
        self._transact(
            [
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": self._head_item(head),
                        **self._head_condition(expected),
                    }
                }
            ],
            head.name,
            expected,
        )

    def forget_chunks(self, frame_id: str, chunks: Sequence[ChunkRecord]) -> None:
        self._batch([{"DeleteRequest": {"Key": self._chunk_key(frame_id, c)}} for c in chunks])

    def forget_drops(self, frame_id: str, drops: Sequence[DropRecord]) -> None:
        self._batch([{"DeleteRequest": {"Key": self._drop_key(frame_id, d)}} for d in drops])
