"""The design card's named cautions, end to end through `check()`."""

from __future__ import annotations

import pytest

from checker import InvalidRegimen, check
from tests.conftest import codes, find


def test_acetaminophen_over_4g_across_two_orders_one_by_brand(run):
    report = run(
        {"drug": "acetaminophen", "dose": 1, "unit": "g", "route": "oral", "frequency": "q6h"},
        {"drug": "Tylenol", "sig": "1 g PO q6h PRN pain"},
    )
    [f] = find(report, "dose.daily_max")
    assert f["severity"] == "major"
    assert f["medications"] == [0, 1]
    assert f["evidence"]["actual"] == "8 g/day"
    assert f["evidence"]["limit"] == "4 g/day"
    assert f["source"]["label"]


def test_acetaminophen_exactly_4g_is_not_flagged(run):
    report = run({"drug": "paracetamol", "dose": 1000, "unit": "mg", "frequency": "q6h"})
    assert "dose.daily_max" not in codes(report)


def test_acetaminophen_single_order_over_4g(run):
    report = run({"drug": "APAP", "dose": 1, "unit": "g", "frequency": "q4h"})
    assert find(report, "dose.daily_max")[0]["evidence"]["actual"] == "6 g/day"


def test_ketorolac_beyond_5_days(run):
    report = run(
        {"drug": "ketorolac", "dose": 15, "unit": "mg", "route": "iv", "frequency": "q6h", "duration_days": 7}
    )
    [f] = find(report, "dose.duration_max")
    assert f["category"] == "duration" and f["severity"] == "major"
    assert f["evidence"] == {"actual": "7 days", "limit": "5 days"}


def test_ketorolac_sig_cap_of_5_days_is_fine(run):
    report = run({"drug": "Toradol", "sig": "15 mg IV q6 h (≤5 days)"})
    assert not [f for f in report["findings"] if f["severity"] in ("major", "contraindicated")]


def test_unit_of_wrong_kind_is_a_major_unit_finding(run):
    report = run({"drug": "radium-223", "dose": 3.85, "unit": "mg", "route": "iv"})
    [f] = find(report, "unit.wrong_kind")
    assert f["category"] == "unit" and f["severity"] == "major"
    assert f["drugs"] == ["radium_223"]


def test_unknown_drug_is_reported_not_dropped(run):
    report = run({"drug": "blorfinax", "dose": 5, "unit": "mg"})
    [f] = find(report, "unrecognized.drug")
    assert f["category"] == "unrecognized" and f["medications"] == [0]
    assert report["medications"][0] == {"index": 0, "input": "blorfinax", "drug": None}


def test_invalid_regimen_names_the_field():
    with pytest.raises(InvalidRegimen) as exc:
        check({"medications": [{"drug": "a"}, {"drug": "b"}, {"drug": "c", "dose": "lots"}]})
    assert "medications.2.dose" in exc.value.errors


def test_report_is_deterministic(run):
    meds = [
        {"drug": "Tylenol", "sig": "1 g PO q4h"},
        {"drug": "ibuprofen", "sig": "800 mg tid"},
        {"drug": "xyz"},
        {"drug": "ketorolac", "dose": 40, "unit": "mg", "route": "iv"},
    ]
    import json

    a = json.dumps(check({"medications": meds}).to_dict())
    b = json.dumps(check({"medications": meds}).to_dict())
    assert a == b


def test_contract_example_regimen():
    import json
    from pathlib import Path

    regimen = json.loads((Path(__file__).parent / "fixtures" / "regimen-contract.json").read_text())
    report = check(regimen).to_dict()
    assert report["highest_severity"] == "contraindicated"
    assert {
        "dose.daily_max",
        "dose.duration_max",
        "dose.course_max",
        "condition.ketorolac_gi_bleed",
    } <= codes(report)
    assert report["counts"]["major"] == 3
    # the fourth radium dose plan: 55 kBq/kg at 52 kg, every 4 weeks, no daily figure
    assert report["medications"][3]["dose"] == "2.86 MBq" and "daily_dose" not in report["medications"][3]
