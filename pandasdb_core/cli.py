"""The ``pandasdb`` command line: upload, get, ls, versions, dates, rm, vacuum, demo, and
commands other packages register (``serve``).

Example
-------
``pandasdb --store ./data upload sales.csv sales/daily --date-col ts``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import polars as pl

from . import login_cli, manifest, opening, stats, streaming
from .conversion import to_engine
from .errors import InvalidArgument, PandasDBError
from .operations import (
    CompactOptions,
    DatesQuery,
    DeleteRequest,
    DeleteRowsOptions,
    ListQuery,
    ReadQuery,
    ReplaceOptions,
    UploadOptions,
    VacuumOptions,
)
from .records import Commit
from .results import Records
from .schema import polars_schema
from .sessions import exact_cast
from .store import Store
from .version import __version__

DEFAULT_STORE = "./pandasdb-data"


def _input(path: str) -> str:
    """The file to upload, checked; read later piece by piece (:mod:`.streaming`)."""
    if path != "-" and not Path(path).is_file():
        raise SystemExit(f"error: input file {path!r} does not exist")
    return path


def _read_input(path: str, recorded: dict[str, pl.DataType] | None = None) -> pl.DataFrame:
    """The whole file as one frame, typed as a streamed upload types it (the frame's
    recorded types for its columns; nanoseconds kept), for commands that need all rows at
    once."""
    parts = list(streaming.file_pieces(_input(path), recorded=recorded))
    if len(parts) == 1:
        return parts[0]
    # a column a later block typed otherwise (nulls, then values; integers, then floats)
    # takes the one type of the whole file, every value converted exactly
    target = pl.concat([p.clear() for p in parts], how="diagonal_relaxed").schema
    return pl.concat(
        [
            pl.DataFrame(
                exact_cast(p[c], t, path)
                if c in p.columns
                else pl.repeat(None, p.height, dtype=t, eager=True).alias(c)
                for c, t in target.items()
            )
            for p in parts
        ]
    )


def _recorded(db: Any, name: str) -> dict[str, pl.DataType] | None:
    """The polars types frame ``name`` recorded (None: no such frame, or not known here)."""
    try:
        return polars_schema(db.head(name).schema)
    except (PandasDBError, AttributeError):
        return None


def _write_output(frame: pl.DataFrame, path: str | None) -> None:
    if path is None or path == "-":
        frame.write_csv(sys.stdout)
    elif path.endswith(".parquet"):
        frame.write_parquet(path)
    elif path.endswith(".gz"):
        frame.write_csv(path, compression="gzip")
    else:
        frame.write_csv(path)


def _print_records(records: Records[Any], as_json: bool) -> None:
    # the table and the JSON of the library and the HTTP API (times in UTC)
    print(json.dumps(records.to_json(), indent=2) if as_json else records)


def cmd_upload(db: Store, args: argparse.Namespace) -> None:
    options = UploadOptions.from_cli(args, name=args.name)
    started = time.perf_counter()
    # streamed, whatever the mode: memory holds one piece of the file, never all of it; one
    # version at the end
    commit = db.write(_input(args.file), options)
    print(
        f"{commit.name}: version {commit.version}, {commit.rows} rows in {commit.chunks} chunk(s), "
        f"{commit.bytes:,} bytes, {time.perf_counter() - started:.2f}s"
    )


def _edited(commit: Commit, started: float) -> str:
    """One line on an edit's commit."""
    return (
        f"{commit.name}: version {commit.version}, {commit.rows} row(s) written, "
        f"{commit.rows_removed} removed; {commit.chunks} chunk(s) written, "
        f"{commit.chunks_dropped} dropped; {time.perf_counter() - started:.2f}s"
    )


def cmd_replace(db: Store, args: argparse.Namespace) -> None:
    options = ReplaceOptions.from_cli(args, name=args.name)
    frame = _read_input(args.file, _recorded(db, args.name))
    started = time.perf_counter()
    print(_edited(db.change(options, frame), started))


def cmd_edit(db: Store, args: argparse.Namespace) -> None:
    """``delete-rows`` and ``compact``: an edit without data."""
    started = time.perf_counter()
    print(_edited(db.change(args.edit.from_cli(args, name=args.name)), started))


