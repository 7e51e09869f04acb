"""HTTP benchmark: gunicorn on loopback, `GET /healthz` against `POST /v1/check` (10 medications).

    python3 benchmarks/bench_http.py [--duration 10] [--concurrency 2,4,8] [--workers 2] [--threads 1]

Starts `medcheck serve` on a free 127.0.0.1 port, then for each concurrency drives both
endpoints with wrk (Debian package `wrk`) or, when wrk is absent, a bounded Python client with
one keep-alive connection per thread. `/v1/check` is measured twice: the same regimen on every
request (as order entry re-sends it; the service's report cache answers repeats) and the same
orders for a new patient id on every request (the rules run every time). Prints requests/s, p50
and p99 per endpoint and the throughput ratios check/healthz; the goal is ratio >= 0.5 and
p99 < 20 ms at the concurrency that saturates the two workers. Loopback only; every run is
bounded by --duration.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

REGIMEN = {
    "patient": {
        "id": "bench-http", "age_years": 71, "weight_kg": 52, "sex": "female",
        "serum_creatinine": "1.6 mg/dL", "egfr": 41, "hepatic_impairment": "none", "qtc_ms": 462,
        "serum_calcium": "2.05 mmol/L",
        "platelets": "140 10^9/L", "anc": "2.1 10^9/L", "hemoglobin": "11.2 g/dL", "opioid_tolerant": False,
        "dental_exam_done": False, "pregnant": False, "conditions": ["bone_metastases", "gi_bleed_history"],
    },
    "medications": [
        {"drug": "acetaminophen", "dose": 1, "unit": "g", "route": "oral", "frequency": "q6h"},
        {"drug": "Tylenol", "sig": "1 g PO q6h PRN pain"},
        {"drug": "ketorolac", "dose": 15, "unit": "mg", "route": "iv", "frequency": "q6h",
         "duration_days": 7},
        {"drug": "radium-223", "dose": 55, "unit": "kBq/kg", "route": "iv", "frequency": "every 4 weeks",
         "dose_number": 7},
        {"drug": "oxycodone", "dose": 20, "unit": "mg", "route": "oral", "frequency": "q12h"},
        {"drug": "gabapentin", "dose": 300, "unit": "mg", "route": "oral", "frequency": "tid"},
        {"drug": "dexamethasone", "sig": "10 mg IV bolus then 4 mg IV/PO every 6 h"},
        {"drug": "zoledronic acid", "dose": 4, "unit": "mg", "route": "iv", "frequency": "every 4 weeks"},
        {"drug": "vitamin D3", "dose": 1000, "unit": "IU", "route": "oral", "frequency": "daily"},
        {"drug": "sertraline", "dose": 50, "unit": "mg", "route": "oral", "frequency": "daily"},
    ],
}  # fmt: skip
BODY = json.dumps(REGIMEN)
# The same regimen for a new patient id on every request: the service's report cache (keyed on the
# whole validated regimen) never hits, so this measures the rules running on every request.
MARK = '"bench-http"'
HEAD, TAIL = BODY.split(MARK)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(port: int, workers: int, threads: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MEDCHECK_ACCESS_LOG": "", "MEDCHECK_LOG_LEVEL": "warning"}
    argv = [sys.executable, "-m", "checker.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(workers), "--threads", str(threads)]  # fmt: skip
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("gunicorn did not come up within 30 s")


def stop_server(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


FRESH_LUA = """
local n, id = 0, 0
local head, tail = %s, %s
function setup(thread) id = id + 1; thread:set("tid", id) end
function request()
  n = n + 1
  return wrk.format(nil, nil, nil, head .. '"bench-' .. tostring(tid) .. '-' .. n .. '"' .. tail)
