"""Conditions as order entry sends them (a problem list), not only the patient fields the rules
read: a condition the checker understands must change the findings or be reported as unused,
never be accepted and then ignored."""

from __future__ import annotations

import pytest

from checker import check
from formulary import load as load_formulary
from rules.context import PREGNANCY, conditions_read
from rules.knowledge import knowledge

IBUPROFEN = {"drug": "ibuprofen", "sig": "400 mg PO tid"}
ZOLEDRONIC = {"drug": "zoledronic acid", "sig": "4 mg IV every 4 weeks"}


def codes(patient: dict, *meds: dict) -> dict[str, str]:
    report = check({"patient": patient, "medications": list(meds)}).to_dict()
    return {f["code"]: f["severity"] for f in report["findings"]}


@pytest.mark.parametrize("written", ["pregnancy", "Pregnant"])
def test_pregnancy_on_the_problem_list_raises_the_pregnancy_cautions(written: str) -> None:
    found = codes({"conditions": [written]}, IBUPROFEN, ZOLEDRONIC)
    assert found["condition.nsaid_pregnancy"] == "major"
    assert found["condition.zoledronic_acid_pregnancy"] == "contraindicated"
    assert "input.condition_unused" not in found


def test_the_pregnant_field_wins_over_a_stale_problem_list() -> None:
    found = codes({"pregnant": False, "conditions": ["pregnancy"]}, IBUPROFEN, ZOLEDRONIC)
    assert "condition.nsaid_pregnancy" not in found
    assert "condition.zoledronic_acid_pregnancy" not in found


def test_liver_disease_without_a_grade_asks_for_it_before_hepatic_limits() -> None:
    meds = ({"drug": "acetaminophen", "sig": "1 g PO q6h"}, {"drug": "tramadol", "sig": "50 mg PO q6h"})
    report = check({"patient": {"conditions": ["cirrhosis"]}, "medications": list(meds)}).to_dict()
    [f] = [f for f in report["findings"] if f["code"] == "monitoring.hepatic_grade_with_liver_disease"]
    assert f["severity"] == "moderate"
    assert f["medications"] == [0, 1]
    assert "Acetaminophen" in f["message"] and "Tramadol" in f["message"]
    graded = codes({"conditions": ["cirrhosis"], "hepatic_impairment": "severe"}, *meds)
    assert "monitoring.hepatic_grade_with_liver_disease" not in graded
    assert graded["dose.interval_min.hepatic"] == "major"  # tramadol 50 mg q12h in severe impairment
    assert "monitoring.hepatic_grade_with_liver_disease" not in codes({}, *meds)


@pytest.mark.parametrize("written", ["CKD", "chronic kidney disease stage 3"])
def test_a_condition_no_rule_reads_is_reported_not_passed_in_silence(written: str) -> None:
    report = check({"patient": {"conditions": [written]}, "medications": [IBUPROFEN]}).to_dict()
    [f] = [f for f in report["findings"] if f["code"] == "input.condition_unused"]
    assert f["severity"] == "info"
    assert repr(written) in f["message"]


def test_every_understood_condition_is_read_by_a_rule_or_reported_unused() -> None:
    f = load_formulary()
    read = conditions_read(f, knowledge())
    for condition in sorted(set(f.conditions.values())):
        found = codes({"conditions": [condition]}, IBUPROFEN)
        assert ("input.condition_unused" in found) is (condition not in read), condition
        assert "input.condition_unknown" not in found, condition
    assert {"heart_failure", "hepatic_disease", PREGNANCY} <= read