def cmd_get(db: Store, args: argparse.Namespace) -> None:
    frame, schema = db.read(ReadQuery.from_cli(args, name=args.name))
    frame = to_engine(frame, schema, "polars")
    _write_output(frame, args.output)
    if args.output not in (None, "-"):
        print(f"{args.name}: {frame.height} rows -> {args.output}")


def cmd_ls(db: Store, args: argparse.Namespace) -> None:
    _print_records(db.list(ListQuery.from_cli(args).prefix), args.json)


def cmd_versions(db: Store, args: argparse.Namespace) -> None:
    _print_records(db.versions(args.name), args.json)


def cmd_dates(db: Store, args: argparse.Namespace) -> None:
    query = DatesQuery.from_cli(args, name=args.name)
    days = [day.isoformat() for day in stats.days(db, query)]
    print(json.dumps(days) if args.json else "\n".join(days))


def cmd_manifest(db: Store, args: argparse.Namespace) -> None:
    for key in db.manifest(args.name):
        print(key)
    if args.ddl:
        head = db.head(args.name)
        for layout in head.layouts:
            location = db.blobs.uri(manifest.manifest_key(head.name, layout))
            folder = (location or "").rsplit("/", 1)[0] + "/"
            table = args.ddl if len(head.layouts) == 1 else f"{args.ddl}_{manifest.folder(layout)}"
            print(f"\n{manifest.table_ddl(table, head.schema, head.format, folder)};")


def cmd_rm(db: Store, args: argparse.Namespace) -> None:
    request = DeleteRequest.from_cli(args, name=args.name)
    db.delete(**request.model_dump())
    if request.external_key is not None:
        print(f"removed the batches of {request.external_key} from {args.name} (a new version)")
        return
    print(f"deleted {args.name} (run 'pandasdb vacuum' to free its files)")


def cmd_vacuum(db: Store, args: argparse.Namespace) -> None:
    report = db.vacuum(**VacuumOptions.from_cli(args).model_dump())
    verb = "would remove" if report.dry_run else "removed"
    print(
        f"{verb} {len(report.blobs_deleted)} file(s), {report.bytes_freed:,} bytes; "
        f"{report.chunk_records_forgotten} index record(s)"
    )
    for key in report.blobs_deleted:
        print(f"  {key}")


def cmd_check(db: Store, args: argparse.Namespace) -> None:
    report = db.check(args.prefix)
    print(
        f"checked {report.chunks_checked} chunk(s) of {report.frames} frame(s): "
        f"{len(report.missing)} missing, {len(report.corrupt)} corrupt"
    )
    for key in report.missing:
        print(f"  missing: {key}")
    for key in report.corrupt:
        print(f"  corrupt: {key}")
    if not report.ok:
        raise SystemExit(1)


