"""The safety layer cancer does not switch off (issue 17): opioid-naive patients, implausible
doses, parenteral opioids in the MME total, and the companions of an opioid."""

from __future__ import annotations

import pytest

from tests.conftest import find

ADULT = {"age_years": 58, "weight_kg": 72, "sex": "male", "crcl_ml_min": 85, "hepatic_impairment": "none"}
CANCER = ["bone_metastases"]


def _loud(report: dict) -> list[str]:
    return [f"{f['severity']} {f['code']}" for f in report["findings"]
            if f["severity"] in ("contraindicated", "major", "moderate")]  # fmt: skip


# --- opioid-naive -------------------------------------------------------------------------------


@pytest.mark.parametrize("conditions", [[], CANCER], ids=["no cancer", "cancer"])
def test_hydromorphone_8mg_in_a_naive_patient_is_major_with_or_without_cancer(run, conditions):
    report = run({"drug": "hydromorphone", "dose": 8, "unit": "mg", "route": "oral", "frequency": "q4h"},
                 opioid_tolerant=False, conditions=conditions, **ADULT)  # fmt: skip
    [f] = find(report, "opioid_naive.start")
    assert f["severity"] == "major"
    assert f["evidence"]["limit"] == "4 mg" and f["evidence"]["actual"] == "8 mg"
    assert f["source"]["label"]


def test_a_labelled_starting_dose_in_a_naive_patient_raises_no_start_finding(run):
    report = run({"drug": "hydromorphone", "dose": 2, "unit": "mg", "route": "oral", "frequency": "q4h"},
                 opioid_tolerant=False, **ADULT)  # fmt: skip
    assert not find(report, "opioid_naive.start")


def test_a_little_above_the_start_is_moderate(run):
    report = run({"drug": "morphine", "dose": 45, "unit": "mg", "route": "oral", "frequency": "q4h"},
                 opioid_tolerant=False, **ADULT)  # fmt: skip
    assert find(report, "opioid_naive.start")[0]["severity"] == "moderate"


def test_opioid_tolerant_patient_gets_no_naive_findings(run):
    report = run({"drug": "hydromorphone", "dose": 8, "unit": "mg", "route": "oral", "frequency": "q4h"},
                 {"drug": "OxyContin", "dose": 40, "unit": "mg", "frequency": "q12h"},
                 opioid_tolerant=True, **ADULT)  # fmt: skip
    assert not [f for f in report["findings"] if f["code"].startswith(("opioid_naive", "monitoring.opioid_"))]


def test_unknown_tolerance_above_the_naive_start_asks_for_it(run):
    report = run({"drug": "hydromorphone", "dose": 8, "unit": "mg", "route": "oral", "frequency": "q4h"},
                 conditions=CANCER, **ADULT)  # fmt: skip
    [f] = find(report, "monitoring.opioid_naive_start.unknown")
    assert f["severity"] == "moderate" and f["category"] == "monitoring"
    assert f["evidence"]["missing"] == ["opioid tolerance"]


def test_long_acting_opioid_in_a_naive_cancer_patient_is_flagged(run):
    report = run({"drug": "OxyContin", "dose": 10, "unit": "mg", "frequency": "q12h"},
                 opioid_tolerant=False, conditions=CANCER, **ADULT)  # fmt: skip
    [f] = find(report, "opioid_naive.long_acting")
    assert f["severity"] == "moderate"
    assert "immediate-release" in f["recommendation"]
    assert f["source"]["quote"] and f["source"]["location"]  # the sentence and where it stands


def test_long_acting_opioid_with_unknown_tolerance_is_a_monitoring_prompt(run):
    report = run({"drug": "methadone", "dose": 2.5, "unit": "mg", "frequency": "q8h"}, **ADULT)
    [f] = find(report, "monitoring.opioid_tolerance_unknown")
    assert f["category"] == "monitoring" and f["severity"] == "minor"


