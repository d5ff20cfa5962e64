"""pandasdb against its peers on the same data, in one run: times, ratios, peak memory, bytes,
and the requests each operation sends to S3 and DynamoDB.

Run (after the README's setup): ``.venv/bin/pip install -e '.[dev,bench]' && .venv/bin/pip
install --no-deps arcticdb && .venv/bin/python bench/run.py``. Options: ``--quick`` (500,000
rows, the methods the goals compare, one round: under a minute), ``--frame bench|issue|both``
(``bench``: 1,000,000 rows with a UTC timestamp and a nullable string; ``issue``: issue 16's
500,000 rows with a naive timestamp), ``--rounds N`` (repeat every measurement N times and
report medians), ``--scale`` (the 30/365/3650-day and 0.1M/1M/10M-row sweeps), ``--only``,
``--json FILE`` (raw results), ``--readme`` (rewrite the README's tables from this run).

Each measurement runs in a fresh process, so its peak RSS is its own; the methods of one round
run one after the other, so every ratio compares runs a few seconds apart (the machine is
shared: other processes slow some runs, which is why ratios come from the same round and the
medians of several rounds are reported with their spread).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
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
#: what --quick runs: the methods the goals compare
QUICK = ["seed", "parquet", "arcticdb", "pandasdb_csv", "pandasdb_parquet", "pandasdb_sdk"]
QUICK_ROWS = 500_000
FRAMES = {"bench": 1_000_000, "issue": 500_000}
README = ROOT / "README.md"


# ------------------------------------------------------------------------------- frames


def issue_frame(rows: int, days: int = 365, seed: int = 7) -> Any:
    """Issue 16's frame: a sorted naive timestamp over ``days`` days, int64, 500 symbols as
    strings, float64, int32, bool."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2024-01-01").value
    offsets = np.sort(rng.integers(0, days * 86_400 * 10**9, rows))
    symbols = np.array([f"SYM{i:03d}" for i in range(500)], dtype=object)
    return pd.DataFrame(
        {
            "ts": pd.to_datetime(start + offsets).as_unit("ns"),
            "id": rng.integers(0, 1_000_000, rows, dtype="int64"),
            "symbol": pd.array(symbols[rng.integers(0, 500, rows)], dtype="str"),
            "price": rng.normal(100, 15, rows),
            "qty": rng.integers(1, 1000, rows, dtype="int32"),
            "flag": rng.random(rows) < 0.5,
        }
    )


def make_frame(kind: str, rows: int, days: int) -> Any:
    from pandasdb_core.sample_data import sample_frame

    return issue_frame(rows, days) if kind == "issue" else sample_frame(rows, days=days)


# ------------------------------------------------------------------------------- measuring


def _peak_reset() -> None:
    # writing 5 to clear_refs resets VmHWM (Linux), so each phase reports its own peak
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    base = _status_mb("VmRSS")
    _peak_reset()
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, _status_mb("VmHWM") - base, result


def _du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


