"""Where a forked audit worker's time goes: the start-up before any worker runs, and a worker's
first (cold) partition against the same partition once warm.

    python3 benchmarks/bench_audit_phases.py [--rows 1000000] [--block 50000] [--dir /tmp/medcheck-bench]

With N workers, each worker keeps its own per-key rule results, interpreted orders and patients
index, so each pays the cold start on its first partitions; the audit's wall time is about the
start-up plus half the workers' CPU (two CPUs), so this is the figure to watch when the ratio of
`bench_audit.py` moves. Prints, in one run:

- start-up: imports, the patients file, the knowledge tables, the first block (what the process
  does alone before the first worker starts);
- per worker fork (three in turn, each from the same parent state): the first block cold, then
  the same block again warm, with CPU (user, system) and minor page faults of each.
"""

from __future__ import annotations

import argparse
import gc
import io
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
T0 = time.perf_counter()


def _usage() -> tuple[float, float, int]:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime, r.ru_stime, r.ru_minflt


def _timed(label: str, fn):
    start, u0 = time.perf_counter(), _usage()
    out = fn()
    u1 = _usage()
    print(
        f"  {label:28s} {time.perf_counter() - start:6.3f} s  (user {u1[0] - u0[0]:.3f}, "
        f"sys {u1[1] - u0[1]:.3f}, minor faults {u1[2] - u0[2]})",
        flush=True,
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--block", type=int, default=50_000, help="rows of the first block (the first job)")
    ap.add_argument("--dir", default="/tmp/medcheck-bench")
    a = ap.parse_args()
    from benchmarks.bench_audit import generate

    meds, pats = generate(a.rows, Path(a.dir))
    t_imports = time.perf_counter()
    from checker.audit.command import Rendering
    from checker.audit.evaluate import audit_rows, load_tables
    from checker.audit.output import CsvWriter
    from checker.audit.partition import batch_collection, read_patients
    from checker.audit.reading import iter_blocks
    from checker.audit.source import open_source

    print(f"start-up (this process alone; interpreter start not counted: {t_imports - T0:.3f} s before):")
    print(f"  {'imports':28s} {time.perf_counter() - t_imports:6.3f} s")
    patients, _ = _timed("patients file", lambda: read_patients(str(pats)))
    _timed("knowledge tables", load_tables)
    src = open_source(str(meds))
    per_line = os.path.getsize(meds) / max(1, a.rows)
    blocks = iter_blocks(src, int(a.block * per_line))
    block = _timed(f"first block ({a.block} rows)", lambda: next(iter(blocks)))
    finish = Rendering(CsvWriter(io.StringIO(), []))

    def job():
        finish(audit_rows(block.rows, block.bad, patients))

    with batch_collection():
        gc.freeze()
        for n in range(1, 4):
            print(f"worker {n} (forked from the parent as the audit forks its workers):", flush=True)
            pid = os.fork()
            if pid == 0:
                _timed("first block, cold", job)
                _timed("same block, warm", job)
                sys.stdout.flush()
                os._exit(0)
            os.waitpid(pid, 0)
        print("in the parent itself (no fork):", flush=True)
        _timed("first block, cold", job)
        _timed("same block, warm", job)


if __name__ == "__main__":
    main()
