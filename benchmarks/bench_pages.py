"""The regimen page's server time: `POST /` with 10 orders as typed, through the Flask app.

    python3 benchmarks/bench_pages.py [--calls 300]

Times the whole request inside the process (Flask's test client: form parsing, CSRF check,
splitting the lines against the formulary, the check, and rendering the page), so the figure
is server time without the network. Each call is a different patient (age changes), so no
cache answers it. Goal: median under 50 ms.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ORDERS = "\n".join(
    [
        "Percocet 5/325 1-2 tabs PO q4-6h PRN pain",
        "zoledronic acid 4 mg IV q4 weeks",
        "Tylenol 1 g PO q6h PRN pain",
        "ketorolac 15 mg IV q6h",
        "gabapentin 300 mg PO TID",
        "oxycodone 10 mg PO q4h PRN pain",
        "dexamethasone 4 mg PO daily",
        "sertraline 50 mg PO daily",
        "vitamin D3 1000 IU PO daily",
        "calcium citrate 500 mg PO BID",
    ]
)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    from checker.http import create_app

    client = create_app({"REPORT_CACHE_MB": 0}).test_client()
    page = client.get("/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    form = {
        "csrf_token": token, "medications": ORDERS, "weight_kg": "52", "sex": "female",
        "serum_creatinine": "1.6 mg/dL", "hepatic_impairment": "none", "qtc_ms": "462",
        "serum_calcium": "2.05 mmol/L", "platelets": "140 10^9/L", "opioid_tolerant": "no",
        "dental_exam_done": "no", "pregnant": "no", "conditions": ["bone_metastases", "gi_bleed_history"],
    }  # fmt: skip
    for _ in range(5):  # warm: first template compile, first rule imports
        assert client.post("/", data={**form, "age_years": "70"}).status_code == 200
    times = []
    for i in range(args.calls):
        data = {**form, "age_years": str(40 + i % 60)}
        start = time.perf_counter()
        response = client.post("/", data=data)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200 and b"How each line was read" in response.data
    times.sort()
    p95 = times[int(len(times) * 0.95) - 1]
    print(f"POST / with 10 orders: median {statistics.median(times):.1f} ms, p95 {p95:.1f} ms, "
          f"min {times[0]:.1f} ms over {len(times)} calls (goal: median < 50 ms)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