class Requests:
    """Counts the AWS calls boto3 clients make, by service and operation."""

    def __init__(self, *clients: Any) -> None:
        self.counts: Counter[str] = Counter()
        for client in clients:
            client.meta.events.register("before-call.*.*", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        self.counts[f"{model.service_model.service_id}.{model.name}"] += 1

    def take(self) -> dict[str, int]:
        """The counts since the last call."""
        counts, self.counts = dict(self.counts), Counter()
        return counts


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
    start = pd.Timestamp(DAY, tz=df.ts.dt.tz)
    end = start + pd.Timedelta(days=1) - pd.Timedelta(1, "ns")
    return {
        "write": lambda: lib.write("trades", indexed),
        "read": lambda: lib.read("trades").data,
        "day": lambda: lib.read("trades", date_range=(start, end)).data,
    }


def _pandasdb(db: Any, df: Any, fmt: str) -> dict[str, Callable[..., Any]]:
    def verify(back: Any) -> None:
        assert back.equals(df) and list(back.dtypes) == list(df.dtypes), "round trip differs"

    return {
        "write": lambda: db.upload(df, "trades", columns_keys={"ts": "Date"}, format=fmt),
        "read": lambda: db.get("trades"),
        "verify": verify,  # after the read's timing: the peers' reads check nothing either
        "day": lambda: db.get("trades", start_date=DAY, end_date=DAY),
    }


def pandasdb_csv(df: Any, where: Path) -> dict[str, Callable[[], Any]]:
    import pandasdb_core as pdb

    return _pandasdb(pdb.open(where), df, "csv.gz")


def pandasdb_parquet(df: Any, where: Path) -> dict[str, Callable[[], Any]]:
    import pandasdb_core as pdb

    return _pandasdb(pdb.open(where), df, "parquet")


def _background(args: list[str], log: Path, pattern: bytes) -> tuple[subprocess.Popen, str]:
    """A server process, and the URL it prints once it listens (``pattern`` captures it)."""
    out = open(log, "wb")  # noqa: SIM115 - the process writes to it until it ends
    proc = subprocess.Popen([sys.executable, *args], stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = re.search(pattern, log.read_bytes())
        if found:
            return proc, found.group(1).decode()
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"the server did not start: {log.read_text()}")


_MOTO = (
    "from pandasdb_core.testing.moto_server import SerialMotoServer; import time; "
    "print('moto on', SerialMotoServer().start(), flush=True); time.sleep(10**6)"
)


def pandasdb_s3(df: Any, where: Path) -> dict[str, Callable[[], Any]]:
    import pandasdb_core as pdb

    # moto in its own process, as S3 is: its work is not counted as the client's
    where.mkdir(parents=True)
    proc, url = _background(["-c", _MOTO], where / "moto.log", rb"moto on (http://\S+)")
    os.environ.update(
        AWS_ENDPOINT_URL=url,
        AWS_ACCESS_KEY_ID="x",
        AWS_SECRET_ACCESS_KEY="x",
        AWS_DEFAULT_REGION="us-east-1",
    )
    db = pdb.open("s3://bench?table=bench", create=True)
    ops = _pandasdb(db, df, "parquet")
    ops["requests"] = Requests(db.blobs.client, db.meta.client)
    ops["cleanup"] = proc.kill
    return ops


def pandasdb_sdk(df: Any, where: Path) -> dict[str, Callable[[], Any]]:
    import pandasdb_core as pdb

    where.mkdir(parents=True)
    serve = ["-m", "pandasdb_core.cli", "serve", "--data", str(where / "data"), "--port", "0"]
    proc, url = _background(serve, where / "serve.log", rb"on (http://[0-9.]+:\d+)")
    ops = _pandasdb(pdb.connect(url, progress=False), df, "parquet")
    ops["cleanup"] = proc.terminate
    return ops


# ------------------------------------------------------------------------------- driver


def measure(method: str, frame: str, rows: int, days: int) -> dict[str, Any]:
    """One method in this process: write, full read, one-day read (first, then warm)."""
    import logging

    logging.disable(logging.INFO)
    df = make_frame(frame, rows, days)
    where = Path(tempfile.mkdtemp(prefix=f"bench-{method}-")) / "data"
    ops = globals()[method](df, where)
    requests = ops.get("requests")
    result: dict[str, Any] = {
        "method": method,
        "frame": frame,
        "rows": rows,
        "days": days,
        "frame_mb": df.memory_usage(deep=True).sum() / 1e6,
    }
    try:
        for phase in ("write", "read", "day"):
            if phase not in ops:
                continue
            # start each phase with nothing left to write back from earlier methods, since
            # pandasdb's commit flushes the whole file system (syncfs)
            os.sync()
            if requests:
                requests.take()
            seconds, peak, out = _timed(ops[phase])
            result[phase] = seconds
            result[f"{phase}_peak_mb"] = peak
            if phase == "read" and "verify" in ops:
                ops["verify"](out)
            if requests:
                result[f"{phase}_requests"] = requests.take()
            if phase == "day":
                result["day_rows"] = len(out)
                # the first call pays for cold caches and connections; a notebook repeats reads
                result["day_warm"] = statistics.median(
                    _timed(ops[phase])[0] for _ in range(WARM_REPEATS)
                )
        result["disk_mb"] = _du(where) / 1e6 if where.exists() else float("nan")
    finally:
        if "cleanup" in ops:
            ops["cleanup"]()
        shutil.rmtree(where.parent, ignore_errors=True)
    return result


def run_child(method: str, frame: str, rows: int, days: int) -> dict[str, Any]:
    """Measure in a fresh process (its own peak RSS, no warm caches from other methods)."""
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            method,
            "--frame",
            frame,
            "--rows",
            str(rows),
            "--days",
            str(days),
        ],
        capture_output=True,
        text=True,
        timeout=3600,
        env={**os.environ, "POWERTOOLS_METRICS_DISABLED": "true"},
    )
    if out.returncode != 0:
        return {
            "method": method,
            "frame": frame,
            "rows": rows,
            "days": days,
            "error": (out.stderr.strip().splitlines() or ["failed"])[-1],
        }
    return json.loads(out.stdout.strip().splitlines()[-1])


