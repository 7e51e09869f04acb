"""The audit's per-patient work split over forked workers gives the very same findings and reports."""

from __future__ import annotations

import multiprocessing as mp
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from checker.audit import evaluate
from checker.audit.normalize import load_patients
from checker.audit.partition import read_all
from checker.audit.reading import open_source

GEN = Path(__file__).resolve().parent.parent / "benchmarks" / "gen_meds.py"

pytestmark = [
    pytest.mark.skipif("fork" not in mp.get_all_start_methods(), reason="needs fork"),
    pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning"),
]


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    folder = tmp_path_factory.mktemp("workers")
    meds, pats = folder / "meds.csv", folder / "patients.csv"
    subprocess.run([sys.executable, str(GEN), "1500", str(meds), "--patients", str(pats)], check=True)
    src = open_source(str(pats), required=("patient_id",))
    try:
        prow, _ = read_all(src)
    finally:
        src.close()
    src = open_source(str(meds))
    try:
        rows, bad = read_all(src)
    finally:
        src.close()
    return rows, bad, load_patients(prow)


@pytest.mark.parametrize("workers", [2, 3])
def test_workers_same_findings(batch, monkeypatch, workers):
    rows, bad, patients = batch
    one = evaluate.audit_rows(rows, bad, patients, want_reports=True)
    monkeypatch.setattr(evaluate, "MIN_PATIENTS_PER_WORKER", 20)
    many = evaluate.audit_rows(rows, bad, patients, want_reports=True, workers=workers)
    lite = evaluate.audit_rows(rows, bad, patients, workers=workers)
    cols = [c for c in one.findings.columns if c != "obj"]
    assert len(one.findings) > 100
    pd.testing.assert_frame_equal(one.findings[cols], many.findings[cols])
    pd.testing.assert_frame_equal(one.findings[cols], lite.findings[cols])
    assert one.reports == many.reports
    counts = [(r.rows_read, r.rows_rejected, r.patients) for r in (one, many)]
    assert counts[0] == counts[1]
