"""Audit benchmark: a bare `pandas.read_csv` of the file vs the full `medcheck audit` to CSV.

    python3 benchmarks/bench_audit.py [--rows 1000000] [--big 4000000] [--workers 2] [--repeat 3] [--floor]

Each command runs as its own process (start-up included on both sides) and its peak RSS is taken
from os.wait4 (the largest single process: workers share the parent's pages copy-on-write).
With --repeat K the read and the audit alternate K times and the medians are printed: on a shared
machine one round's ratio can be off by a third. Then the chunked mode (--chunksize, shuffled
input, so partitioned) at --rows and --big rows: its peak RSS should be flat.
Goals: audit with 2 workers at most 10x the bare read, peak RSS under 2 GiB, chunked RSS flat.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def generate(rows: int, folder: Path, shuffle: bool = False) -> tuple[Path, Path]:
    meds, pats = folder / f"meds_{rows}{'_shuf' if shuffle else ''}.csv", folder / f"patients_{rows}.csv"
    if not meds.exists():
        cmd = [sys.executable, str(HERE / "gen_meds.py"), str(rows), str(meds), "--patients", str(pats)]
        subprocess.run(cmd + (["--shuffle"] if shuffle else []), check=True)
    return meds, pats


def measure(cmd: list[str]) -> tuple[float, float, int]:
    """Wall seconds, peak RSS in MiB, exit status."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode() if proc.stderr else ""
    if err.strip():
        print("   ", err.strip().splitlines()[-1])
    return wall, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--big", type=int, default=4_000_000, help="0: skip the chunked runs")
    ap.add_argument("--chunksize", type=int, default=200_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--dir", default="/tmp/medcheck-bench")
    ap.add_argument(
        "--floor",
        action="store_true",
        help="also time the audit with every rule evaluator off: reading, validating, building orders "
        "and writing, the cost no rule-side work can remove",
    )
    a = ap.parse_args()
    folder = Path(a.dir)
    folder.mkdir(parents=True, exist_ok=True)
    meds, pats = generate(a.rows, folder)
    read = [sys.executable, "-c", f"import pandas as pd; pd.read_csv({str(meds)!r}, on_bad_lines='skip')"]
    audit = [sys.executable, "-m", "checker", "audit", str(meds), "--patients", str(pats)]
    audit += ["--workers", str(a.workers), "-o", str(folder / "findings.csv")]
    reads, audits, ratios = [], [], []
    for r in range(1, a.repeat + 1):
        t_read, rss_read, _ = measure(read)
        t_audit, rss_audit, code = measure(audit)
        reads.append(t_read)
        audits.append(t_audit)
        ratios.append(t_audit / t_read)
        print(
            f"[{r}/{a.repeat}] rows {a.rows}: bare read_csv {t_read:.2f} s (RSS {rss_read:.0f} MiB); "
            f"audit with {a.workers} workers {t_audit:.2f} s (peak RSS {rss_audit:.0f} MiB, exit {code}); "
            f"ratio {t_audit / t_read:.1f}x; {a.rows / t_audit:,.0f} rows/s",
            flush=True,
        )
    print(
        f"median of {a.repeat}: read {statistics.median(reads):.2f} s, "
        f"audit {statistics.median(audits):.2f} s, "
        f"ratio {statistics.median(ratios):.1f}x (range {min(ratios):.1f}-{max(ratios):.1f}x)",
        flush=True,
    )
    if a.floor:
        off = (
            "import sys, checker.engine as e; run = e.run; "
            "e.run = lambda regimen, f=None, rules=None: run(regimen, f, ()); "
            "from checker.cli import main; sys.exit(main(sys.argv[1:]))"
        )
        t, rss, code = measure([sys.executable, "-c", off, *audit[3:]])
        print(f"floor (no rule evaluators) {t:.2f} s (peak RSS {rss:.0f} MiB, exit {code}); "
              f"{t / statistics.median(reads):.1f}x the median bare read", flush=True)  # fmt: skip
    for n in (a.rows, a.big) if a.big else ():
        m, _ = generate(n, folder, shuffle=True)
        cmd = [sys.executable, "-m", "checker", "audit", str(m), "--chunksize", str(a.chunksize)]
        cmd += ["--workers", str(a.workers), "-o", str(folder / f"findings_chunked_{n}.csv")]
        t, rss, code = measure(cmd)
        print(
            f"chunked (shuffled, --chunksize {a.chunksize}, {a.workers} workers) rows {n}: {t:.1f} s, "
            f"peak RSS {rss:.0f} MiB, exit {code}",
            flush=True,
        )


if __name__ == "__main__":
    main()