end
"""


def run_wrk(url: str, concurrency: int, duration: int, post: bool, fresh: bool = False) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        if post:
            script.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                         f"wrk.body = {json.dumps(BODY)}\n")  # fmt: skip
        if fresh:
            script.write(FRESH_LUA % (json.dumps(HEAD), json.dumps(TAIL)))
    try:
        argv = ["wrk", f"-t{min(2, concurrency)}", f"-c{concurrency}", f"-d{duration}s", "--latency",
                "-s", script.name, url]  # fmt: skip
        out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 30, check=True).stdout
    finally:
        os.unlink(script.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    pct = dict(re.findall(r"^\s+(50|99)(?:\.0+)?%\s+(\S+)", out, re.MULTILINE))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rps,
        "p50": _ms(pct["50"]),
        "p99": _ms(pct["99"]),
        "errors": int(errors.group(1)) if errors else 0,
    }


def run_python(url: str, concurrency: int, duration: int, post: bool, fresh: bool = False) -> dict:
    """The fallback load generator: threads, each with one keep-alive connection, for `duration` s."""
    host, port = url.split("//")[1].split("/")[0].split(":")
    path = "/" + url.split("//")[1].split("/", 1)[1]
    stop = time.monotonic() + duration
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency
    body = BODY.encode() if post else None
    headers = {"Content-Type": "application/json"} if post else {}

    def worker(i: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        while time.monotonic() < stop:
            t0 = time.perf_counter()
            payload = f'{HEAD}"bench-{i}-{len(latencies[i])}"{TAIL}'.encode() if fresh else body
            try:
                conn.request("POST" if post else "GET", path, body=payload, headers=headers)
                r = conn.getresponse()
                r.read()
                if r.status != 200:
                    errors[i] += 1
                if r.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = http.client.HTTPConnection(host, int(port), timeout=10)
            except OSError:
                errors[i] += 1
                conn.close()
                conn = http.client.HTTPConnection(host, int(port), timeout=10)
            latencies[i].append((time.perf_counter() - t0) * 1000)
        conn.close()

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    started = time.monotonic()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.monotonic() - started
    lat = sorted(x for per in latencies for x in per)
    q = statistics.quantiles(lat, n=100)
    return {"rps": len(lat) / elapsed, "p50": q[49], "p99": q[98], "errors": sum(errors)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=int, default=10, help="seconds per measurement (bounded)")
    p.add_argument("--concurrency", default="2,4,8", help="comma-separated connection counts")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=1, help=">1 selects gunicorn's gthread worker")
    p.add_argument("--client", choices=("auto", "wrk", "python"), default="auto")
    args = p.parse_args(argv)
    client = args.client if args.client != "auto" else ("wrk" if shutil.which("wrk") else "python")
    load = run_wrk if client == "wrk" else run_python
    port = free_port()
    proc = start_server(port, args.workers, args.threads)
    base = f"http://127.0.0.1:{port}"
    try:
        req = urllib.request.Request(f"{base}/v1/check", BODY.encode(), {"Content-Type": "application/json"})
        with urllib.request.urlopen(req) as r:
            report = json.loads(r.read())
        print(f"client {client}; gunicorn {args.workers} workers x {args.threads} threads "
              f"({'gthread' if args.threads > 1 else 'sync'}); cpus {os.cpu_count()}; "
              f"/v1/check: {len(REGIMEN['medications'])} medications, {len(report['findings'])} findings, "
              f"{len(json.dumps(report))} bytes")  # fmt: skip
        print(f"{'conc':>4} {'endpoint':<14} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>7}")
        for c in (int(x) for x in args.concurrency.split(",")):
            load(f"{base}/healthz", c, 2, False)  # warm-up, not reported
            health = load(f"{base}/healthz", c, args.duration, False)
            load(f"{base}/v1/check", c, 2, True)
            check = load(f"{base}/v1/check", c, args.duration, True)
            fresh = load(f"{base}/v1/check", c, args.duration, True, True)
            for name, r in (("GET /healthz", health), ("POST /v1/check", check), ("  new patient", fresh)):
                print(
                    f"{c:>4} {name:<14} {r['rps']:>9.0f} {r['p50']:>8.2f} {r['p99']:>8.2f} {r['errors']:>7}"
                )
            same, new = check["rps"] / health["rps"], fresh["rps"] / health["rps"]
            print(f"{c:>4} ratio check/healthz throughput = {same:.2f} (same regimen again), "
                  f"{new:.2f} (a new patient each request)")  # fmt: skip
    finally:
        stop_server(proc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