def test_the_liver_disease_check_covers_every_drug_with_a_hepatic_band() -> None:
    """A new hepatic dose row or caution must come with its drug in the check, or a patient with
    'cirrhosis' and no Child-Pugh class would pass it silently."""
    f, k = load_formulary(), knowledge()
    [rc] = [c for c in k.checks if c.id == "hepatic_grade_with_liver_disease"]
    covered = {s.id for s in rc.drugs if s.kind == "drug"}
    banded = {d.id for d in f.drugs.values() if any(lim.when.hepatic for lim in d.limits)}
    for c in k.cautions:
        if c.when.hepatic:
            banded |= {s.id for s in c.drugs if s.kind == "drug"}
            assert all(s.kind == "drug" for s in c.drugs), f"{c.id}: name its drugs in the check"
    assert banded - covered == set()


def test_the_docs_name_the_conditions_no_rule_reads() -> None:
    from pathlib import Path

    f = load_formulary()
    unused = set(f.conditions.values()) - conditions_read(f, knowledge())
    text = " ".join((Path(__file__).parent.parent / "docs" / "regimen.md").read_text("utf-8").split())
    said = text.split("read by no rule of the knowledge release (today ", 1)[1].split(":", 1)[0]
    assert {c.strip(" `") for c in said.split(",")} == unused


OXYCODONE = {"drug": "oxycodone", "sig": "5 mg PO q4h PRN pain"}


@pytest.mark.parametrize(
    ("written", "drug"),
    [("long QT syndrome", "citalopram"), ("QTc prolongation", "ondansetron"), ("LQTS", "citalopram")],
)
def test_long_qt_on_the_problem_list_raises_the_drug_s_qt_caution(written: str, drug: str) -> None:
    found = codes({"conditions": [written]}, {"drug": drug, "sig": "8 mg PO daily"})
    assert found[f"condition.{drug}_long_qt"] == "major"
    assert "input.condition_unused" not in found
    assert f"condition.{drug}_long_qt" not in codes({}, {"drug": drug, "sig": "8 mg PO daily"})


def test_falls_history_in_an_older_adult_flags_each_cns_active_drug_in_one_finding() -> None:
    meds = [
        OXYCODONE,
        {"drug": "gabapentin", "sig": "300 mg PO tid"},
        {"drug": "lorazepam", "sig": "0.5 mg PO qhs"},
        {"drug": "Tylenol", "sig": "1 g PO q6h"},
    ]
    report = check(
        {"patient": {"age_years": 81, "conditions": ["history of falls"]}, "medications": meds}
    ).to_dict()
    [f] = [f for f in report["findings"] if f["code"] == "condition.falls_history_cns_active"]
    assert f["severity"] == "moderate"
    assert f["medications"] == [0, 1, 2]  # not the acetaminophen
    assert "age 81" in f["message"]
    assert "condition.falls_history_cns_active" not in codes(
        {"age_years": 60, "conditions": ["falls"]}, OXYCODONE
    )


def test_delirium_in_an_older_adult_flags_systemic_steroids_opioids_and_h2_blockers() -> None:
    meds = [
        OXYCODONE,
        {"drug": "dexamethasone", "sig": "4 mg PO bid"},
        {"drug": "famotidine", "sig": "20 mg PO bid"},
        {"drug": "hydrocortisone cream 1%", "sig": "apply topically bid"},
    ]
    report = check(
        {"patient": {"age_years": 78, "conditions": ["acute confusional state"]}, "medications": meds}
    )
    found = {f.code: f for f in report.findings}
    assert found["condition.delirium_deliriogenic"].medications == (0, 2)
    assert found["condition.delirium_corticosteroid"].medications == (1,)  # the cream is not systemic


@pytest.mark.parametrize("condition", ["falls", "delirium"])
def test_falls_or_delirium_without_an_age_asks_for_it_rather_than_passing(condition: str) -> None:
    found = codes({"conditions": [condition]}, OXYCODONE)
    assert found["monitoring.age_with_falls_or_delirium"] == "moderate"
    assert "monitoring.age_with_falls_or_delirium" not in codes(
        {"conditions": [condition], "age_years": 70}, OXYCODONE
    )
    assert "monitoring.age_with_falls_or_delirium" not in codes({}, OXYCODONE)
