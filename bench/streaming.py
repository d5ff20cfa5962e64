"""Frames beyond one process's memory: peak memory of streamed uploads and reads, and the
SDK's throughput on a 1 GB frame. Run by hand; prints a table.

    .venv/bin/python bench/streaming.py            # ~5 minutes, ~6 GB of temporary files
    .venv/bin/python bench/streaming.py --rows 2000000   # a quick look
    .venv/bin/python bench/streaming.py --only sdk --rows 17000000 --repeat 3  # the SDK only

The SDK measure starts the server as ``pandasdb serve`` does, its worker processes loaded
before the first request (started by the upload, they took a second of it), uploads the
frame, reads it back and checks it equals the frame.

Goals (issue 14): ``pandasdb upload`` of a 1 GB CSV peaks under 0.5x the CSV's size;
``iter_batches`` over a 10M-row frame under 2x one batch; the SDK (through ``pandasdb
serve``) within 2x of direct local reads for a 1 GB frame.

Each measure runs in a fresh process; peak memory is the process's peak resident set
(``wait4``'s ``ru_maxrss``), given above the level before the step where a step is timed in
a process of its own.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
MB = 2**20


def make_csv(path: Path, rows: int) -> None:
    """The issue's frame as CSV (~80 bytes a row): a nanosecond timestamp over 365 days,
    int64 id, 500 symbols, float64, int32, bool and a nullable short string."""
    import polars as pl

    step = 365 * 86_400 * 10**9 // rows
    frame = pl.select(
        ts=pl.lit(1_704_067_200 * 10**9, pl.Int64) + pl.int_range(0, rows) * step,
        id=(pl.int_range(0, rows) * 7919) % 1_000_000,
        symbol=pl.format("SYM{}", pl.int_range(0, rows) % 500),
        price=100 + (pl.int_range(0, rows) % 3000) * 0.01,
        qty=((pl.int_range(0, rows) % 999) + 1).cast(pl.Int32),
        flag=pl.int_range(0, rows) % 2 == 0,
        note=pl.when(pl.int_range(0, rows) % 4 == 0)
        .then(None)
        .otherwise(pl.format("n{}", pl.int_range(0, rows) % 3)),
    ).with_columns(pl.col("ts").cast(pl.Datetime("ns")))
    frame.write_csv(path)


def make_csv_apart(path: Path, rows: int) -> None:
    """:func:`make_csv` in a process of its own: a child started by this one inherits its
    peak RSS into ``ru_maxrss`` (Linux carries it across fork and exec), so the parent must
    never hold the frame."""
    code = "import sys; sys.path.insert(0, 'bench'); from streaming import make_csv; "
    code += f"from pathlib import Path; make_csv(Path({str(path)!r}), {rows}); print('{{}}')"
    run(code)


def run(code: str, env: dict[str, str] | None = None) -> tuple[dict, float]:
    """Run ``code`` in a fresh Python; returns the JSON it prints last and its peak RSS (MB)."""
    proc = subprocess.Popen(
        [PYTHON, "-c", code],
        stdout=subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )
    out = proc.stdout.read() if proc.stdout else b""
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"step failed ({status}): {code[:200]}")
    return json.loads(out.decode().strip().splitlines()[-1]), usage.ru_maxrss / 1024


def cli_upload(csv: Path, store: Path) -> tuple[float, float]:
    """``pandasdb upload`` of the CSV: seconds, peak RSS MB."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [PYTHON, "-m", "pandasdb_core.cli", "--store", str(store), "--no-progress", "upload",
         str(csv), "big", "--date-col", "ts", "--format", "parquet"],
        stdout=subprocess.DEVNULL,
        cwd=ROOT,
    )  # fmt: skip
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit("pandasdb upload failed")
    return time.perf_counter() - started, usage.ru_maxrss / 1024