def cmd_demo(db: Store, args: argparse.Namespace) -> None:
    from .demo import run_demo

    if not run_demo(db, rows=args.rows):
        raise SystemExit("error: the demo frame did not read back equal")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``pandasdb`` command."""
    parser = argparse.ArgumentParser(
        prog="pandasdb", description="A partitioned, chunked, versioned DataFrame store."
    )
    parser.add_argument(
        "--store",
        default=DEFAULT_STORE,
        help=f"store URL: a folder, memory:// or s3://bucket (default {DEFAULT_STORE})",
    )
    parser.add_argument("--table", default=None, help="DynamoDB table, for s3:// stores")
    parser.add_argument(
        "--profile",
        dest="remote_profile",
        default=None,
        help="work on the HTTP API of a sign-in saved by 'pandasdb login' (instead of --store)",
    )
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show or hide progress bars (default: shown on a terminal, not under CI)",
    )
    parser.add_argument("--version", action="version", version=f"pandasdb {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser(
        "upload",
        help="upload a CSV or parquet file as a new version (streamed, in any --mode)",
        description=(
            "Upload a file piece by piece as one new version, whatever its size and mode "
            "(append, overwrite, replace_partitions). Into an existing frame, CSV columns are "
            "read as the frame's recorded types."
        ),
    )
    up.add_argument(
        "file", help="a .csv, .csv.gz or .parquet file ('-' for CSV or CSV.gz on stdin)"
    )
    up.add_argument("name", help="frame name, e.g. sales/daily")
    UploadOptions.add_cli_arguments(up)
    up.set_defaults(func=cmd_upload)

    rep = sub.add_parser("replace", help="replace the rows of a date or id range by a file's")
    rep.add_argument("file", help="a .csv, .csv.gz or .parquet file ('-' for CSV on stdin)")
    rep.add_argument("name")
    ReplaceOptions.add_cli_arguments(rep)
    rep.set_defaults(func=cmd_replace)

    dele = sub.add_parser("delete-rows", help="remove the rows a date or id filter selects")
    dele.add_argument("name")
    DeleteRowsOptions.add_cli_arguments(dele)
    dele.set_defaults(func=cmd_edit, edit=DeleteRowsOptions)

    compact = sub.add_parser("compact", help="merge a frame's small chunk files")
    compact.add_argument("name")
    CompactOptions.add_cli_arguments(compact)
    compact.set_defaults(func=cmd_edit, edit=CompactOptions)

    get = sub.add_parser("get", help="read a frame to a file or stdout (CSV)")
    get.add_argument("name")
    get.add_argument("-o", "--output", help=".csv, .csv.gz or .parquet file (default: stdout)")
    ReadQuery.add_cli_arguments(get)
    get.set_defaults(func=cmd_get)

    ls = sub.add_parser("ls", help="list frames")
    ListQuery.add_cli_arguments(ls)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_ls)

    ver = sub.add_parser("versions", help="version history of a frame")
    ver.add_argument("name")
    ver.add_argument("--json", action="store_true")
    ver.set_defaults(func=cmd_versions)

    dates = sub.add_parser("dates", help="days a frame's Date layout holds, from its index")
    dates.add_argument("name")
    DatesQuery.add_cli_arguments(dates)
    dates.add_argument("--json", action="store_true")
    dates.set_defaults(func=cmd_dates)

    man = sub.add_parser(
        "manifest", help="write a frame's symlink manifests (for Athena, Trino, Spark tables)"
    )
    man.add_argument("name")
    man.add_argument(
        "--ddl", metavar="TABLE", help="also print Athena CREATE EXTERNAL TABLE statements"
    )
    man.set_defaults(func=cmd_manifest)

    rm = sub.add_parser("rm", help="delete a frame")
    rm.add_argument("name")
    DeleteRequest.add_cli_arguments(rm)
    rm.set_defaults(func=cmd_rm)

    vac = sub.add_parser("vacuum", help="remove files no retained version references")
    VacuumOptions.add_cli_arguments(vac)
    vac.set_defaults(func=cmd_vacuum)

    check = sub.add_parser("check", help="verify every committed chunk against its checksum")
    check.add_argument("--prefix", default="", help="only frames whose name starts with this")
    check.set_defaults(func=cmd_check)

    demo = sub.add_parser("demo", help="upload a generated frame and read it back")
    demo.add_argument("--rows", type=int, default=1_000_000)
    demo.set_defaults(func=cmd_demo)
    login_cli.register(sub)
    for entry in entry_points(group="pandasdb.commands"):
        # commands other packages add (``serve`` comes from the HTTP adapter, ``pandasdb_lambdas``)
        entry.load()(sub)
    return parser


#: commands that work over HTTP too (the others work where the data is)
REMOTE_COMMANDS = frozenset({"upload", "get", "ls", "versions", "rm"})


def _remote(args: argparse.Namespace) -> Any:
    """The SDK on the API a saved profile names, for ``--profile``."""
    if args.command not in REMOTE_COMMANDS:
        raise InvalidArgument(
            f"'pandasdb {args.command}' works on a store, not over HTTP: use --store; over "
            f"HTTP: {', '.join(sorted(REMOTE_COMMANDS))}"
        )
    from .client import connect

    return connect(profile=args.remote_profile, progress=args.progress)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pandasdb`` console script."""
    args = build_parser().parse_args(argv)
    try:
        if not getattr(args, "needs_store", True):
            args.func(args)
            return 0
        if args.remote_profile is not None:
            db = _remote(args)
        else:
            db = opening.open(args.store, table=args.table, progress=args.progress)
        args.func(db, args)
    except PandasDBError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `pandasdb get x | head`
        return 0
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
