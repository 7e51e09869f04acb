"""Products as ordered: each curated product's count dose becomes its ingredient amounts, which
count toward daily limits, MME and interactions like any plain order. Generated from the data."""

from __future__ import annotations

import pytest

from checker import check
from formulary import load
from formulary.units import conversion_factor

F = load()
PRODUCTS = sorted(F.products.values(), key=lambda p: p.id)
UNIT_FORMS = (
    "tablet",
    "capsule",
    "patch",
    "suppository",
    "transmucosal",
    "sublingual",
    "film",
    "nasal spray",
)


def _report(*meds, patient=None):
    return check(
        {"patient": patient or {"age_years": 60, "weight_kg": 70}, "medications": list(meds)}
    ).to_dict()


def _codes(report, at_least=("contraindicated", "major", "moderate", "minor", "info")):
    return [f["code"] for f in report["findings"] if f["severity"] in at_least]


def _count_order(p):
    """Two of the product's dose units every 6 hours, by its id (as an order-entry system would)."""
    unit = "mL" if p.parts[0].per == "mL" else "tab" if p.form != "patch" else "patch"
    return {
        "drug": p.name if p.id.startswith("rxcui") else p.brands[0] if p.brands else p.name,
        "dose": 2,
        "unit": unit,
        "frequency": "q6h",
    }


@pytest.mark.parametrize("product", PRODUCTS, ids=lambda p: p.id)
def test_each_product_count_dose_becomes_its_ingredient_amounts(product):
    # The product is named with its strength so that brand families with several strengths resolve
    res = F.resolve(product.name)
    assert res is not None and res.product is not None, product.name
    assert {d.id for d in res.drugs} == set(product.drugs)
    unit = "mL" if product.parts[0].per == "mL" else "patch" if product.form == "patch" else "tab"
    report = _report({"drug": product.name, "dose": 2, "unit": unit, "frequency": "q6h"})
    [med] = report["medications"]
    got = {i["drug"]: i["amount"] for i in med["ingredients"]}
    assert set(got) == set(product.drugs)
    for part in product.parts:
        amount = got[part.drug]
        assert amount is not None, (product.id, part.drug)
        value = float(amount.split()[0]) * conversion_factor(amount.split()[1], part.unit)
        expected = 2 * part.amount
        assert value == pytest.approx(expected, rel=1e-3), (product.id, part.drug, amount)
    assert med.get("release") == product.release


ACETAMINOPHEN = [
    p for p in PRODUCTS if "acetaminophen" in p.drugs and p.parts[0].per == "unit" and p.form != "suppository"
]


@pytest.mark.parametrize("product", ACETAMINOPHEN, ids=lambda p: p.id)
def test_acetaminophen_in_every_product_adds_to_plain_orders(product):
    # Two units q4h of the product plus acetaminophen 1 g q6h (4 g/day): always over 4 g/day
    report = _report(
        {"drug": product.name, "dose": 2, "unit": "tab", "frequency": "q4h", "route": "oral"},
        {"drug": "acetaminophen", "dose": 1, "unit": "g", "frequency": "q6h", "route": "oral"},
    )
    [f] = [f for f in report["findings"] if f["code"] == "dose.daily_max" and "acetaminophen" in f["drugs"]]
    assert f["medications"] == [0, 1]


def test_norco_range_sig_and_tylenol_total_both():
    report = _report(
        {"drug": "Norco 10/325", "sig": "1-2 tabs po q4-6h prn pain"},
        {"drug": "Tylenol", "sig": "650 mg po q6h"},
    )
    [f] = [f for f in report["findings"] if f["code"] == "dose.daily_max"]
    assert f["drugs"] == ["acetaminophen"] and f["medications"] == [0, 1]
    assert f["evidence"]["actual"] == "6.5 g/day"  # 2 × 325 mg × 6 + 650 mg × 4
    norco = report["medications"][0]
    assert [i["drug"] for i in norco["ingredients"]] == ["hydrocodone", "acetaminophen"]
    assert norco["ingredients"][1] == {"drug": "acetaminophen", "amount": "650 mg", "daily": "3.9 g/day"}


def test_combination_opioid_counts_in_mme_and_fires_benzodiazepine_rule():
    report = _report(
        {"drug": "Percocet 10/325", "sig": "2 tabs po q6h"}, {"drug": "clonazepam", "sig": "1 mg bid"}
    )
    codes = _codes(report)
    assert "interaction.opioid_benzodiazepine" in codes
    [load] = [f for f in report["findings"] if f["category"] == "opioid_load"]
    assert load["evidence"]["actual"] == "120 MME/day"  # 20 mg oxycodone × 4 × 1.5


@pytest.mark.parametrize(
    "name,mme",
    [
        ("Tylenol #3", "36"),
        ("Norco 5/325", "40"),
        ("Ultracet", "60"),
        ("Nucynta 50 mg", "160"),
        ("hydrocodone/ibuprofen 7.5/200", "60"),
    ],
)
def test_opioid_part_of_products_counts_in_mme(name, mme):
    report = _report({"drug": name, "sig": "2 tabs po q6h"})
    [load] = [f for f in report["findings"] if f["category"] == "opioid_load"]
    assert load["evidence"]["actual"] == f"{mme} MME/day"


def test_product_lines_are_not_an_interaction_or_duplicate_of_each_other():
    # hydrocodone + ibuprofen in one tablet, oxycodone + aspirin in one tablet: one order each
    for name in ("Vicoprofen", "Percodan", "Fioricet with Codeine"):
        report = _report({"drug": name, "dose": 1, "unit": "tab", "frequency": "q6h"})
        assert not [f for f in report["findings"] if f["category"] in ("interaction", "duplication")], name


