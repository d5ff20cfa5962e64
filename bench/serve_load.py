"""Does one user's heavy upload stall everyone else on ``pandasdb serve``? (issue 10)

Starts ``pandasdb serve`` as a process, then measures small reads by 50 concurrent clients,
first against the idle server, then while one more client uploads a 5,000-column frame over
and over. Prints the median and p95 latency of the reads in both phases and their ratio (the
goal: the loaded median within 2x of the idle one).

Run by hand: ``.venv/bin/python bench/serve_load.py [--clients 50] [--seconds 10]``.
"""

from __future__ import annotations

import argparse
import io
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import requests

SMALL = "bench/small"
WIDE = "bench/wide"


def start_server(data: Path, log: Path, extra: list[str]) -> tuple[subprocess.Popen, str]:
    """``pandasdb serve`` (with ``extra`` arguments) on a free port; its URL once it listens."""
    out = open(log, "wb")  # noqa: SIM115 - the process writes to it until it ends
    proc = subprocess.Popen(
        [sys.executable, "-m", "pandasdb_core.cli", "serve", "--data", str(data), "--port", "0"]
        + extra,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = re.search(rb"on (http://[0-9.]+:\d+)", log.read_bytes())
        if found:
            return proc, found.group(1).decode()
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"the server did not start: {log.read_text()}")


def wide_csv(columns: int, rows: int = 3) -> str:
    """A CSV of ``rows`` rows and ``columns`` integer columns."""
    buf = io.StringIO()
    buf.write(",".join(f"c{i}" for i in range(columns)) + "\n")
    for r in range(rows):
        buf.write(",".join(str(r * columns + i) for i in range(columns)) + "\n")
    return buf.getvalue()


def read_latencies(url: str, clients: int, seconds: float) -> tuple[list[float], Counter]:
    """``clients`` threads reading the small frame for ``seconds``: latencies (s) and the
    count of each error status."""
    latencies: list[float] = []
    errors: Counter = Counter()
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client() -> None:
        session = requests.Session()
        mine, failed = [], Counter()
        while time.monotonic() < stop:
            started = time.perf_counter()
            response = session.get(f"{url}/dataframes/{SMALL}", timeout=120)
            mine.append(time.perf_counter() - started)
            if response.status_code != 200:
                failed[f"{response.status_code} {response.text[:80]}"] += 1
        with lock:
            latencies.extend(mine)
            errors.update(failed)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors


def summary(latencies: list[float]) -> tuple[float, float]:
    """Median and 95th percentile, in milliseconds."""
    ordered = sorted(latencies)
    return (
        statistics.median(ordered) * 1000,
        ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--columns", type=int, default=5000)
    parser.add_argument("--workers", type=int, help="the server's --workers (its default if unset)")
    args = parser.parse_args()
    extra = ["--workers", str(args.workers)] if args.workers else []

    work = Path(tempfile.mkdtemp(prefix="serve-load-"))
    proc, url = start_server(work / "data", work / "server.log", extra)
    try:
        rows = "\n".join(f"2024-01-{d % 28 + 1:02d},{d},{d * 0.5}" for d in range(100))
        requests.post(
            f"{url}/dataframes/upload",
            json={"dataframe": f"ts,shop,amount\n{rows}\n", "dataframe_name": SMALL},
            timeout=60,
        ).raise_for_status()
        read_latencies(url, args.clients, 1.0)  # warm every worker's handler

        idle, idle_errors = read_latencies(url, args.clients, args.seconds)

        csv = wide_csv(args.columns)
        uploads: list[tuple[float, int]] = []
        uploading = threading.Event()
        done = threading.Event()

        def uploader() -> None:
            while not done.is_set():
                started = time.perf_counter()
                uploading.set()
                response = requests.post(
                    f"{url}/dataframes/upload",
                    params={"dataframe_name": WIDE},
                    data=csv,
                    headers={"Content-Type": "text/csv"},
                    timeout=600,
                )
                uploads.append((time.perf_counter() - started, response.status_code))

        upload_thread = threading.Thread(target=uploader)
        upload_thread.start()
        uploading.wait()
        time.sleep(0.5)  # the upload is under way in its worker
        loaded, loaded_errors = read_latencies(url, args.clients, args.seconds)
        done.set()
        upload_thread.join()
    finally:
        proc.terminate()
        proc.wait(30)

    idle_median, idle_p95 = summary(idle)
    loaded_median, loaded_p95 = summary(loaded)
    print(
        f"{args.clients} clients reading a 100-row frame for {args.seconds:g} s each phase; "
        f"one client uploading a {args.columns:,}-column CSV ({len(csv):,} bytes); "
        f"server workers: {args.workers or 'default'}; log: {work / 'server.log'}"
    )
    print(f"{'phase':<8} {'reads':>7} {'errors':>6} {'median ms':>10} {'p95 ms':>8}")
    print(
        f"{'idle':<8} {len(idle):>7} {sum(idle_errors.values()):>6} {idle_median:>10.1f} "
        f"{idle_p95:>8.1f}"
    )
    print(
        f"{'loaded':<8} {len(loaded):>7} {sum(loaded_errors.values()):>6} "
        f"{loaded_median:>10.1f} {loaded_p95:>8.1f}"
    )
    for label, count in (idle_errors + loaded_errors).items():
        print(f"error {count}x: {label}")
    print(
        f"ratio loaded/idle: median {loaded_median / idle_median:.2f}x, "
        f"p95 {loaded_p95 / idle_p95:.2f}x (goal: median within 2x)"
    )
    print(
        "uploads: "
        + ", ".join(f"{seconds:.1f} s -> {status}" for seconds, status in uploads)
        + " (504: the gateway's 29 s timeout; the upload still commits)"
    )


if __name__ == "__main__":
    main()
