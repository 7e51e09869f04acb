"""Benchmark: `POST /v1/check` with "shown" recording on and off, in one run.

    python3 benchmarks/bench_governance.py [--duration 5] [--rounds 2] [--concurrency 4] [--workers 2]

Starts two `medcheck serve` servers on loopback, each on its own fresh SQLite database, one with
MEDCHECK_RECORD_SHOWN=1 (the default: every finding served is counted, and written in batches by a
background thread) and one with MEDCHECK_RECORD_SHOWN=0. The rounds alternate between them, so
both see the same machine load, and each round is driven by wrk (or the Python client of
bench_http.py). Two loads: the same regimen every time (the report cache answers; recording is
then most of the per-request work) and a new patient id every time (the rules run). Prints
requests/s, p50 and p99 per server and load, and the on/off throughput ratio; the goal is a ratio
within noise of 1.0 and p99 < 20 ms.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_http import free_port, run_python, run_wrk  # noqa: E402


def start(port: int, workers: int, threads: int, record: bool, folder: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MEDCHECK_ACCESS_LOG": "", "MEDCHECK_LOG_LEVEL": "warning",
           "MEDCHECK_DATABASE_URL": f"sqlite:///{folder / ('on.db' if record else 'off.db')}",
           "MEDCHECK_RECORD_SHOWN": "1" if record else "0"}  # fmt: skip
    argv = [sys.executable, "-m", "checker.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(workers), "--threads", str(threads)]  # fmt: skip
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("a server did not come up within 60 s")


def in_process(rounds: int, n: int = 200) -> None:
    """The same A/B through Flask's test client: what recording costs the app itself."""
    from benchmarks.bench_http import REGIMEN
    from checker.http import create_app

    folder = Path(tempfile.mkdtemp(prefix="medcheck-bench-gov-"))
    clients = {rec: create_app({"RECORD_SHOWN": rec, "DATABASE_URL": f"sqlite:///{folder}/{rec}.db"}).test_client()
               for rec in (True, False)}  # fmt: skip
    rates: dict[bool, list[float]] = {True: [], False: []}
    for c in clients.values():
        for _ in range(n // 2):
            c.post("/v1/check", json=REGIMEN)
    for i in range(rounds):
        for record in (True, False) if i % 2 == 0 else (False, True):
            started = time.perf_counter()
            for _ in range(n):
                clients[record].post("/v1/check", json=REGIMEN)
            rates[record].append(n / (time.perf_counter() - started))
    on, off = statistics.median(rates[True]), statistics.median(rates[False])
    print(f"in process (test client, same regimen): on {on:.0f} req/s, off {off:.0f} req/s, "
          f"ratio {on / off:.3f}")
    shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=int, default=5, help="seconds per round")
    p.add_argument("--rounds", type=int, default=2, help="rounds per server and load, alternating")
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--in-process", action="store_true",
                   help="also time the Flask app in this process (no network, no client competing for CPU)")
    args = p.parse_args(argv)
    if args.in_process:
        in_process(args.rounds * 5)
    drive = run_wrk if shutil.which("wrk") else run_python
    folder = Path(tempfile.mkdtemp(prefix="medcheck-bench-gov-"))
    servers = {}
    try:
        for record in (True, False):
            port = free_port()
            servers[record] = (port, start(port, args.workers, args.threads, record, folder))
        results: dict[tuple[bool, bool], list[dict]] = {}
        for fresh in (False, True):
            for i in range(args.rounds):
                for record in (True, False) if i % 2 == 0 else (False, True):  # neither always first
                    url = f"http://127.0.0.1:{servers[record][0]}/v1/check"
                    drive(url, args.concurrency, 1, post=True, fresh=fresh)  # warm-up
                    results.setdefault((fresh, record), []).append(
                        drive(url, args.concurrency, args.duration, post=True, fresh=fresh))
        print(f"client: {drive.__name__}, concurrency {args.concurrency}, {args.workers} workers x "
              f"{args.threads} threads, {args.rounds} x {args.duration} s per cell")  # fmt: skip
        print(f"{'load':<22} {'recording':<10} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
        for fresh in (False, True):
            load = "new patient each time" if fresh else "same regimen (cached)"
            rps = {}
            for record in (True, False):
                runs = results[(fresh, record)]
                rps[record] = statistics.median(r["rps"] for r in runs)
                p50 = statistics.median(r["p50"] for r in runs)
                p99 = max(r["p99"] for r in runs)
                errors = sum(r["errors"] for r in runs)
                mode = "on" if record else "off"
                print(f"{load:<22} {mode:<10} {rps[record]:>9.0f} {p50:>8.2f} {p99:>8.2f} {errors:>7}")
            print(f"{'':<22} on/off throughput ratio {rps[True] / rps[False]:.3f}")
    finally:
        for _, proc in servers.values():
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
