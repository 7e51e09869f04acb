"""Cautions whose sources speak of a whole class cover every member the checker knows, not only
the seed article's drugs: naproxen with a GI bleed, meloxicam at CrCl 20, naproxen at 70."""

from __future__ import annotations

import pytest

from checker import check


def codes(patient: dict, drug: str) -> dict[str, str]:
    report = check({"patient": patient, "medications": [{"drug": drug, "sig": "200 mg po bid"}]})
    return {f.code: f.severity for f in report.findings}


@pytest.mark.parametrize("drug", ["naproxen", "meloxicam", "indomethacin", "celecoxib"])
def test_nsaid_with_a_history_of_gi_bleeding_or_low_crcl(drug: str) -> None:
    assert codes({"conditions": ["GI bleed"]}, drug)["condition.nsaid_gi_bleed"] == "major"
    assert codes({"crcl_ml_min": 20}, drug)["renal.nsaid_crcl_below_30"] == "major"


@pytest.mark.parametrize(("drug", "flagged"), [("naproxen", True), ("meloxicam", True), ("celecoxib", False)])
def test_the_older_adult_nsaid_caution_leaves_out_cox2_inhibitors(drug: str, flagged: bool) -> None:
    """Beers' row is for non-COX-selective NSAIDs: celecoxib is left out by the row's `except_drugs`."""
    assert ("age.nsaid_older_adult" in codes({"age_years": 70}, drug)) is flagged


def test_a_topical_nsaid_is_not_a_systemic_one() -> None:
    report = check({"patient": {"age_years": 70, "crcl_ml_min": 20},
                    "medications": [{"drug": "diclofenac 1% gel", "sig": "2 g qid"}]})  # fmt: skip
    assert not {"age.nsaid_older_adult", "renal.nsaid_crcl_below_30"} & {f.code for f in report.findings}


def test_ketorolac_gets_its_own_rows_not_the_class_rows_beside_them() -> None:
    """Ketorolac's label rows (contraindicated) replace the class rows for the same patients: one
    finding each, not a contraindicated and a major saying the same thing."""
    found = codes({"conditions": ["GI bleed"], "age_years": 71, "crcl_ml_min": 20}, "ketorolac")
    assert found["condition.ketorolac_gi_bleed"] == "contraindicated"
    assert found["renal.ketorolac_advanced_renal"] == "contraindicated"
    assert "age.ketorolac_older_adult" in found
    assert not {"condition.nsaid_gi_bleed", "renal.nsaid_crcl_below_30", "age.nsaid_older_adult"} & set(found)


@pytest.mark.parametrize(
    ("drug", "sig", "flagged"),
    [
        ("prednisolone", "30 mg po daily", True),
        ("methylprednisolone", "125 mg IV q6h", True),
        ("triamcinolone", "40 mg IM once", True),
        ("budesonide inhaler", "2 puffs bid", False),  # inhaled: not a systemic dose
        ("hydrocortisone cream", "apply bid", False),
    ],
)
def test_every_systemic_corticosteroid_raises_glucose_in_diabetes(drug: str, sig: str, flagged: bool) -> None:
    report = check({"patient": {"conditions": ["diabetes"]}, "medications": [{"drug": drug, "sig": sig}]})
    assert ("condition.dexamethasone_diabetes" in {f.code for f in report.findings}) is flagged


@pytest.mark.parametrize("sig", ["500 mg bid", "500 mg po bid"])
def test_a_class_member_ordered_without_a_route_is_not_let_through_a_route_limited_caution(sig: str) -> None:
    """'naproxen 500 mg bid' (no route; naproxen has no labelled routes in the vocabulary) passed
    the GI-bleed caution, which is written for oral and IV NSAIDs: an unknown route now counts."""
    report = check(
        {"patient": {"conditions": ["GI bleed"]}, "medications": [{"drug": "naproxen", "sig": sig}]}
    )
    assert {f.code: f.severity for f in report.findings}["condition.nsaid_gi_bleed"] == "major"


@pytest.mark.parametrize(
    ("drug", "sig", "code"),
    [
        ("zolpidem", "10 mg qhs", "age.z_drug_older_adult"),
        ("Ambien", "5 mg po qhs", "age.z_drug_older_adult"),
        ("diphenhydramine", "25 mg qhs prn sleep", "age.first_generation_antihistamine_older_adult"),
        ("hydroxyzine", "25 mg po q6h prn", "age.first_generation_antihistamine_older_adult"),
        ("promethazine", "12.5 mg po q6h prn", "age.first_generation_antihistamine_older_adult"),
    ],
)
def test_beers_hypnotics_and_first_generation_antihistamines_at_65_or_older(
    drug: str, sig: str, code: str
) -> None:
    meds = [{"drug": drug, "sig": sig}]
    found = {f.code: f.severity for f in check({"patient": {"age_years": 84}, "medications": meds}).findings}
    assert found[code] == "moderate"
    assert code not in {f.code for f in check({"patient": {"age_years": 50}, "medications": meds}).findings}


@pytest.mark.parametrize(
    ("drug", "sig"), [("cetirizine", "10 mg daily"), ("Benadryl cream", "apply topically tid")]
)
def test_second_generation_and_topical_antihistamines_are_not_beers_rows(drug: str, sig: str) -> None:
    report = check({"patient": {"age_years": 84}, "medications": [{"drug": drug, "sig": sig}]})
    assert "age.first_generation_antihistamine_older_adult" not in {f.code for f in report.findings}
