"""Where one operation's time goes: a pyinstrument profile of it, as the README's notes quote.

Run: ``.venv/bin/python bench/profile_op.py WHAT [--frame bench|issue] [--rows N] [--repeat N]``
with WHAT one of ``csv-read``, ``parquet-read``, ``csv-write``, ``parquet-write``,
``sdk-day`` (a one-day read through the SDK and ``pandasdb serve``, the server in its own
processes) or ``handler-day`` (the same read's server side: the Lambda handler called in this
process). Reads and the handler are profiled warm (after a first call); writes on a fresh
store each time. Prints wall and CPU time per call, then the profile. For a profile of
everything running (the server's processes too), ``py-spy record -o out.svg -- python
bench/profile_op.py ...`` works as well.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from run import DAY, _background, make_frame  # noqa: E402 - bench/ is the script's folder

import pandasdb_core as pdb  # noqa: E402


def _local(fmt: str, df: Any, write: bool) -> Callable[[], Any]:
    root = Path(tempfile.mkdtemp(prefix="profile-"))
    if write:
        count = iter(range(10**6))
        return lambda: pdb.open(root / str(next(count))).upload(
            df, "f", columns_keys={"ts": "Date"}, format=fmt
        )
    db = pdb.open(root)
    db.upload(df, "f", columns_keys={"ts": "Date"}, format=fmt)
    return lambda: db.get("f")


def _sdk_day(df: Any) -> tuple[Callable[[], Any], Callable[[], None]]:
    where = Path(tempfile.mkdtemp(prefix="profile-"))
    serve = ["-m", "pandasdb_core.cli", "serve", "--data", str(where / "data"), "--port", "0"]
    proc, url = _background(serve, where / "serve.log", rb"on (http://[0-9.]+:\d+)")
    db = pdb.connect(url, progress=False)
    db.upload(df, "f", columns_keys={"ts": "Date"}, format="parquet")
    return lambda: db.get("f", start_date=DAY, end_date=DAY), proc.terminate


def _handler_day(df: Any) -> Callable[[], Any]:
    from pandasdb_lambdas.handler import make_handler
    from pandasdb_lambdas.local_gateway import proxy_event
    from pandasdb_lambdas.local_stores import Presigner, StoreCache

    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
    root = Path(tempfile.mkdtemp(prefix="profile-"))
    pdb.open(root).upload(df, "f", columns_keys={"ts": "Date"}, format="parquet")
    handler = make_handler(StoreCache(root, False, Presigner("http://127.0.0.1")))
    query = f"start_date={DAY}&end_date={DAY}&format=parquet&chunked=true"
    event = proxy_event(
        "GET",
        f"/dataframes/f?{query}",
        [("Accept", "application/vnd.apache.parquet")],
        b"",
        {"cognito:username": "local", "sub": "local"},
        "127.0.0.1",
        strict=True,
    )
    return lambda: handler(event, None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "what",
        choices=[
            "csv-read",
            "parquet-read",
            "csv-write",
            "parquet-write",
            "sdk-day",
            "handler-day",
        ],
    )
    parser.add_argument("--frame", choices=["bench", "issue"], default="bench")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    logging.disable(logging.INFO)
    df = make_frame(args.frame, args.rows, 365)
    stop: Callable[[], None] = lambda: None  # noqa: E731
    if args.what == "sdk-day":
        call, stop = _sdk_day(df)
    elif args.what == "handler-day":
        call = _handler_day(df)
    else:
        fmt, op = args.what.split("-")
        call = _local("csv.gz" if fmt == "csv" else fmt, df, op == "write")
    from pyinstrument import Profiler

    try:
        call()  # warm: imports, thread pools, connections
        profiler = Profiler(interval=0.0005)
        wall, cpu = time.perf_counter(), time.process_time()
        profiler.start()
        for _ in range(args.repeat):
            call()
        profiler.stop()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        stop()
    print(
        f"{args.what}, {args.frame} frame, {args.rows:,} rows: {wall / args.repeat * 1000:.1f} ms "
        f"wall, {cpu / args.repeat * 1000:.1f} ms CPU (all threads) per call"
    )
    print(profiler.output_text(unicode=False, color=False))


if __name__ == "__main__":
    main()
