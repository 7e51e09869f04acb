"""What the checker does when an order leaves out its dose or frequency (2026-12-07): a product
name with its strength and no dose is checked as one unit per dose and says so; a dose or frequency
missing on a drug with dose limits is a minor finding, not info (its limits were not checked, or
the daily total counts one dose)."""

from __future__ import annotations

import pytest

from checker import check


def report(*meds: dict, **patient) -> dict:
    return check({"patient": {"age_years": 60, **patient}, "medications": list(meds)}).to_dict()


def codes(r: dict) -> dict[str, dict]:
    return {f["code"]: f for f in r["findings"]}


@pytest.mark.parametrize(
    ("drug", "ingredient", "amount"),
    [
        ("acetaminophen 500 mg tablet", "acetaminophen", "500 mg"),
        ("oxycodone hydrochloride 5 MG Oral Tablet", "oxycodone", "5 mg"),
        ("Percocet 5/325", "acetaminophen", "325 mg"),
    ],
)
def test_a_named_strength_without_a_dose_is_one_unit_per_dose(drug, ingredient, amount):
    r = report({"drug": drug, "frequency": "q6h"})
    [med] = r["medications"]
    assert {"drug": ingredient, "amount": amount} in [
        {"drug": i["drug"], "amount": i["amount"]} for i in med["ingredients"]
    ]
    note = codes(r)["input.count_assumed"]
    assert note["severity"] == "minor" and "one tablet per dose" in note["message"]


def test_the_one_unit_reading_still_catches_a_too_frequent_order():
    r = codes(report({"drug": "acetaminophen 500 mg tablet", "frequency": "q2h"}))
    assert r["dose.daily_max"]["evidence"]["actual"] == "6 g/day"


def test_a_liquid_or_a_product_without_strength_is_not_given_a_dose():
    r = codes(report({"drug": "Percocet", "frequency": "q6h"}))
    assert "input.count_assumed" not in r
    assert r["input.dose_missing"]["severity"] == "minor"
    assert r["opioid_load.incomplete"]["severity"] == "moderate"
    liquid = codes(report({"drug": "acetaminophen oral solution", "frequency": "q6h"}))
    assert "input.count_assumed" not in liquid and "input.dose_missing" in liquid


def test_missing_dose_or_frequency_on_a_drug_with_limits_is_more_than_info():
    assert codes(report({"drug": "acetaminophen"}))["input.dose_missing"]["severity"] == "minor"
    r = codes(report({"drug": "acetaminophen", "dose": 1, "unit": "g"}))
    assert r["input.frequency_missing"]["severity"] == "minor"


@pytest.mark.parametrize(
    ("drug", "dose", "unit", "amounts"),
    [
        ("Norco 5/325", 2, "tab(s)", ["10 mg", "650 mg"]),
        ("Norco 5/325", 2, "Tablet(s)", ["10 mg", "650 mg"]),
        ("acetaminophen", 1000, "mg/dose", ["1 g"]),
        ("acetaminophen", 1000, "MG PER DOSE", ["1 g"]),
        ("acetaminophen", 1000, "mgs", ["1 g"]),
    ],
)
def test_units_as_order_entry_writes_them(drug, dose, unit, amounts):
    """"tablet(s)" and "mg/dose" made the unit unreadable: the dose went unchecked (a major
    `unit.wrong_kind` or a moderate `input.product_dose`)."""
    r = report({"drug": drug, "dose": dose, "unit": unit, "route": "oral", "frequency": "q6h"})
    assert [i["amount"] for i in r["medications"][0]["ingredients"]] == amounts
    assert not [f for f in r["findings"] if f["category"] in ("unit", "input")]
