"""The engine's cost per patient in an audit-like stream: where the audit's time goes.

    python3 benchmarks/bench_engine.py [--rows 1000000] [--warm 100000] [--measure 30000]

Loads the benchmark's patients (gen_meds.py, as bench_audit.py makes them) into validated regimens
through the public loader, runs `warm` of them through `checker.engine.run` so the memo is at
steady state, then prints the CPU time per patient of the next `measure` in blocks of 10,000, and
how many evaluations (memo misses) each evaluator made per 10,000 patients. Rows the loader refuses
are left out: this measures the engine, not the audit.
"""

from __future__ import annotations

import argparse
import collections
import csv
import dataclasses
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_audit import generate  # noqa: E402
from checker.engine import run  # noqa: E402
from checker.errors import InvalidRegimen  # noqa: E402
from checker.model import Regimen  # noqa: E402
from checker.schemas import load_regimen  # noqa: E402
from rules import evaluators  # noqa: E402

BLOCK = 10_000


def regimens(meds: Path, pats: Path, limit: int) -> list[Regimen]:
    with open(pats, newline="", encoding="utf-8") as fh:
        patients = {r.pop("patient_id"): {k: v for k, v in r.items() if v} for r in csv.DictReader(fh)}
    grouped: dict[str, list[dict[str, str]]] = {}
    with open(meds, newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            pid = r.pop("patient_id")
            r.pop("ward", None)
            if pid and None not in r and None not in r.values():
                grouped.setdefault(pid, []).append({k: v for k, v in r.items() if v})
    out, valid = [], {}  # distinct rows are few: each is validated once
    for pid, rows in grouped.items():
        p = dict(patients.get(pid, {}))
        if "conditions" in p:
            p["conditions"] = p["conditions"].split(";")
        good = []
        for row in rows:
            key = tuple(row.items())
            if key not in valid:
                try:
                    load_regimen({"medications": [row]})
                    valid[key] = True
                except InvalidRegimen:
                    valid[key] = False
            if valid[key]:
                good.append(row)
        out.append(load_regimen({"patient": p, "medications": good}))
        if len(out) >= limit:
            break
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--warm", type=int, default=100_000)
    ap.add_argument("--measure", type=int, default=30_000)
    ap.add_argument("--dir", default="/tmp/medcheck-bench")
    a = ap.parse_args()
    folder = Path(a.dir)
    folder.mkdir(parents=True, exist_ok=True)
    regs = regimens(*generate(a.rows, folder), a.warm + a.measure)
    misses: collections.Counter[str] = collections.Counter()

    def counted(ev):  # the same evaluator, counting its evaluations (its memo table is its own)
        def evaluate(inp, _ev=ev):
            misses[_ev.name] += 1
            return _ev.evaluate(inp)

        return dataclasses.replace(ev, evaluate=evaluate)

    rules = tuple(counted(ev) for ev in evaluators())
    for r in regs[: a.warm]:
        run(r, rules=rules)
    misses.clear()
    blocks = []
    for start in range(a.warm, len(regs), BLOCK):
        part = regs[start : start + BLOCK]
        t = time.process_time()
        for r in part:
            run(r, rules=rules)
        blocks.append((time.process_time() - t) / len(part) * 1e3)
    done = len(regs) - a.warm
    print(
        f"{len(regs):,} patients, {a.warm:,} to warm the memo; CPU ms per patient in blocks of {BLOCK:,}: "
        + ", ".join(f"{b:.3f}" for b in blocks)
        + f" (median {statistics.median(blocks):.3f})"
    )
    print(
        "evaluations per 10,000 patients: "
        + ", ".join(f"{k} {v * BLOCK / done:,.0f}" for k, v in misses.most_common())
    )


if __name__ == "__main__":
    main()
