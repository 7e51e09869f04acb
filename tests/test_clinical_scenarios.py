"""Named clinical scenarios: what a careful pharmacist would and would not raise."""

from __future__ import annotations

import pytest

from tests.conftest import codes, find

DOCUMENTED = {
    "age_years": 68,
    "weight_kg": 70,
    "sex": "female",
    "crcl_ml_min": 72,
    "serum_calcium": "9.4 mg/dL",
    "dental_exam_done": True,
    "hepatic_impairment": "none",
    "conditions": ["bone_metastases"],
}

CLEAN = {
    "denosumab with calcium, vitamin D and acetaminophen 2.6 g/day": [
        {"drug": "Xgeva", "sig": "120 mg sub-Q every 4 weeks"},
        {"drug": "calcium citrate", "dose": 500, "unit": "mg", "route": "oral", "frequency": "bid"},
        {"drug": "vitamin D3", "dose": 1000, "unit": "IU", "route": "oral", "frequency": "daily"},
        {"drug": "acetaminophen", "dose": 650, "unit": "mg", "route": "oral", "frequency": "q6h"},
    ],
    "long-acting opioid with PRN short-acting breakthrough": [
        {"drug": "OxyContin", "sig": "10 mg every 12 h"},
        {"drug": "morphine", "sig": "5-15 mg orally every 4 h PRN"},
        {"drug": "acetaminophen", "dose": 1, "unit": "g", "route": "oral", "frequency": "q8h"},
    ],
    "zoledronic acid at the right renal dose with supplements": [
        {"drug": "Zometa", "sig": "4 mg IV over 15 min every 3-4 weeks"},
        {"drug": "calcium carbonate", "dose": 500, "unit": "mg", "route": "oral", "frequency": "daily"},
        {"drug": "cholecalciferol", "dose": 10, "unit": "ug", "route": "oral", "frequency": "daily"},
    ],
    "seed leaflet neuropathic doses": [
        {"drug": "gabapentin", "sig": "300 mg qHS"},
        {"drug": "amitriptyline", "sig": "10 mg at bedtime", "route": "oral"},
    ],
}


@pytest.mark.parametrize("meds", CLEAN.values(), ids=CLEAN.keys())
def test_well_managed_regimen_raises_nothing_moderate_or_above(run, meds):
    patient = dict(DOCUMENTED, opioid_tolerant=True)
    if any(m["drug"] == "amitriptyline" for m in meds):
        patient["age_years"] = 55
    report = run(*meds, **patient)
    loud = [
        f"{f['severity']} {f['code']}: {f['message']}"
        for f in report["findings"]
        if f["severity"] in ("contraindicated", "major", "moderate")
    ]
    assert not loud


def test_cockcroft_gault_estimate_is_used_and_said(run):
    # (140-80) × 50 / (72 × 2.0) × 0.85 = 17.7 mL/min → zoledronic acid not recommended
    report = run(
        {"drug": "zoledronic acid", "dose": 4, "unit": "mg", "route": "iv"},
        age_years=80,
        weight_kg=50,
        sex="female",
        serum_creatinine="177 umol/L",
    )
    [f] = find(report, "renal.zoledronic_acid_crcl_below_30")
    assert f["evidence"]["crcl_estimated"] == "Cockcroft-Gault"
    assert "Cockcroft-Gault" in f["message"]


def test_zoledronic_acid_renal_band(run):
    report = run({"drug": "zoledronic_acid", "dose": 4, "unit": "mg", "route": "iv"}, crcl_ml_min=45)
    [f] = find(report, "dose.single_max.renal")
    assert f["category"] == "renal" and f["evidence"]["limit"] == "3.3 mg"


def test_renal_function_unknown_before_zoledronic_acid(run):
    report = run({"drug": "zoledronic_acid", "dose": 4, "unit": "mg", "route": "iv"})
    [f] = find(report, "monitoring.renal_before_bisphosphonate_iv")
    assert f["category"] == "monitoring" and "renal function" in f["message"].lower()


def test_teriparatide_with_bone_metastases_is_contraindicated(run):
    report = run({"drug": "Forteo", "sig": "20 µg sub-Q daily"}, conditions=["bone_metastases"])
    assert find(report, "condition.teriparatide_skeletal_malignancy")[0]["severity"] == "contraindicated"


def test_tramadol_with_ssri(run):
    report = run({"drug": "tramadol", "sig": "50 mg every 6 h"}, {"drug": "Zoloft", "sig": "50 mg daily"})
    assert any(c.startswith("interaction.tramadol") for c in codes(report))


def test_fentanyl_patch_in_opioid_naive_patient(run):
    report = run(
        {"drug": "fentanyl", "sig": "12 µg/h changed every 72 h", "route": "transdermal"},
        opioid_tolerant=False,
    )
    assert find(report, "condition.fentanyl_patch_opioid_naive")[0]["severity"] == "contraindicated"


def test_methadone_qtc(run):
    med = {"drug": "methadone", "sig": "2.5 mg q8 h, titrate"}
    assert find(run(med, qtc_ms=520), "condition.methadone_qtc_over_500")[0]["severity"] == "contraindicated"
    assert find(run(med, qtc_ms=470), "condition.methadone_qtc_450_500")[0]["severity"] == "moderate"
    assert not [c for c in codes(run(med, qtc_ms=430)) if "qtc" in c]
    assert "monitoring.qtc_before_methadone" in codes(run(med))