PHASES = ("write", "read", "day", "day_warm", "write_peak_mb", "read_peak_mb", "disk_mb")


def combine(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One method's rounds as one row: the median of each figure."""
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return runs[0]
    row = dict(ok[0])
    for key in PHASES:
        values = [r[key] for r in ok if key in r]
        if values:
            row[key] = statistics.median(values)
    row["rounds"] = len(ok)
    return row


def _fmt(value: Any, spec: str = ".3f") -> str:
    return "" if value is None or value != value else format(value, spec)


def results_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| method | frame | rows | days | write s | read s | 1-day read s | 1-day warm s | "
        "peak write MB | peak read MB | disk MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        head = f"| {r['method']} | {r['frame']} | {r['rows']:,} | {r['days']} |"
        if "error" in r:
            lines.append(f"{head} error: {r['error']} |||||||")
            continue
        lines.append(
            f"{head} {_fmt(r.get('write'))} | {_fmt(r.get('read'))} | "
            f"{_fmt(r.get('day'), '.4f')} | {_fmt(r.get('day_warm'), '.4f')} | "
            f"{_fmt(r.get('write_peak_mb'), '.0f')} | {_fmt(r.get('read_peak_mb'), '.0f')} | "
            f"{_fmt(r.get('disk_mb'), '.1f')} |"
        )
    return lines


#: (pandasdb method, baseline, figure, goal): the figure is pandasdb's time over the
#: baseline's (``at most``), or the baseline's over pandasdb's (``speed-up at least``)
GOALS: list[tuple[str, str, str, str, float]] = [
    ("pandasdb_csv", "seed", "read", "speed-up", 3.0),
    ("pandasdb_csv", "seed", "write", "speed-up", 15.0),
    ("pandasdb_parquet", "parquet", "read", "ratio", 1.5),
    ("pandasdb_parquet", "parquet", "write", "ratio", 1.5),
    ("pandasdb_parquet", "arcticdb", "read", "ratio", 2.0),
    ("pandasdb_parquet", "arcticdb", "write", "ratio", 2.0),
    ("pandasdb_parquet", "arcticdb", "day", "ratio", 2.0),
    ("pandasdb_parquet", "arcticdb", "day_warm", "ratio", 2.0),
    ("pandasdb_sdk", "pandasdb_parquet", "write", "ratio", 1.3),
    ("pandasdb_sdk", "pandasdb_parquet", "read", "ratio", 1.3),
    ("pandasdb_sdk", "pandasdb_parquet", "day", "ratio", 1.5),
    ("pandasdb_sdk", "pandasdb_parquet", "day_warm", "ratio", 1.5),
]
MEMORY_GOALS = {"write_peak_mb": 1.5, "read_peak_mb": 1.2}


def _ratios(
    rounds: list[list[dict[str, Any]]], frame: str, ours: str, theirs: str, phase: str, kind: str
) -> list[float]:
    """The figure of each round in which both methods measured ``phase``."""
    values = []
    for runs in rounds:
        by = {(r["method"], r["frame"]): r for r in runs if "error" not in r}
        a, b = by.get((ours, frame)), by.get((theirs, frame))
        if a and b and phase in a and phase in b:
            values.append(b[phase] / a[phase] if kind == "speed-up" else a[phase] / b[phase])
    return values


def goals_table(rounds: list[list[dict[str, Any]]], frames: list[str]) -> list[str]:
    lines = [
        "| frame | pandasdb | against | phase | figure | median | spread | goal | met |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for frame in frames:
        for ours, theirs, phase, kind, goal in GOALS:
            values = _ratios(rounds, frame, ours, theirs, phase, kind)
            if not values:
                continue
            mid = statistics.median(values)
            met = mid >= goal if kind == "speed-up" else mid <= goal
            what = "speed-up" if kind == "speed-up" else "time ratio"
            sign = ">=" if kind == "speed-up" else "<="
            lines.append(
                f"| {frame} | {ours} | {theirs} | {phase} | {what} | {mid:.2f}x | "
                f"{min(values):.2f}-{max(values):.2f} | {sign} {goal}x | "
                f"{'yes' if met else '**no**'} |"
            )
        for runs_method in ("pandasdb_csv", "pandasdb_parquet", "pandasdb_sdk"):
            for key, goal in MEMORY_GOALS.items():
                values = [
                    r[key] / r["frame_mb"]
                    for runs in rounds
                    for r in runs
                    if r.get("method") == runs_method and r.get("frame") == frame and key in r
                ]
                if not values:
                    continue
                mid = statistics.median(values)
                lines.append(
                    f"| {frame} | {runs_method} | frame size | {key.split('_')[0]} | peak memory "
                    f"| {mid:.2f}x | {min(values):.2f}-{max(values):.2f} | <= {goal}x | "
                    f"{'yes' if mid <= goal else '**no**'} |"
                )
    return lines


def requests_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["| frame | operation | requests |", "|---|---|---|"]
    names = {"write": "upload", "read": "full read", "day": "one-day read"}
    for r in rows:
        for phase, name in names.items():
            counts = r.get(f"{phase}_requests")
            if counts is None:
                continue
            text = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
            lines.append(f"| {r['frame']} ({r['days']} days) | {name} | {text} |")
    return lines


def machine() -> str:
    import platform

    import pandas
    import polars

    cpu = ""
    info = Path("/proc/cpuinfo")
    if info.exists():
        found = re.search(r"model name\s*:\s*(.+)", info.read_text())
        cpu = f", {found.group(1).strip()}" if found else ""
    return (
        f"{time.strftime('%Y-%m-%d')}, {platform.machine()}{cpu}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, pandas {pandas.__version__}, "
        f"polars {polars.__version__}"
    )


def write_readme(block: str) -> None:
    """Replace the README's generated tables (between the bench markers) by ``block``."""
    text = README.read_text()
    start, end = "<!-- bench/run.py: start -->", "<!-- bench/run.py: end -->"
    if start not in text or end not in text:
        raise SystemExit(f"README.md has no {start} ... {end} block to replace")
    before, rest = text.split(start, 1)
    after = rest.split(end, 1)[1]
    README.write_text(f"{before}{start}\n{block}\n{end}{after}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, help="rows of every frame (default: the frame's)")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--frame", choices=["bench", "issue", "both"], default="both")
    parser.add_argument("--only", help="comma-separated methods")
    parser.add_argument("--rounds", type=int, default=1, help="repeat and report medians")
    parser.add_argument("--quick", action="store_true", help="500,000 rows, goal methods")
    parser.add_argument(
        "--scale", action="store_true", help="also sweep days (30, 365, 3650) and rows"
    )
    parser.add_argument("--json", help="write every run's raw figures to this file")
    parser.add_argument("--readme", action="store_true", help="rewrite README.md's tables")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.frame, args.rows, args.days)))
        return
    frames = list(FRAMES) if args.frame == "both" else [args.frame]
    methods = args.only.split(",") if args.only else QUICK if args.quick else METHODS
    size = {f: args.rows or (QUICK_ROWS if args.quick else FRAMES[f]) for f in frames}
    started = time.monotonic()
    print(f"pandasdb benchmark: {machine()}\n", flush=True)
    rounds = []
    for i in range(args.rounds):
        rounds.append([run_child(m, f, size[f], args.days) for f in frames for m in methods])
        print(f"round {i + 1}/{args.rounds} done ({time.monotonic() - started:.0f} s)", flush=True)
    rows = [combine([runs[i] for runs in rounds]) for i in range(len(rounds[0]))]
    out = [f"Run: `{' '.join(['bench/run.py', *sys.argv[1:]])}` on {machine()}."]
    if args.rounds > 1:
        out.append(f"Every figure is the median of {args.rounds} rounds.")
    out += [
        "",
        *results_table(rows),
        "",
        "Goals (issue 16): figures of the same round, median "
        "and spread (lowest-highest) over the rounds.",
        "",
        *goals_table(rounds, frames),
    ]
    aws = [r for r in rows if r["method"] == "pandasdb_s3" and "error" not in r]
    if aws:
        out += ["", "Requests to S3 and DynamoDB (moto's server) per operation:", ""]
        out += requests_table(aws)
    if args.scale:
        out += ["", "One-day read as the number of days stored grows (rows grow with days):", ""]
        base = args.rows or FRAMES["bench"]
        out += results_table(
            [
                run_child(m, "bench", max(base * d // 365, 10_000), d)
                for d in (30, 365, 3650)
                for m in ("pandasdb_parquet", "arcticdb")
            ]
        )
        out += ["", "Time as rows grow (365 days):", ""]
        out += results_table(
            [
                run_child(m, "bench", n, 365)
                for n in (100_000, 1_000_000, 10_000_000)
                for m in ("pandasdb_csv", "pandasdb_parquet")
            ]
        )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    out += [
        "",
        f"Load average when the run ended (1, 5, 15 minutes): {load} on {os.cpu_count()} cores.",
    ]
    block = "\n".join(out)
    print(block)
    print(f"\n({time.monotonic() - started:.0f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps(rounds, indent=1))
    if args.readme:
        write_readme(block)


if __name__ == "__main__":
    main()
