"""Audit benchmark: bare `pandas.read_csv` of the file vs the full `medcheck audit` to CSV.

    python benchmarks/bench_audit.py [--rows 1000000] [--big 4000000] [--dir /tmp/medcheck-bench]

Each audit runs in its own process so its peak RSS is measured alone (os.wait4). Reports the
time ratio (goal <= 8x), peak RSS (goal < 2 GiB), rows/s, and chunked-mode peak RSS at --rows
and --big rows (goal: flat).

The ratio compares like with like: the bare read also runs as its own process, so both figures
include interpreter start-up and imports (about a second for the audit, half that for pandas).
Both import compiled bytecode: pip compiled pandas' when it installed it, and `compiled` compiles
medcheck's own packages first (an editable install has none until Python writes it on a first run,
which PYTHONDONTWRITEBYTECODE, set on some machines, forbids: ~0.1 s more per audit process).
The in-process read time (best of 3, no start-up) is printed too, for reference. The audit is
timed with one worker (MEDCHECK_AUDIT_WORKERS=1) and, with --workers N, again with N forked
workers auditing partitions in parallel (the output is byte-identical; the script checks it).
Peak RSS is that of the largest single process (os.wait4, as /usr/bin/time -v reports it); with
workers the processes share the parent's pages copy-on-write, so their sum overstates the total.
With --repeat K the bare read and the audits run K times, interleaved (read, audit, audit with
workers, read, ...), so that a busy spell of a shared machine hits both sides of a ratio alike;
each round's figures are printed, then the medians (time, and ratio over the rounds).
The chunked runs use --workers N too (1 without it). With workers, a number of hash partitions they
do not divide evenly is audited in runs of part of a partition (1M rows: 5 partitions, 10 runs of
~100k rows; 4M rows: 20 runs of 200k), and the peak follows the size of a run: compare the chunked
peaks without --workers, where every run is one partition.
"""

from __future__ import annotations

import argparse
import compileall
import filecmp
import importlib.util
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


def measure(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, int]:
    """Wall seconds, peak RSS in MiB (the largest of the child and its own children), exit status.

    Dirty pages of earlier runs (an audit writes ~360 MB per million rows) are flushed first, so
    no run pays for the write-back of the one before it."""
    os.sync()
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, **(env or {})}
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode() if proc.stderr else ""
    if err.strip():
        print("   ", err.strip().splitlines()[-1])
    return wall, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def in_process_read(meds: Path) -> float:
    import pandas as pd

    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        pd.read_csv(meds, on_bad_lines="skip")
        best = min(best, time.perf_counter() - start)
    return best


def _round(r: int, of: int) -> str:
    return f"[{r}/{of}] " if of > 1 else ""


def _in_process(r: int, meds: Path) -> str:
    """The in-process read, for reference: once, in the first round."""
    return f", {in_process_read(meds):.2f} s in-process" if r == 1 else ""


def compiled() -> None:
    """Write the bytecode of medcheck's packages, as installing them from a wheel would."""
    for name in ("checker", "formulary", "rules"):
        spec = importlib.util.find_spec(name)
        for folder in (spec.submodule_search_locations or []) if spec else []:
            compileall.compile_dir(folder, quiet=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--big", type=int, default=4_000_000)
    ap.add_argument("--chunksize", type=int, default=200_000)
    ap.add_argument("--dir", default="/tmp/medcheck-bench")
    ap.add_argument("--workers", type=int, default=0, help="also time the audit with this many workers")
    ap.add_argument("--repeat", type=int, default=1, help="rounds of the read and audit timings (medians)")
    a = ap.parse_args()
    folder = Path(a.dir)
    folder.mkdir(parents=True, exist_ok=True)
    meds, pats = generate(a.rows, folder)
    compiled()
    read = [sys.executable, "-c", f"import pandas as pd; pd.read_csv({str(meds)!r}, on_bad_lines='skip')"]
    audit = [
        sys.executable,
        "-m",
        "checker.cli",
        "audit",
        str(meds),
        "--patients",
        str(pats),
        "-o",
        str(folder / "findings.csv"),
    ]
    reads: list[float] = []
    ratios: dict[str, list[float]] = {"1 worker": [], f"{a.workers} workers": []}
    times: dict[str, list[float]] = {k: [] for k in ratios}
    for r in range(1, a.repeat + 1):
        t_read, rss_read, _ = measure(read)
        reads.append(t_read)
        t_audit, rss_audit, code = measure(audit, {"MEDCHECK_AUDIT_WORKERS": "1"})
        ratios["1 worker"].append(t_audit / t_read)
        times["1 worker"].append(t_audit)
        print(
            f"{_round(r, a.repeat)}rows {a.rows}: bare read_csv {t_read:.2f} s as a process "
            f"(RSS {rss_read:.0f} MiB){_in_process(r, meds)}; "
            f"audit to CSV {t_audit:.2f} s (RSS {rss_audit:.0f} MiB, exit {code}); "
            f"ratio {t_audit / t_read:.1f}x (process/process); {a.rows / t_audit:,.0f} rows/s"
        )
        if a.workers > 1:
            parallel = [*audit[:-1], str(folder / "findings_workers.csv")]
            t_par, rss_par, code = measure(parallel, {"MEDCHECK_AUDIT_WORKERS": str(a.workers)})
            same = filecmp.cmp(folder / "findings.csv", folder / "findings_workers.csv", shallow=False)
            ratios[f"{a.workers} workers"].append(t_par / t_read)
            times[f"{a.workers} workers"].append(t_par)
            print(
                f"{_round(r, a.repeat)}rows {a.rows}: audit with {a.workers} workers {t_par:.2f} s "
                f"(peak RSS {rss_par:.0f} MiB, exit {code}); ratio {t_par / t_read:.1f}x; "
                f"{a.rows / t_par:,.0f} rows/s; output {'identical' if same else 'DIFFERENT'}"
            )
    if a.repeat > 1:
        print(f"median of {a.repeat} rounds: bare read_csv {statistics.median(reads):.2f} s", end="")
        for k, v in ratios.items():
            if v:
                print(
                    f"; audit, {k}, {statistics.median(times[k]):.2f} s, ratio {statistics.median(v):.1f}x "
                    f"(range {min(v):.1f}-{max(v):.1f}x)",
                    end="",
                )
        print()
    for n in (a.rows, a.big):
        if not n:
            continue
        m, p = generate(n, folder, shuffle=True)
        cmd = [
            sys.executable,
            "-m",
            "checker.cli",
            "audit",
            str(m),
            "--chunksize",
            str(a.chunksize),
            "-o",
            str(folder / f"findings_chunked_{n}.csv"),
        ]
        workers = str(max(1, a.workers))
        t, rss, code = measure(cmd, {"MEDCHECK_AUDIT_WORKERS": workers})
        print(
            f"chunked (unsorted, --chunksize {a.chunksize}, {workers} workers) rows {n}: {t:.1f} s, "
            f"peak RSS {rss:.0f} MiB, {n / t:,.0f} rows/s, exit {code}"
        )


if __name__ == "__main__":
    main()