def test_denosumab_hypocalcaemia_in_si_units(run):
    report = run({"drug": "denosumab", "dose": 120, "unit": "mg", "route": "sc"}, serum_calcium="1.9 mmol/L")
    assert find(report, "condition.denosumab_hypocalcaemia")[0]["severity"] == "contraindicated"


def test_radium_counts_first_versus_later_dose(run):
    med = {"drug": "Xofigo", "sig": "55 kBq/kg IV every 4 weeks × 6"}
    counts = {"weight_kg": 70, "platelets": "80 10^9/L", "anc": "2 10^9/L", "hemoglobin": "11 g/dL"}
    assert "condition.radium_223_counts_first_platelets" in codes(run(med, **counts))
    later = dict(med, dose_number=3)
    assert not [c for c in codes(run(later, **counts)) if "radium_223_counts" in c]


def test_opioid_load_in_mme(run):
    meds = [
        {"drug": "OxyContin", "sig": "40 mg every 12 h"},
        {"drug": "Duragesic", "sig": "25 µg/h changed every 72 h"},
    ]  # noqa: E501
    report = run(*meds, opioid_tolerant=True)
    [f] = find(report, "opioid_load.threshold")
    assert f["severity"] == "major" and f["evidence"]["actual"] == "180 MME/day"
    cancer = run(*meds, opioid_tolerant=True, conditions=["bone_metastases"])
    assert find(cancer, "opioid_load.total")[0]["severity"] == "info"


def test_iv_opioid_is_counted_with_the_parenteral_table_it_names(run):
    # 4 mg IV q4h = 24 mg/day IV morphine x 3 (parenteral table) = 72 MME/day; the CDC table has no IV factor
    report = run({"drug": "morphine", "dose": 4, "unit": "mg", "route": "iv", "frequency": "q4h"})
    [f] = find(report, "opioid_load.threshold")
    assert f["evidence"]["actual"] == "72 MME/day"
    assert "parenteral" in f["evidence"]["contributions"][0]["table"]
    assert "not_counted" not in f["evidence"]


def test_unknown_condition_is_info(run):
    report = run({"drug": "acetaminophen", "dose": 500, "unit": "mg"}, conditions=["gout"])
    assert find(report, "input.condition_unknown")[0]["severity"] == "info"


def test_same_dose_in_mg_and_g_gives_same_findings(run):
    a = run({"drug": "ibuprofen", "dose": 1.2, "unit": "g", "frequency": "tid"})
    b = run({"drug": "ibuprofen", "dose": 1200, "unit": "mg", "frequency": "tid"})
    assert [f["code"] for f in a["findings"]] == [f["code"] for f in b["findings"]]


def test_iu_converts_for_vitamin_d_only(run):
    report = run({"drug": "vitamin_d3", "dose": 250, "unit": "ug", "frequency": "daily"})
    assert find(report, "dose.daily_max")[0]["evidence"]["actual"] == "10000 IU/day"
    wrong = run({"drug": "calcitonin", "dose": 1, "unit": "mg", "route": "intranasal"})
    assert find(wrong, "unit.wrong_kind")


def test_radium_dose_in_mbq_is_converted_to_per_kg(run):
    report = run({"drug": "radium-223", "dose": 3.85, "unit": "MBq", "route": "iv"}, weight_kg=70)
    assert not find(report, "dose.single_per_kg_max")
    over = run({"drug": "radium-223", "dose": 4.5, "unit": "MBq", "route": "iv"}, weight_kg=70)
    assert find(over, "dose.single_per_kg_max")[0]["evidence"]["actual"] == "64.286 kBq/kg"


def test_tablet_dose_cannot_be_checked_and_says_so(run):
    report = run({"drug": "oxycodone", "dose": 2, "unit": "tablets"})
    assert find(report, "unit.dose_form")


def test_class_rule_covers_an_outside_drug_known_by_atc(run):
    # temazepam is not in the formulary; its ATC code (N05CD07) makes it a benzodiazepine
    report = run({"drug": "temazepam", "atc": "N05CD07", "dose": 10, "unit": "mg"},
                 {"drug": "OxyContin", "sig": "10 mg every 12 h"})  # fmt: skip
    assert find(report, "unrecognized.drug")
    [f] = find(report, "interaction.opioid_benzodiazepine")
    assert f["medications"] == [0, 1] and f["drugs"] == ["oxycodone"]


def test_triple_whammy_needs_all_three(run):
    pair = [{"drug": "ibuprofen", "sig": "400 mg tid"}, {"drug": "lisinopril", "dose": 10, "unit": "mg"}]
    assert "interaction.nsaid_ace_inhibitor_diuretic" not in codes(run(*pair))
    triple = run(*pair, {"drug": "HCTZ", "dose": 25, "unit": "mg"})
    assert "interaction.nsaid_ace_inhibitor_diuretic" in codes(triple)


def test_ketorolac_course_counts_iv_and_oral_orders_together(run):
    iv = {"drug": "ketorolac", "sig": "15 mg IV q6h", "duration_days": 3}
    oral = {"drug": "ketorolac", "sig": "10 mg PO q6h", "duration_days": 3}
    [f] = find(run(iv, oral), "dose.duration_max.combined")
    assert f["evidence"] == {"actual": "6 days", "limit": "5 days"} and f["medications"] == [0, 1]
    assert not find(run(iv, dict(oral, duration_days=2)), "dose.duration_max.combined")