def test_oxycontin_80mg_in_a_naive_patient_is_major(run):
    report = run({"drug": "OxyContin", "dose": 80, "unit": "mg", "frequency": "q12h"},
                 opioid_tolerant=False, conditions=CANCER, **ADULT)  # fmt: skip
    assert "major" in {f["severity"] for f in report["findings"] if f["category"] == "dose_single"}


def test_fentanyl_patch_in_a_naive_cancer_patient_stays_contraindicated(run):
    patch = {"drug": "fentanyl", "dose": 50, "unit": "ug/h", "route": "transdermal", "frequency": "q72h"}
    report = run(patch, opioid_tolerant=False, conditions=CANCER, **ADULT)  # fmt: skip
    assert find(report, "condition.fentanyl_patch_opioid_naive")[0]["severity"] == "contraindicated"
    assert not find(report, "opioid_naive.long_acting")  # one finding for one problem


def test_iv_fentanyl_is_not_treated_as_a_long_acting_product(run):
    report = run({"drug": "fentanyl", "dose": 50, "unit": "ug", "route": "iv", "frequency": "q1h"},
                 opioid_tolerant=False, **ADULT)  # fmt: skip
    assert not find(report, "opioid_naive.long_acting")


# --- implausible doses ------------------------------------------------------------------------


@pytest.mark.parametrize("conditions", [[], CANCER], ids=["no cancer", "cancer"])
def test_fentanyl_25_mg_per_hour_is_a_unit_error_whatever_the_conditions(run, conditions):
    patch = {"drug": "fentanyl", "dose": 25, "unit": "mg/h", "route": "transdermal", "frequency": "q72h"}
    report = run(patch, opioid_tolerant=True, conditions=conditions, **ADULT)  # fmt: skip
    [f] = find(report, "unit.implausible_dose")
    assert f["severity"] == "major" and f["category"] == "unit"
    assert f["rule"] == "unit.implausible_dose.fentanyl"


def test_morphine_decimal_error_is_caught_in_a_tolerant_cancer_patient(run):
    report = run({"drug": "morphine", "dose": 3000, "unit": "mg", "route": "oral", "frequency": "q4h"},
                 opioid_tolerant=True, conditions=CANCER, **ADULT)  # fmt: skip
    assert find(report, "unit.implausible_dose")[0]["severity"] == "major"


def test_high_but_real_palliative_doses_are_not_called_errors(run):
    report = run({"drug": "morphine", "dose": 200, "unit": "mg", "route": "oral", "frequency": "q12h"},
                 {"drug": "fentanyl", "dose": 300, "unit": "ug/h", "route": "td", "frequency": "q72h"},
                 opioid_tolerant=True, conditions=CANCER, **ADULT)  # fmt: skip
    assert not find(report, "unit.implausible_dose")


# --- parenteral opioids in MME ----------------------------------------------------------------


def test_iv_hydromorphone_infusion_counts_and_names_its_table(run):
    # 1 mg IV every hour = 24 mg/day IV hydromorphone x 20 = 480 MME/day
    report = run({"drug": "hydromorphone", "dose": 1, "unit": "mg", "route": "iv", "frequency": "q1h"},
                 opioid_tolerant=True, **ADULT)  # fmt: skip
    [f] = find(report, "opioid_load.threshold")
    assert f["severity"] == "moderate" and f["evidence"]["actual"] == "480 MME/day"  # 90 MME: moderate
    [part] = f["evidence"]["contributions"]
    assert "parenteral" in part["table"] and "NCCN" in part["table"]


def test_oral_contributions_name_the_cdc_table(run):
    report = run({"drug": "morphine", "dose": 10, "unit": "mg", "route": "oral", "frequency": "q4h"},
                 opioid_tolerant=True, **ADULT)  # fmt: skip
    [f] = find(report, "opioid_load.threshold")
    assert "CDC" in f["evidence"]["contributions"][0]["table"]


# --- companions -------------------------------------------------------------------------------