def test_long_and_short_acting_products_of_one_ingredient_differ():
    both = _report(
        {"drug": "MS Contin 30 mg", "sig": "1 tab q12h"}, {"drug": "OxyContin 20 mg", "sig": "1 tab q12h"}
    )
    assert "duplication.long_acting_opioid" in _codes(both)
    ir = _report(
        {"drug": "Percocet 5/325", "sig": "1 tab q6h"}, {"drug": "MS Contin 30 mg", "sig": "1 tab q12h"}
    )
    assert "duplication.long_acting_opioid" not in _codes(ir)


def test_patch_count_is_a_rate():
    report = _report(
        {"drug": "Duragesic", "sig": "2 patches q72h"}, {"drug": "Butrans 10", "sig": "1 patch weekly"}
    )
    fentanyl, buprenorphine = report["medications"]
    assert fentanyl["ingredients"] == [
        {"drug": "fentanyl", "amount": None, "daily": None}
    ]  # no strength given
    assert any(
        f["code"] == "unit.dose_form" and f["severity"] == "moderate" and f["medications"] == [0]
        for f in report["findings"]
    )
    assert buprenorphine["ingredients"][0]["amount"] == "10 µg/h"
    patch = _report({"drug": "Duragesic 50", "sig": "1 patch q72h"})
    assert patch["medications"][0]["ingredients"][0]["amount"] == "50 µg/h"
    assert patch["medications"][0]["route"] == "transdermal"


def test_solution_in_ml():
    report = _report(
        {"drug": "oxycodone oral solution 5 mg/5 mL", "dose": 10, "unit": "mL", "frequency": "q4h"}
    )
    assert report["medications"][0]["ingredients"][0]["amount"] == "10 mg"


def test_count_of_a_combination_without_strength_is_not_checked_and_says_so():
    report = _report({"drug": "Norco", "sig": "2 tabs q6h"})
    [f] = [f for f in report["findings"] if f["code"] == "unit.dose_form"]
    assert (
        f["severity"] == "moderate"
        and "10/325" in f["message"].replace(" mg / ", "/")
        or "strength" in f["message"]
    )
    codes = _codes(_report({"drug": "Norco", "sig": "2 tabs q6h"}, {"drug": "lorazepam", "sig": "1 mg bid"}))
    assert "interaction.opioid_benzodiazepine" in codes  # the ingredients are known even without strength


def test_count_of_an_ingredient_with_dose_rules_and_no_strength_is_moderate():
    report = _report({"drug": "acetaminophen", "sig": "2 tabs q6h"})
    assert any(f["code"] == "unit.dose_form" and f["severity"] == "moderate" for f in report["findings"])
    strength_in_name = _report({"drug": "acetaminophen 500 mg tablet", "sig": "2 tabs po q4h"})
    assert "dose.daily_max" in _codes(strength_in_name)  # 6 g/day


def test_mass_dose_on_a_combination_is_not_checked_and_says_so():
    report = _report({"drug": "Percocet 5/325", "dose": 10, "unit": "mg", "frequency": "q6h"})
    [f] = [f for f in report["findings"] if f["code"] == "input.product_dose"]
    assert f["severity"] == "moderate"


def test_a_combination_with_one_unknown_ingredient_still_checks_the_known_one():
    report = _report(
        {"drug": "oxycodone/zorblaxin 5/10 mg tablet", "dose": 2, "unit": "tab", "frequency": "q6h"},
        {"drug": "lorazepam", "dose": 1, "unit": "mg", "frequency": "bid"},
    )
    codes = _codes(report)
    assert "interaction.opioid_benzodiazepine" in codes
    [f] = [f for f in report["findings"] if f["code"] == "unrecognized.ingredient"]
    assert f["severity"] == "minor" and "zorblaxin" in f["message"]


def test_one_line_per_medication_path_flags_the_other_ingredients():
    from checker.model import Medication, Patient
    from checker.orders import build_order

    o = build_order(
        Medication(index=0, drug="Percocet 5/325", dose=2, unit="tab", frequency="q6h"), Patient(), F
    )
    assert o.drug_id == "oxycodone" and o.dose == 10
    assert [p.code for p in o.problems] == ["input.combination_partial"]


def test_curated_products_carry_the_rxnorm_codes_of_the_tables():
    from formulary.resolve import product_codes

    codes = product_codes(F)
    assert ("857001", "SBD") in {(c.code, c.tty) for c in codes["hydrocodone_acetaminophen_tablet_10_325"]}
    assert ("1049640", "SBD") in {(c.code, c.tty) for c in codes["oxycodone_acetaminophen_tablet_5_325"]}
    assert "261184" in {c.code for c in codes["fentanyl_patch_25"]}  # Duragesic 25
    for pid, found in codes.items():
        for c in found:
            assert c.source in F.sources and c.code in F.rxnorm
            by_code = F.resolve(None, rxcui=c.code)
            assert {d.id for d in by_code.drugs} == set(F.products[pid].drugs), (pid, c.code)


def test_a_combination_product_can_be_the_third_drug_of_a_triple_rule():
    report = _report(
        {"drug": "lisinopril 20 mg / hydrochlorothiazide 25 mg oral tablet", "sig": "1 tab daily"},
        {"drug": "ibuprofen", "sig": "400 mg tid"},
    )
    assert "interaction.nsaid_ace_inhibitor_diuretic" in _codes(report)