WHOLE_UPLOAD = """
import json, time, pandasdb_core as pdb
from pandasdb_core import streaming
db = pdb.open({store!r}, format="parquet")
started = time.perf_counter()
frame = __import__("polars").concat(list(streaming.file_pieces({csv!r})))
db.upload(frame, "big", columns_keys={{"ts": "Date"}})
print(json.dumps({{"seconds": time.perf_counter() - started}}))
"""

ITER_BATCHES = """
import json, threading, time, psutil, polars as pl, pandasdb_core as pdb
db = pdb.open({store!r})
pl.DataFrame({{"a": [1]}}).to_pandas()  # pandas and pyarrow loaded: their code is not data
proc = psutil.Process()
start = proc.memory_info().rss / 2**20
peak = [start]
def sample():  # the resident set every 5 ms (ru_maxrss holds the imports' peak)
    while True:
        peak[0] = max(peak[0], proc.memory_info().rss / 2**20)
        time.sleep(0.005)
threading.Thread(target=sample, daemon=True).start()
batch_mb, rows, warm, started = 0.0, 0, None, time.perf_counter()
for batch in db.iter_batches("big", batch_rows={batch_rows}):
    rows += len(batch)
    batch_mb = max(batch_mb, batch.memory_usage(deep=True).sum() / 2**20)
    if warm is None:  # after the first batch: threads and allocators started
        warm = peak[0]
    if {release}:  # the caller lets the batch go before asking for the next
        del batch
print(json.dumps({{"rows": rows, "seconds": time.perf_counter() - started,
                  "batch_mb": batch_mb, "above_start_mb": peak[0] - start,
                  "above_warm_mb": peak[0] - warm}}))
"""

SDK_ROUND_TRIP = """
import json, threading, time
import pandas as pd, pandasdb_core as pdb
from pandasdb_core.sample_data import sample_frame
from pandasdb_lambdas.local_server import ServeOptions, make_server
from pathlib import Path
if __name__ == "__main__":
    df = sample_frame({rows})
    frame_mb = df.memory_usage(deep=True).sum() / 2**20
    local = pdb.open({local!r}, format="parquet")
    t = time.perf_counter(); local.upload(df, "big", columns_keys={{"ts": "Date"}})
    local_up = time.perf_counter() - t
    t = time.perf_counter(); local.get("big"); local_get = time.perf_counter() - t
    # as `pandasdb serve` starts: its worker processes loaded before the first request
    server = make_server(Path({served!r}), "127.0.0.1", 0, options=ServeOptions(workers=2))
    server.functions.warm()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        host, port = server.server_address[:2]
        db = pdb.connect(f"http://{{host}}:{{port}}", progress=False)
        t = time.perf_counter()
        db.upload(df, "big", columns_keys={{"ts": "Date"}}, format="parquet")
        sdk_up = time.perf_counter() - t
        t = time.perf_counter(); back = db.get("big"); sdk_get = time.perf_counter() - t
    finally:
        server.shutdown()
        server.server_close()
    pd.testing.assert_frame_equal(back, df)  # the round trip gave back the frame, exactly
    print(json.dumps({{"frame_mb": frame_mb, "local_up": local_up, "local_get": local_get,
                      "sdk_up": sdk_up, "sdk_get": sdk_get}}))
"""


