"""pandasdb against its peers on the same data, in one run: times, ratios, peak memory, bytes.

Run (after the README's setup): ``.venv/bin/pip install -e '.[bench]' && .venv/bin/python
bench/run.py`` (``--rows``, ``--days``, ``--scale`` for the 0.1M/1M/10M and 30/365/3650-day
sweeps, ``--only`` to pick methods). Each measurement runs in a fresh process so its peak RSS
is its own.
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DAY = "2024-03-01"
WARM_REPEATS = 9
METHODS = [
    "seed",
    "polars_csv",
    "parquet",
    "deltalake",
    "arcticdb",
    "pandasdb_csv",
    "pandasdb_parquet",
    "pandasdb_s3",
    "pandasdb_sdk",
]


def _peak_reset() -> None:
    # writing 5 to clear_refs resets VmHWM (Linux), so each phase reports its own peak
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    base = _rss_mb()
    _peak_reset()
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, _peak_mb() - base, result


def _du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


# ------------------------------------------------------------------------------- methods


def seed(df: Any, where: Path) -> dict[str, Callable[[], Any]]:
    import pandas as pd

    def write() -> None:
        for day, part in df.groupby(df.ts.dt.strftime("%Y-%m-%d")):
            folder = where / day
            folder.mkdir(parents=True)
            part.to_csv(folder / "chunk.csv.gz", index=False, compression="gzip")

    def read_files(files: list[Path]) -> Any:
        parts = [pd.read_csv(f, parse_dates=["ts"]) for f in files]
        return pd.concat(parts, ignore_index=True)

    return {
        "write": write,
        "read": lambda: read_files(sorted(where.rglob("*.csv.gz"))),
        "day": lambda: read_files(sorted((where / DAY).glob("*.csv.gz"))),
    }


def polars_csv(df: Any, where: Path) -> dict[str, Callable[[], Any]]:
    import polars as pl

    path = where / "all.csv.gz"
    where.mkdir(parents=True)
    frame = pl.from_pandas(df)
    return {
        "write": lambda: frame.write_csv(path, compression="gzip", compression_level=1),
        "read": lambda: pl.read_csv(path, try_parse_dates=True).to_pandas(),
    }


def parquet(df: Any, where: Path) -> dict[str, Callable[[], Any]]:
    import pandas as pd

    where.mkdir(parents=True)
    path = where / "all.parquet"
    return {
        "write": lambda: df.to_parquet(path, compression="zstd"),
        "read": lambda: pd.read_parquet(path),
    }


def deltalake(df: Any, where: Path) -> dict[str, Callable[[], Any]]:
    from deltalake import DeltaTable, write_deltalake

    with_day = df.assign(day=df.ts.dt.strftime("%Y-%m-%d"))
    return {
        "write": lambda: write_deltalake(str(where), with_day, partition_by=["day"]),
        "read": lambda: DeltaTable(str(where)).to_pandas(),
        "day": lambda: DeltaTable(str(where)).to_pandas(partitions=[("day", "=", DAY)]),
    }


def arcticdb(df: Any, where: Path) -> dict[str, Callable[[], Any]]:
    import pandas as pd
    from arcticdb import Arctic

    where.mkdir(parents=True)
    lib = Arctic(f"lmdb://{where}").get_library("bench", create_if_missing=True)
    indexed = df.set_index("ts")
    start = pd.Timestamp(DAY, tz="UTC")
    return {
        "write": lambda: lib.write("trades", indexed),
        "read": lambda: lib.read("trades").data,
        "day": lambda: (
            lib.read(
                "trades", date_range=(start, start + pd.Timedelta(days=1) - pd.Timedelta(1, "ns"))
            ).data
        ),
    }


def _pandasdb(db: Any, df: Any, fmt: str) -> dict[str, Callable[[], Any]]:
    def read() -> Any:
        back = db.get("trades")
        assert back.equals(df) and list(back.dtypes) == list(df.dtypes), "round trip differs"
        return back

    return {
        "write": lambda: db.upload(df, "trades", columns_keys={"ts": "Date"}, format=fmt),
        "read": read,
        "day": lambda: db.get("trades", start_date=DAY, end_date=DAY),
    }


def pandasdb_csv(df: Any, where: Path) -> dict[str, Callable[[], Any]]:
    import pandasdb_core as pdb

    return _pandasdb(pdb.open(where), df, "csv.gz")


def pandasdb_parquet(df: Any, where: Path) -> dict[str, Callable[[], Any]]:
    import pandasdb_core as pdb

    return _pandasdb(pdb.open(where), df, "parquet")


def pandasdb_s3(df: Any, where: Path) -> dict[str, Callable[[], Any]]:
    import pandasdb_core as pdb
    from pandasdb_core.testing.moto_server import SerialMotoServer

    os.environ.update(
        AWS_ENDPOINT_URL=SerialMotoServer().start(),
        AWS_ACCESS_KEY_ID="x",
        AWS_SECRET_ACCESS_KEY="x",
        AWS_DEFAULT_REGION="us-east-1",
    )
    return _pandasdb(pdb.open("s3://bench?table=bench", create=True), df, "parquet")


def pandasdb_sdk(df: Any, where: Path) -> dict[str, Callable[[], Any]]:
    import pandasdb_core as pdb
    from lambdas.local_server import make_server

    server = make_server(where, "127.0.0.1", 0)
    import threading

    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    return _pandasdb(pdb.connect(f"http://{host}:{port}", progress=False), df, "parquet")


# ------------------------------------------------------------------------------- driver


def measure(method: str, rows: int, days: int) -> dict[str, Any]:
    """One method in this process: write, full read, one-day read."""
    import logging

    logging.disable(logging.INFO)
    from pandasdb_core.sample_data import sample_frame

    df = sample_frame(rows, days=days)
    where = Path(tempfile.mkdtemp(prefix=f"bench-{method}-")) / "data"
    ops = globals()[method](df, where)
    result: dict[str, Any] = {
        "method": method,
        "rows": rows,
        "days": days,
        "frame_mb": df.memory_usage(deep=True).sum() / 1e6,
    }
    for phase in ("write", "read", "day"):
        if phase in ops:
            # start each phase with nothing left to write back from earlier methods, since
            # pandasdb's commit flushes the whole file system (syncfs)
            os.sync()
            seconds, peak, out = _timed(ops[phase])
            result[phase] = seconds
            result[f"{phase}_peak_mb"] = peak
            if phase == "day":
                result["day_rows"] = len(out)
                # the first call pays for cold caches and connections; a notebook repeats reads
                result["day_warm"] = statistics.median(
                    _timed(ops[phase])[0] for _ in range(WARM_REPEATS)
                )
    result["disk_mb"] = _du(where) / 1e6 if where.exists() else float("nan")
    shutil.rmtree(where.parent, ignore_errors=True)
    return result


def run_child(method: str, rows: int, days: int) -> dict[str, Any]:
    """Measure in a fresh process (its own peak RSS, no warm caches from other methods)."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", method, "--rows", str(rows), "--days", str(days)],
        capture_output=True,
        text=True,
        timeout=3600,
        env={**os.environ, "POWERTOOLS_METRICS_DISABLED": "true"},
    )
    if out.returncode != 0:
        return {
            "method": method,
            "rows": rows,
            "days": days,
            "error": (out.stderr.strip().splitlines() or ["failed"])[-1],
        }
    return json.loads(out.stdout.strip().splitlines()[-1])


