"""Renal data the client gives is used (issue 14): with only eGFR the renal bands and cautions
apply and say they used eGFR; the "renal function unknown" check and the bands agree on what
counts as known, because one function decides it."""

from __future__ import annotations

import itertools

import pytest

from checker import check
from checker.schemas import load_regimen
from rules.context import Context, renal_function

KETOROLAC = {"drug": "ketorolac", "dose": 15, "unit": "mg", "route": "iv", "frequency": "q6h"}
GABAPENTIN = {"drug": "gabapentin", "dose": 600, "unit": "mg", "route": "oral", "frequency": "tid"}
CG = {"age_years": 80, "weight_kg": 40, "sex": "F", "serum_creatinine": "3 mg/dL"}  # CrCl ≈ 9.4


def _findings(patient: dict, *meds: dict) -> list:
    return list(check({"patient": patient, "medications": list(meds)}).findings)


def _one(findings: list, code: str):
    hits = [f for f in findings if f.code == code]
    assert len(hits) == 1, [f.code for f in findings]
    return hits[0]


def test_ketorolac_with_egfr_5_is_contraindicated_and_says_egfr_was_used():
    f = _one(_findings({"egfr": 5}, KETOROLAC), "renal.ketorolac_advanced_renal")
    assert f.severity == "contraindicated"
    assert f.evidence == {"renal_measure": "eGFR", "egfr": "5"}
    assert "eGFR 5 mL/min/1.73m²" in f.message and "CrCl 5" not in f.message


def test_a_renal_dose_band_is_applied_on_egfr_and_names_it():
    f = _one(_findings({"egfr": 5}, GABAPENTIN), "dose.daily_max.renal")
    assert f.evidence["renal_measure"] == "eGFR" and f.evidence["egfr"] == "5"
    assert "crcl_ml_min" not in f.evidence
    assert "eGFR 5 mL/min/1.73m²" in f.message


def test_crcl_given_wins_over_egfr():
    found = _findings({"egfr": 5, "crcl_ml_min": 50}, KETOROLAC)
    assert not [f for f in found if f.category == "renal"]
    f = _one(_findings({"egfr": 90, "crcl_ml_min": 20}, KETOROLAC), "renal.ketorolac_advanced_renal")
    assert f.evidence["renal_measure"] == "CrCl" and f.evidence["crcl_ml_min"] == "20"


def test_cockcroft_gault_wins_over_egfr_and_is_named():
    f = _one(_findings({**CG, "egfr": 90}, KETOROLAC), "renal.ketorolac_advanced_renal")
    assert f.evidence["renal_measure"] == "CrCl" and f.evidence["crcl_estimated"] == "Cockcroft-Gault"
    assert "estimated by Cockcroft-Gault" in f.message and "eGFR" not in f.message


FACTS = {"crcl_ml_min": 20, "egfr": 20, "serum_creatinine": "3 mg/dL", "age_years": 80, "weight_kg": 40,
         "sex": "female"}  # fmt: skip


@pytest.mark.parametrize(
    "present", [c for n in range(len(FACTS) + 1) for c in itertools.combinations(FACTS, n)], ids=str
)
def test_the_unknown_check_and_the_bands_agree_on_what_is_known(present):
    patient = {k: FACTS[k] for k in present}
    found = _findings(patient, KETOROLAC, GABAPENTIN)
    regimen = load_regimen({"patient": patient, "medications": []})
    known = Context(patient=regimen.patient, orders=[], formulary=None).renal.known  # type: ignore[arg-type]
    asked = any(f.code == "monitoring.renal_before_nsaid" for f in found)
    band_unknown = any("renal function" in " ".join(f.evidence.get("missing", [])) for f in found)
    judged = any(f.code == "renal.ketorolac_advanced_renal" for f in found)
    assert asked == band_unknown == (not known)
    assert judged == known  # every combination here that is known is below 30 (CG ≈ 9.4)


def test_renal_function_prefers_crcl_then_estimate_then_egfr():
    from checker.model import Patient

    assert renal_function(Patient(egfr=40), (30.0, False)).measure == "CrCl"
    assert renal_function(Patient(egfr=40), (None, False)).measure == "eGFR"
    assert renal_function(Patient(), (None, False)).known is False


LOVENOX = {"drug": "Lovenox", "sig": "40 mg SC daily"}


@pytest.mark.parametrize(
    ("patient", "code", "severity"),
    [
        ({"crcl_ml_min": 20}, "renal.enoxaparin_crcl_15_30", "moderate"),
        ({"egfr": 25}, "renal.enoxaparin_crcl_15_30", "moderate"),
        (CG, "renal.enoxaparin_crcl_below_15", "major"),  # Cockcroft-Gault estimate ≈ 9.4 mL/min
        ({}, "monitoring.renal_before_enoxaparin", "moderate"),
    ],
)
def test_prophylactic_enoxaparin_in_severe_renal_impairment_is_not_passed(patient, code, severity):
    """40 mg SC daily within the 1 mg/kg treatment ceiling passed at CrCl 20, yet the label's
    severe-renal prophylaxis dose is lower (the exposure of 40 mg a day rises by two-thirds)."""
    assert _one(_findings(patient, LOVENOX), code).severity == severity
    assert not [f for f in _findings({"crcl_ml_min": 80}, LOVENOX) if "enoxaparin" in f.code]


@pytest.mark.parametrize("scr", ["0 mg/dL", "0 umol/L", 0, "0.05 mg/dL"])
def test_a_creatinine_no_patient_has_is_refused_not_read_as_perfect_kidneys(scr):
    """SCr 0 estimated a CrCl of ~580 mL/min and every renal band passed in silence."""
    from checker.errors import InvalidRegimen

    patient = {"age_years": 70, "weight_kg": 70, "sex": "F", "serum_creatinine": scr}
    med = {"drug": "gabapentin", "dose": 600, "unit": "mg", "route": "oral", "frequency": "tid"}
    with pytest.raises(InvalidRegimen, match="serum_creatinine"):
        check({"patient": patient, "medications": [med]})


def test_in_an_audit_an_impossible_creatinine_leaves_renal_function_unknown(tmp_path):
    from checker.cli import main

    meds, pats, out = tmp_path / "m.csv", tmp_path / "p.csv", tmp_path / "o.csv"
    meds.write_text("patient_id,drug,dose,unit,route,frequency\nP1,gabapentin,600,mg,oral,tid\n")
    pats.write_text("patient_id,age_years,weight_kg,sex,serum_creatinine\nP1,70,70,F,0 mg/dL\n")
    main(["audit", str(meds), "--patients", str(pats), "-o", str(out)])
    text = out.read_text()
    assert "input.patient_invalid" in text and "serum_creatinine" in text
    assert "renal" in text  # the renal check asks for renal function instead of passing it
