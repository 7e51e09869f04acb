"""In-process `check()` benchmark: start-up time and per-call latency for a 10-medication regimen.

    python3 benchmarks/bench_check.py [--calls 5000]

Start-up is measured in fresh interpreters (import + knowledge load + first check). Per-call
figures are medians over many calls after a warm-up, so they describe steady state.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

REGIMEN = {
    "patient": {
        "id": "bench", "age_years": 71, "weight_kg": 62, "sex": "female", "serum_creatinine": "1.3 mg/dL",
        "hepatic_impairment": "none", "qtc_ms": 448, "serum_calcium": "2.3 mmol/L",
        "platelets": "140 10^9/L", "anc": "2.1 10^9/L", "hemoglobin": "11.2 g/dL", "opioid_tolerant": True,
        "dental_exam_done": True, "conditions": ["bone_metastases", "diabetes"],
    },
    "medications": [
        {"drug": "OxyContin", "sig": "20 mg every 12 h"},
        {"drug": "morphine", "sig": "5–15 mg orally every 4 h PRN"},
        {"drug": "acetaminophen", "dose": 1, "unit": "g", "route": "oral", "frequency": "q6h"},
        {"drug": "Tylenol", "sig": "500 mg PO q6h PRN pain"},
        {"drug": "dexamethasone", "sig": "10 mg IV bolus then 4 mg IV/PO every 6 h"},
        {"drug": "gabapentin", "sig": "300 mg qHS → up to 1.2 g TID"},
        {"drug": "Xgeva", "dose": 120, "unit": "mg", "route": "sc", "frequency": "every 4 weeks"},
        {"drug": "calcium citrate", "dose": 600, "unit": "mg", "frequency": "bid"},
        {"drug": "vitamin D3", "dose": 2000, "unit": "IU", "frequency": "daily"},
        {"drug": "sertraline", "dose": 50, "unit": "mg", "frequency": "daily"},
    ],
}  # fmt: skip

# The same size with combination products, counts of tablets and codes, as hospitals send them.
PRODUCTS = {
    "patient": REGIMEN["patient"],
    "medications": [
        {"drug": "Norco 10/325", "sig": "1-2 tabs po q4h prn pain"},
        {"drug": "Percocet 5/325", "dose": 2, "unit": "tab", "frequency": "q6h"},
        {"drug": "Tylenol #3", "sig": "1 tab po q6h prn"},
        {"drug": "OxyContin 20 mg", "sig": "1 tab q12h"},
        {"drug": "Duragesic 25", "sig": "1 patch q72h"},
        {"rxcui": "857001", "dose": 1, "unit": "tab", "frequency": "q6h"},
        {"drug": "clonazepam", "dose": 0.5, "unit": "mg", "frequency": "bid"},
        {"drug": "senna-docusate", "sig": "2 tabs po qhs"},
        {"drug": "naproxen", "dose": 500, "unit": "mg", "frequency": "bid"},
        {"drug": "Tylenol", "sig": "650 mg po q6h"},
    ],
}

STARTUP = (
    "import time; t=time.perf_counter(); from checker import check;"
    " from benchmarks.bench_check import REGIMEN; check(REGIMEN); print(time.perf_counter()-t)"
)


def startup(runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", STARTUP], cwd=ROOT, capture_output=True, text=True, check=True
        )
        times.append(float(out.stdout.strip()))
    return statistics.median(times)


def distinct(i: int) -> dict:
    """The same regimen with a different patient and doses, so no input cache can help."""
    meds = [dict(m) for m in REGIMEN["medications"]]
    meds[2]["dose"] = 0.5 + (i % 997) / 1000
    meds[7]["dose"] = 500 + i % 991
    return {"patient": dict(REGIMEN["patient"], id=f"p{i}", age_years=40 + i % 50), "medications": meds}


def per_call(calls: int, fresh: bool) -> list[float]:
    from checker import check

    inputs = [distinct(i) if fresh else REGIMEN for i in range(calls + 200)]
    for r in inputs[:200]:
        check(r)
    samples = []
    for r in inputs[200:]:
        t = time.perf_counter()
        check(r)
        samples.append(time.perf_counter() - t)
    return samples


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=5000)
    args = ap.parse_args()
    from checker import check

    print(f"regimen: 10 medications with patient context, {len(check(REGIMEN).findings)} findings")
    for label, fresh in (("same regimen re-checked", False), ("a different regimen each call", True)):
        s = per_call(args.calls, fresh)
        med, p99 = statistics.median(s), sorted(s)[int(len(s) * 0.99)]
        print(f"check(), {label}: median {med * 1e3:.3f} ms, p99 {p99 * 1e3:.3f} ms, {1 / med:,.0f} calls/s")
    for _ in range(200):
        check(PRODUCTS)
    s = []
    for _ in range(args.calls):
        t = time.perf_counter()
        check(PRODUCTS)
        s.append(time.perf_counter() - t)
    print(
        f"check(), 10 medications with combination products ({len(check(PRODUCTS).findings)} findings): "
        f"median {statistics.median(s) * 1e3:.3f} ms"
    )
    from checker.engine import run
    from checker.schemas import load_regimen
    from rules.dose import DOSE

    regimen = load_regimen(REGIMEN)
    for label, rules in (("dose rules only", (DOSE,)), ("all rules", None)):
        for _ in range(200):
            run(regimen, rules=rules)
        s = []
        for _ in range(args.calls):
            t = time.perf_counter()
            run(regimen, rules=rules)
            s.append(time.perf_counter() - t)
        print(f"engine only (validated input), {label}: median {statistics.median(s) * 1e3:.3f} ms")
    print(f"start-up (import + knowledge load + first check, fresh interpreter): {startup():.3f} s")


if __name__ == "__main__":
    main()