def _fmt(value: Any, spec: str = ".3f") -> str:
    return "" if value is None or value != value else format(value, spec)


def print_results(results: list[dict[str, Any]]) -> None:
    print(
        "| method | rows | days | write s | read s | 1-day read s | 1-day warm s | peak write MB | "
        "peak read MB | disk MB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        if "error" in r:
            print(f"| {r['method']} | {r['rows']:,} | {r['days']} | error: {r['error']} ||||||")
            continue
        print(
            f"| {r['method']} | {r['rows']:,} | {r['days']} | {_fmt(r.get('write'))} | "
            f"{_fmt(r.get('read'))} | {_fmt(r.get('day'), '.4f')} | "
            f"{_fmt(r.get('day_warm'), '.4f')} | "
            f"{_fmt(r.get('write_peak_mb'), '.0f')} | {_fmt(r.get('read_peak_mb'), '.0f')} | "
            f"{_fmt(r.get('disk_mb'), '.1f')} |"
        )


def print_ratios(results: list[dict[str, Any]]) -> None:
    by = {r["method"]: r for r in results if "error" not in r}
    pairs = [
        ("pandasdb_csv", "seed"),
        ("pandasdb_csv", "polars_csv"),
        ("pandasdb_parquet", "parquet"),
        ("pandasdb_parquet", "deltalake"),
        ("pandasdb_parquet", "arcticdb"),
        ("pandasdb_sdk", "pandasdb_parquet"),
        ("pandasdb_s3", "pandasdb_parquet"),
    ]
    print(
        "\nSpeed-up of pandasdb over each baseline (baseline time / pandasdb time; >1 is "
        "faster). Peak memory as a multiple of the frame's in-memory size.\n"
    )
    print(
        "| pandasdb | baseline | write | read | 1-day read | 1-day warm | peak write x frame | "
        "peak read x frame |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for ours, theirs in pairs:
        if ours not in by or theirs not in by:
            continue
        a, b = by[ours], by[theirs]

        def ratio(key: str, a: dict = a, b: dict = b) -> str:
            return _fmt(b[key] / a[key], ".2f") if key in a and key in b else ""

        frame = a["frame_mb"]
        print(
            f"| {ours} | {theirs} | {ratio('write')} | {ratio('read')} | {ratio('day')} | "
            f"{ratio('day_warm')} | "
            f"{_fmt(a.get('write_peak_mb', float('nan')) / frame, '.2f')} | "
            f"{_fmt(a.get('read_peak_mb', float('nan')) / frame, '.2f')} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--only", help="comma-separated methods", default=",".join(METHODS))
    parser.add_argument(
        "--scale",
        action="store_true",
        help="also sweep rows (0.1M, 1M, 10M) and days (30, 365, 3650)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.rows, args.days)))
        return
    import platform

    print(
        f"pandasdb benchmark, {time.strftime('%Y-%m-%d')}, {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}\n"
    )
    results = [run_child(m, args.rows, args.days) for m in args.only.split(",")]
    print_results(results)
    print_ratios(results)
    if args.scale:
        print("\nOne-day read as the number of days stored grows (rows grow with days):\n")
        sweep = [
            run_child(m, max(args.rows * d // 365, 10_000), d)
            for d in (30, 365, 3650)
            for m in ("pandasdb_parquet", "arcticdb")
        ]
        print_results(sweep)
        print("\nTime as rows grow (365 days):\n")
        print_results(
            [
                run_child(m, n, 365)
                for n in (100_000, 1_000_000, 10_000_000)
                for m in ("pandasdb_csv", "pandasdb_parquet")
            ]
        )


if __name__ == "__main__":
    main()