def iter_batches_row(store: Path, batch_rows: int, release: bool) -> tuple[str, str, str, str]:
    """The table's row for ``iter_batches`` in batches of ``batch_rows``, the caller's loop
    holding each batch until the next arrives, or (``release``) deleting it first."""
    code = ITER_BATCHES.format(store=str(store), batch_rows=batch_rows, release=release)
    result, _ = run(code)
    ratio = result["above_start_mb"] / result["batch_mb"]
    loop = "`del batch` at the end of the loop" if release else "a plain loop"
    return (
        f"iter_batches, {result['rows']:,} rows in batches of {batch_rows:,}, {loop}",
        f"peak {result['above_start_mb']:,.0f} MB above the start = {ratio:.2f}x one batch "
        f"({result['batch_mb']:,.0f} MB); after the first batch it grew "
        f"{result['above_warm_mb']:,.0f} MB; {result['seconds']:.1f} s",
        "< 2x one batch",
        "yes" if ratio < 2 else "no",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=13_000_000, help="CSV and SDK frame rows")
    parser.add_argument("--iter-rows", type=int, default=10_000_000)
    parser.add_argument("--batch-rows", type=int, default=250_000)
    parser.add_argument(
        "--only", choices=("sdk",), help="run only this measure (sdk: the SDK's round trip)"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs of the SDK measure (the table: medians)"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pandasdb-stream-"))
    table: list[tuple[str, str, str, str]] = []
    try:
        if args.only != "sdk":
            table.extend(file_measures(work, args))
        table.append(sdk_row(work, args.rows, args.repeat))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("| measure | result | goal | met |")
    print("|---|---|---|---|")
    for row in table:
        print("| " + " | ".join(row) + " |")


def file_measures(work: Path, args: argparse.Namespace) -> list[tuple[str, str, str, str]]:
    """The rows of the CLI upload and ``iter_batches`` measures."""
    table: list[tuple[str, str, str, str]] = []
    csv = work / "big.csv"
    make_csv_apart(csv, args.rows)
    csv_mb = csv.stat().st_size / MB
    seconds, peak = cli_upload(csv, work / "streamed")
    table.append(
        (f"pandasdb upload, {csv_mb:,.0f} MB CSV ({args.rows:,} rows)",
         f"{peak:,.0f} MB peak RSS = {peak / csv_mb:.2f}x the CSV; {seconds:.1f} s",
         "< 0.5x the CSV", "yes" if peak < 0.5 * csv_mb else "no")
    )  # fmt: skip
    result, whole = run(WHOLE_UPLOAD.format(store=str(work / "whole"), csv=str(csv)))
    table.append(
        ("the same, read whole then uploaded (the old way)",
         f"{whole:,.0f} MB peak RSS = {whole / csv_mb:.2f}x; {result['seconds']:.1f} s", "", "")
    )  # fmt: skip
    shutil.rmtree(work / "whole")
    if args.iter_rows != args.rows:
        csv.unlink()
        make_csv_apart(csv, args.iter_rows)
        shutil.rmtree(work / "streamed")
        cli_upload(csv, work / "streamed")
    csv.unlink()
    for batch_rows in sorted({args.batch_rows, 1_000_000}):
        for release in (False, True):
            table.append(iter_batches_row(work / "streamed", batch_rows, release))
    shutil.rmtree(work / "streamed")
    return table


def sdk_row(work: Path, rows: int, repeat: int) -> tuple[str, str, str, str]:
    """The SDK's round trip (``repeat`` runs, each in a fresh process and folders; the
    medians of each figure)."""
    runs = []
    for number in range(repeat):
        code = SDK_ROUND_TRIP.format(
            rows=rows, local=str(work / f"local{number}"), served=str(work / f"served{number}")
        )
        runs.append(run(code)[0])
        shutil.rmtree(work / f"local{number}", ignore_errors=True)
        shutil.rmtree(work / f"served{number}", ignore_errors=True)
        if repeat > 1:
            print(json.dumps(runs[-1]), file=sys.stderr)
    r = {key: statistics.median(run_[key] for run_ in runs) for key in runs[0]}
    up, get = r["sdk_up"] / r["local_up"], r["sdk_get"] / r["local_get"]
    medians = f" (medians of {repeat} runs)" if repeat > 1 else ""
    return (
        f"SDK through pandasdb serve, {r['frame_mb']:,.0f} MB frame{medians}",
        f"upload {r['sdk_up']:.1f} s ({up:.2f}x local {r['local_up']:.1f} s), "
        f"get {r['sdk_get']:.1f} s ({get:.2f}x local {r['local_get']:.1f} s)",
        "within 2x", "yes" if max(up, get) <= 2 else "no",
    )  # fmt: skip


if __name__ == "__main__":
    main()
