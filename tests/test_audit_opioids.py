"""Opioid-load runs are shared, in CSV mode, by patients whose opioid orders give the same MME total
(and drug ids, uncounted orders and cancer): each must still get `check()`'s own finding, however
its total was reached, whether it is exactly at a threshold or a rounding step away from it."""

from __future__ import annotations

import pytest

from checker.audit import opioid_plan
from tests.test_audit_equivalence import actual, audit, expected


def opioid(drug: str, dose: object, unit: str = "mg", route: str = "oral", freq: str = "daily", **kw) -> dict:
    return {"drug": drug, "dose": dose, "unit": unit, "route": route, "frequency": freq, **kw}


APAP = {"drug": "acetaminophen", "dose": 500, "unit": "mg", "route": "oral", "frequency": "q6h"}

REGIMENS = [
    # 60 MME/day, reached five ways (one order, two orders, a patch, PRN at its most frequent use)
    [opioid("morphine", 60)],
    [opioid("morphine", 30, freq="bid")],
    [opioid("oxycodone", 10, freq="q6h")],
    [opioid("hydromorphone", 3, freq="q6h")],
    [opioid("morphine", 15, freq="bid"), opioid("oxycodone", 10, freq="bid")],
    [opioid("oxycodone", 10, freq="bid"), opioid("morphine", 15, freq="bid")],
    [opioid("fentanyl", 25, unit="ug/h", route="transdermal", freq="q72h")],
    [opioid("oxycodone", 5, freq="q6h", prn=True), opioid("morphine", 30)],
    # the same total with a non-opioid between, and with orders not counted (IV, SC, no dose)
    [opioid("morphine", 30), APAP, opioid("morphine", 30)],
    [opioid("morphine", 60), opioid("morphine", 10, route="iv")],
    [opioid("morphine", 10, route="iv"), opioid("morphine", 60)],
    [opioid("morphine", 60), opioid("oxycodone", 5, route="sc"), opioid("fentanyl", 50, route="iv")],
    [opioid("morphine", 60), opioid("oxycodone", "5-15", freq="q4h", prn=True)],
    [opioid("morphine", 60), {"drug": "oxycodone", "route": "oral"}],
    # at, just under and just over each threshold (50 and 90), rounding included
    [opioid("morphine", 50)],
    [opioid("tramadol", 250)],
    [opioid("morphine", 49.94)],
    [opioid("morphine", 49.95)],
    [opioid("morphine", 49.9)],
    [opioid("morphine", 49.5)],
    [opioid("morphine", 45, freq="bid")],
    [opioid("oxycodone", 30, freq="bid")],
    [opioid("morphine", 89.95)],
    [opioid("morphine", 89.94)],
    [opioid("morphine", 89.5)],
    [opioid("morphine", 40, freq="bid"), opioid("tramadol", 49.5)],
    [opioid("fentanyl", 37.5, unit="ug/h", route="transdermal", freq="q72h")],
    [opioid("fentanyl", 12, unit="ug/h", route="transdermal", freq="q72h"), opioid("oxycodone", 40)],
    # sums that differ in the last bit before rounding (0.1 + 0.2 + 0.3 vs 0.3 + 0.2 + 0.1)
    [opioid("tramadol", 0.5), opioid("tramadol", 1), opioid("tramadol", 1.5)],
    [opioid("tramadol", 1.5), opioid("tramadol", 1), opioid("tramadol", 0.5)],
    [opioid("tramadol", 3)],
    # nothing counted: the total is 0
    [opioid("morphine", 10, route="iv")],
    [opioid("morphine", 10, route="iv"), opioid("oxycodone", 5, route="sc")],
]
PEOPLE = [{}, {"conditions": ["bone_metastases"]}, {"conditions": ["heart_failure"]}]


@pytest.mark.parametrize("seed", [None, 7])
def test_colliding_totals_each_get_checks_finding(tmp_path, seed):
    check_regimens(tmp_path, seed)


def test_sets_of_drugs_over_several_words(tmp_path, monkeypatch):
    """The drug sets of the key are bit patterns; with more drugs than a word holds they span
    several words (here forced: 2 drugs a word)."""
    monkeypatch.setattr(opioid_plan, "_BITS", 2)
    check_regimens(tmp_path, 3)


def check_regimens(tmp_path, seed: int | None) -> None:
    pop = [(p, meds) for meds in REGIMENS for p in PEOPLE]
    res, order = audit(tmp_path, pop, seed)
    assert actual(res) == expected(pop, order)
    found = res.findings
    assert set(found["code"]) >= {"opioid_load.threshold", "opioid_load.total"}
    assert found["message"].str.contains("at or above 90 MME/day").any()
    assert found["message"].str.contains("do not apply to cancer-related pain").any()
    assert found["message"].str.contains(r"could not be converted").any()