def test_opioid_without_a_bowel_regimen_is_a_minor_prompt(run):
    report = run({"drug": "morphine", "dose": 10, "unit": "mg", "route": "oral", "frequency": "q4h"},
                 opioid_tolerant=True, **ADULT)  # fmt: skip
    [f] = find(report, "monitoring.bowel_regimen_with_opioid")
    assert f["severity"] == "minor" and f["category"] == "monitoring"


@pytest.mark.parametrize("laxative", ["senna", "Senokot", "PEG 3350", "docusate", "bisacodyl", "lactulose"])
def test_any_laxative_satisfies_the_bowel_regimen(run, laxative):
    report = run({"drug": "morphine", "dose": 10, "unit": "mg", "route": "oral", "frequency": "q4h"},
                 {"drug": laxative, "dose": 1, "unit": "mg", "route": "oral", "frequency": "daily"},
                 opioid_tolerant=True, **ADULT)  # fmt: skip
    assert not find(report, "monitoring.bowel_regimen_with_opioid")


def test_naloxone_prompt_at_high_mme_even_with_cancer(run):
    report = run({"drug": "morphine", "dose": 30, "unit": "mg", "route": "oral", "frequency": "q4h"},
                 opioid_tolerant=True, conditions=CANCER, **ADULT)  # fmt: skip
    [f] = find(report, "monitoring.naloxone")
    assert f["severity"] == "minor" and "180 MME/day" in f["message"]


def test_naloxone_prompt_with_a_benzodiazepine_at_low_mme(run):
    report = run({"drug": "tramadol", "dose": 50, "unit": "mg", "route": "oral", "frequency": "bid"},
                 {"drug": "lorazepam", "dose": 1, "unit": "mg", "frequency": "qhs"}, **ADULT)  # fmt: skip
    [f] = find(report, "monitoring.naloxone")
    assert f["evidence"]["with_benzodiazepine"] is True


def test_naloxone_ordered_silences_the_prompt(run):
    report = run({"drug": "morphine", "dose": 30, "unit": "mg", "route": "oral", "frequency": "q4h"},
                 {"drug": "Narcan", "dose": 4, "unit": "mg", "route": "intranasal", "prn": True},
                 opioid_tolerant=True, **ADULT)  # fmt: skip
    assert not find(report, "monitoring.naloxone")


def test_low_dose_opioid_alone_needs_no_naloxone(run):
    report = run({"drug": "tramadol", "dose": 50, "unit": "mg", "route": "oral", "frequency": "bid"}, **ADULT)
    assert not find(report, "monitoring.naloxone")


def test_new_rules_are_listed_in_the_catalogue():
    from rules.catalogue import rules

    ids = {r["id"] for r in rules()}
    assert {"opioid_naive.start", "opioid_naive.long_acting", "monitoring.naloxone",
            "unit.implausible_dose.fentanyl", "monitoring.bowel_regimen_with_opioid"} <= ids  # fmt: skip


def test_ms_contin_is_judged_as_extended_release_morphine(run):
    report = run({"drug": "MS Contin", "dose": 15, "unit": "mg", "route": "oral", "frequency": "q12h"},
                 opioid_tolerant=False, **ADULT)  # fmt: skip
    assert find(report, "opioid_naive.long_acting")


def test_prn_oxycodone_is_not_judged_as_a_long_acting_regimen(run):
    prn = {"drug": "oxycodone", "dose": 5, "unit": "mg", "route": "oral", "frequency": "q6h", "prn": True}
    report = run(prn, opioid_tolerant=False, **ADULT)
    assert not find(report, "opioid_naive.long_acting")


def test_fentanyl_patch_above_25_in_a_naive_patient_is_also_a_dose_finding(run):
    patch = {"drug": "fentanyl", "dose": 50, "unit": "ug/h", "route": "transdermal", "frequency": "q72h"}
    report = run(patch, opioid_tolerant=False, **ADULT)
    [f] = find(report, "opioid_naive.start")
    assert f["severity"] == "major" and f["evidence"]["limit"] == "25 µg/h"
