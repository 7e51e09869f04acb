"""Every order's dose is either judged against a dose-limit row or reported as not checked.

Before `rules/coverage.py`, dexamethasone 400 mg every 4 hours, ondansetron 80 mg by mouth and
morphine by vein came back with nothing to say about the dose. Generated from the formulary: for
each drug and each of its labelled routes, the report says "not checked" exactly when no limit
row names that route.
"""

from __future__ import annotations

import pytest

from checker import check
from formulary import load
from rules.coverage import limit_routes

F = load()
CODE = "monitoring.dose_unchecked"


def _findings(*meds, patient=None):
    report = check({"patient": patient or {"age_years": 60, "weight_kg": 70}, "medications": list(meds)})
    return [f for f in report.to_dict()["findings"] if f["code"] == CODE]


def test_a_drug_with_no_limits_says_its_dose_was_not_checked():
    med = {"drug": "dexamethasone", "dose": 400, "unit": "mg", "route": "oral", "frequency": "q4h"}
    (f,) = _findings(med)
    assert f["severity"] == "info"  # issue 16: a recognised drug with nothing to check raises no warning
    assert "400 mg" in f["message"] and "not checked" in f["message"]
    assert f["medications"] == [0] and f["drugs"] == ["dexamethasone"]


def test_a_route_no_limit_is_written_for_is_a_minor_finding():
    (oral,) = _findings({"drug": "ondansetron", "dose": 80, "unit": "mg", "route": "po", "frequency": "q8h"})
    assert oral["severity"] == "minor"
    assert "iv route only" in oral["message"] and "80 mg" in oral["message"]
    (iv,) = _findings({"drug": "morphine", "dose": 4, "unit": "mg", "route": "IV", "frequency": "q4h"})
    assert iv["severity"] == "minor" and iv["evidence"]["limit_routes"] == ["oral"]


def test_a_judged_dose_is_not_reported_as_unchecked():
    assert not _findings({"drug": "Tylenol", "sig": "1 g PO q6h PRN pain"})
    assert not _findings({"drug": "Percocet 5/325", "sig": "1-2 tabs po q4h prn"})  # both ingredients
    assert not _findings({"drug": "ondansetron", "dose": 8, "unit": "mg", "route": "iv", "frequency": "q8h"})


def test_each_unchecked_ingredient_of_a_product_is_named():
    meds = [{"drug": "metoprolol", "dose": 5000, "unit": "mg", "route": "oral", "frequency": "bid"},
            {"drug": "warfarin"}]  # fmt: skip
    found = _findings(*meds)
    assert [f["medications"] for f in found] == [[0], [1]]
    assert "5 g" in found[0]["message"]


def _cases():
    for drug in sorted(F.drugs.values(), key=lambda d: d.id):
        if drug.kind != "drug" or drug.reference_only:
            continue
        for route in drug.routes:
            yield pytest.param(drug.id, route, route not in limit_routes(drug), id=f"{drug.id}-{route}")


@pytest.mark.parametrize(("drug", "route", "unchecked"), list(_cases()))
def test_unchecked_exactly_when_no_limit_row_names_the_route(drug, route, unchecked):
    med = {"drug": drug, "route": route, "sig": "1 dose daily"}
    assert bool(_findings(med)) is unchecked
