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
    # Krantz 2009: above 500 ms "consider discontinuing or reducing": major, not contraindicated
    assert find(run(med, qtc_ms=520), "condition.methadone_qtc_over_500")[0]["severity"] == "major"
    assert find(run(med, qtc_ms=470), "condition.methadone_qtc_450_500")[0]["severity"] == "moderate"
    assert not [c for c in codes(run(med, qtc_ms=430)) if "qtc" in c]
    assert "monitoring.qtc_before_methadone" in codes(run(med))


def test_denosumab_hypocalcaemia_in_si_units(run):
    med = {"drug": "denosumab", "dose": 120, "unit": "mg", "route": "sc"}
    report = run(med, serum_calcium="1.9 mmol/L", albumin="4 g/dL")
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
    # CDC 2022 dropped the hard 90 MME/day ceiling: moderate, with the quoted 2016 wording in the source
    assert f["severity"] == "moderate" and f["evidence"]["actual"] == "180 MME/day"
    assert f["source"]["quote"] and f["source"]["location"]
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
    # cinolazepam is not a name the checker knows; its ATC code (N05CD13) makes it a benzodiazepine
    report = run({"drug": "cinolazepam", "atc": "N05CD13", "dose": 10, "unit": "mg"},
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


# --- Alert fatigue (issue 17): clean regimens a pharmacist would sign without a call -------------

CLEAN_WITH_PATIENT = {
    "post-op spine (opioid-naive, prophylactic enoxaparin)": (
        [
            {"drug": "oxycodone", "sig": "5 mg PO q4h PRN pain"},
            {"drug": "acetaminophen", "dose": 1, "unit": "g", "route": "oral", "frequency": "q8h"},
            {"drug": "enoxaparin", "dose": 40, "unit": "mg", "route": "sc", "frequency": "daily"},
            {"drug": "ondansetron", "dose": 4, "unit": "mg", "route": "iv", "frequency": "q8h", "prn": True},
        ],
        {"age_years": 58, "weight_kg": 82, "sex": "male", "crcl_ml_min": 95,
         "hepatic_impairment": "none", "opioid_tolerant": False},
    ),
    "palliative bone metastases (long-acting + breakthrough, dexamethasone, denosumab)": (
        [
            {"drug": "OxyContin", "sig": "20 mg every 12 h"},
            {"drug": "morphine", "sig": "5 mg PO every 2 h PRN breakthrough pain"},
            {"drug": "dexamethasone", "dose": 4, "unit": "mg", "route": "oral", "frequency": "daily"},
            {"drug": "Xgeva", "sig": "120 mg sub-Q every 4 weeks"},
            {"drug": "calcium citrate", "dose": 500, "unit": "mg", "route": "oral", "frequency": "bid"},
            {"drug": "vitamin D3", "dose": 1000, "unit": "IU", "route": "oral", "frequency": "daily"},
        ],
        {"age_years": 64, "weight_kg": 70, "sex": "female", "crcl_ml_min": 80,
         "serum_calcium": "9.4 mg/dL", "albumin": "3.8 g/dL", "dental_exam_done": True,
         "hepatic_impairment": "none",
         "conditions": ["bone_metastases"], "opioid_tolerant": True},
    ),
    "osteoporosis with weekly vitamin D repletion": (
        [
            {"drug": "alendronate", "dose": 70, "unit": "mg", "route": "oral", "frequency": "weekly"},
            {"drug": "calcium citrate", "dose": 500, "unit": "mg", "route": "oral", "frequency": "bid"},
            {"drug": "cholecalciferol", "dose": 50000, "unit": "IU", "route": "oral", "frequency": "weekly"},
        ],
        {"age_years": 70, "weight_kg": 60, "sex": "female", "crcl_ml_min": 65, "serum_calcium": "9.3 mg/dL"},
    ),
    "elderly on apixaban with denosumab for osteoporosis": (
        [
            {"drug": "apixaban", "dose": 5, "unit": "mg", "route": "oral", "frequency": "bid"},
            {"drug": "acetaminophen", "dose": 500, "unit": "mg", "route": "oral", "frequency": "q6h"},
            {"drug": "Prolia", "sig": "60 mg sub-Q every 6 months"},
            {"drug": "calcium carbonate", "dose": 500, "unit": "mg", "route": "oral", "frequency": "daily"},
            {"drug": "vitamin D3", "dose": 800, "unit": "IU", "route": "oral", "frequency": "daily"},
        ],
        {"age_years": 78, "weight_kg": 68, "sex": "female", "crcl_ml_min": 55,
         "serum_creatinine": "1.0 mg/dL", "serum_calcium": "9.2 mg/dL", "albumin": "4.0 g/dL",
         "dental_exam_done": True, "hepatic_impairment": "none"},
    ),
    "palliative bone metastases (OxyContin with oxycodone IR for breakthrough, zoledronic acid)": (
        [
            {"drug": "OxyContin", "sig": "20 mg every 12 h"},
            {"drug": "oxycodone", "sig": "5 mg PO every 2 h PRN breakthrough pain"},
            {"drug": "senna", "dose": 17.2, "unit": "mg", "route": "oral", "frequency": "qhs"},
            {"drug": "dexamethasone", "dose": 4, "unit": "mg", "route": "oral", "frequency": "daily"},
            {"drug": "zoledronic acid", "sig": "4 mg IV over 15 min every 3-4 weeks"},
            {"drug": "calcium carbonate", "dose": 500, "unit": "mg", "route": "oral", "frequency": "daily"},
            {"drug": "vitamin D3", "dose": 1000, "unit": "IU", "route": "oral", "frequency": "daily"},
        ],
        {"age_years": 66, "weight_kg": 72, "sex": "male", "crcl_ml_min": 75, "serum_calcium": "9.6 mg/dL",
         "albumin": "3.9 g/dL", "dental_exam_done": True, "hepatic_impairment": "none",
         "conditions": ["bone_metastases"], "opioid_tolerant": True},
    ),
    "palliative bone metastases (fentanyl patch with hydromorphone breakthrough, naloxone)": (
        [
            {"drug": "fentanyl", "sig": "25 µg/h changed every 72 h", "route": "transdermal"},
            {"drug": "hydromorphone", "sig": "2 mg PO every 2 h PRN breakthrough pain"},
            {"drug": "senna", "dose": 17.2, "unit": "mg", "route": "oral", "frequency": "qhs"},
            {"drug": "naloxone", "sig": "4 mg intranasal once PRN opioid overdose"},
            {"drug": "ondansetron", "sig": "4 mg PO q8h PRN nausea"},
        ],
        {"age_years": 72, "weight_kg": 64, "sex": "female", "crcl_ml_min": 60, "hepatic_impairment": "none",
         "conditions": ["bone_metastases"], "opioid_tolerant": True},
    ),
    "osteoporosis with yearly zoledronic acid (Reclast)": (
        [
            {"drug": "Reclast", "sig": "5 mg IV once a year"},
            {"drug": "calcium citrate", "dose": 500, "unit": "mg", "route": "oral", "frequency": "bid"},
            {"drug": "vitamin D3", "dose": 2000, "unit": "IU", "route": "oral", "frequency": "daily"},
        ],
        {"age_years": 74, "weight_kg": 58, "sex": "female", "crcl_ml_min": 52, "serum_calcium": "9.3 mg/dL",
         "albumin": "4.1 g/dL", "dental_exam_done": True},
    ),
    "elderly on apixaban 2.5 mg twice daily (age 84, 55 kg, creatinine 1.6) with alendronate": (
        [
            {"drug": "apixaban", "dose": 2.5, "unit": "mg", "route": "oral", "frequency": "bid"},
            {"drug": "acetaminophen", "sig": "500 mg PO q6h PRN pain"},
            {"drug": "alendronate", "dose": 70, "unit": "mg", "route": "oral", "frequency": "weekly"},
            {"drug": "calcium citrate", "dose": 500, "unit": "mg", "route": "oral", "frequency": "bid"},
            {"drug": "vitamin D3", "dose": 1000, "unit": "IU", "route": "oral", "frequency": "daily"},
        ],
        {"age_years": 84, "weight_kg": 55, "sex": "female", "crcl_ml_min": 40,
         "serum_creatinine": "1.6 mg/dL", "serum_calcium": "9.1 mg/dL", "hepatic_impairment": "none"},
    ),
}


def test_same_opioid_as_background_and_breakthrough_is_not_a_duplicate_but_two_scheduled_are(run):
    background = {"drug": "OxyContin", "sig": "20 mg every 12 h"}
    prn = run(background, {"drug": "oxycodone", "sig": "5 mg PO every 2 h PRN"}, opioid_tolerant=True)
    assert not find(prn, "duplication.same_ingredient")
    scheduled = run(background, {"drug": "oxycodone", "sig": "5 mg PO every 4 h"}, opioid_tolerant=True)
    assert find(scheduled, "duplication.same_ingredient")[0]["severity"] == "moderate"
    tylenol = run({"drug": "Tylenol", "sig": "1 g PO q6h PRN"}, {"drug": "paracetamol", "sig": "1 g q6h"})
    assert find(tylenol, "duplication.same_ingredient")  # brand + generic: no background/breakthrough pair


@pytest.mark.parametrize("meds, patient", CLEAN_WITH_PATIENT.values(), ids=CLEAN_WITH_PATIENT.keys())
def test_clean_realistic_regimen_raises_nothing_moderate_or_above(run, meds, patient):
    report = run(*meds, **patient)
    loud = [f"{f['severity']} {f['code']}" for f in report["findings"]
            if f["severity"] in ("contraindicated", "major", "moderate")]  # fmt: skip
    assert not loud


OXY_PRN = {"drug": "oxycodone", "sig": "5 mg PO q4h PRN"}
GABAPENTIN = {"drug": "gabapentin", "sig": "300 mg tid"}


def test_opioid_with_gabapentinoid_is_moderate_under_65_with_the_fda_quote(run):
    report = run(OXY_PRN, GABAPENTIN, age_years=50)
    [f] = find(report, "interaction.opioid_gabapentinoid")
    assert f["severity"] == "moderate"
    assert "lowest dose" in f["source"]["quote"] and f["source"]["location"].startswith("FDA")
    assert not find(report, "interaction.opioid_gabapentinoid_older_adult")
    assert "not known" not in f["message"]


def test_opioid_with_gabapentinoid_is_major_from_65_with_the_beers_quote(run):
    for age in (65, 70):
        report = run(OXY_PRN, GABAPENTIN, age_years=age)
        [f] = find(report, "interaction.opioid_gabapentinoid_older_adult")
        assert f["severity"] == "major"
        assert f["source"]["quote"].startswith("Avoid; exceptions are when transitioning")
        assert f["source"]["location"].startswith("AGS Beers Criteria 2023, Table 5")
        assert f["evidence"]["patient_band"] == "aged 65 or over"
        assert not find(report, "interaction.opioid_gabapentinoid")  # one card for the pair, not two


def test_opioid_with_gabapentinoid_age_unknown_is_moderate_and_says_age_would_change_it(run):
    report = run(OXY_PRN, GABAPENTIN)
    [f] = find(report, "interaction.opioid_gabapentinoid")
    assert f["severity"] == "moderate"
    assert "age was not known" in f["message"] and "aged 65 or over this pair is graded major" in f["message"]
    assert not find(report, "interaction.opioid_gabapentinoid_older_adult")


def test_post_op_spine_multimodal_analgesia_at_50_raises_nothing_major(run):
    """Issue 17: oxycodone PRN with gabapentin for multimodal analgesia after spine surgery is a correct
    regimen; at 50 the pair asks the pharmacist to monitor (moderate), not to stop an order (major)."""
    report = run(
        {"drug": "oxycodone", "sig": "5 mg PO q4h PRN pain"},
        {"drug": "gabapentin", "sig": "300 mg PO tid"},
        {"drug": "acetaminophen", "dose": 1, "unit": "g", "route": "oral", "frequency": "q8h"},
        {"drug": "enoxaparin", "dose": 40, "unit": "mg", "route": "sc", "frequency": "daily"},
        age_years=50, weight_kg=82, sex="male", crcl_ml_min=95, hepatic_impairment="none",
        opioid_tolerant=False,
    )  # fmt: skip
    loud = [f"{f['severity']} {f['code']}" for f in report["findings"]
            if f["severity"] in ("contraindicated", "major")]  # fmt: skip
    assert not loud
    assert [f["severity"] for f in find(report, "interaction.opioid_gabapentinoid")] == ["moderate"]


def test_weekly_vitamin_d_repletion_is_not_an_overdose_but_daily_50000_is(run):
    weekly = run({"drug": "vitamin D3", "dose": 50000, "unit": "IU", "route": "oral", "frequency": "weekly"})
    assert {f["severity"] for f in weekly["findings"] if f["code"].startswith("dose.")} <= {"minor"}
    daily = run({"drug": "vitamin D3", "dose": 50000, "unit": "IU", "route": "oral", "frequency": "daily"})
    [f] = find(daily, "dose.daily_max")
    assert f["severity"] == "moderate" and f["evidence"]["limit"] == "10000 IU/day"
    assert f["evidence"]["also_exceeds"] == {"limit": "4000 IU/day", "severity": "minor"}


def test_denosumab_low_total_calcium_without_albumin_says_uncorrected(run):
    med = {"drug": "Xgeva", "sig": "120 mg sub-Q every 4 weeks"}
    report = run(med, serum_calcium="8.2 mg/dL")
    [f] = find(report, "condition.denosumab_low_calcium_uncorrected")
    assert f["severity"] == "moderate" and "uncorrected" in f["message"]
    assert not find(report, "condition.denosumab_hypocalcaemia")
    known = run(med, serum_calcium="8.2 mg/dL", albumin="4.2 g/dL")
    assert find(known, "condition.denosumab_hypocalcaemia")[0]["severity"] == "contraindicated"
    low_albumin = run(med, serum_calcium="8.2 mg/dL", albumin="2.5 g/dL")  # corrected 9.4 mg/dL
    assert not [c for c in codes(low_albumin) if "calcium" in c and c.startswith("condition.")]


def test_ketorolac_with_enoxaparin_asks_for_the_dose_other_anticoagulants_stay_major(run):
    keto = {"drug": "ketorolac", "dose": 15, "unit": "mg", "route": "iv", "frequency": "q6h"}
    enox = run(keto, {"drug": "enoxaparin", "dose": 40, "unit": "mg", "route": "sc", "frequency": "daily"})
    [f] = find(enox, "interaction.ketorolac_enoxaparin")
    assert f["severity"] == "moderate" and "dose" in f["recommendation"]
    apix = run(keto, {"drug": "apixaban", "dose": 5, "unit": "mg", "route": "oral", "frequency": "bid"})
    assert find(apix, "interaction.ketorolac_anticoagulant")[0]["severity"] == "major"


def test_dexamethasone_with_opioid_and_prn_breakthrough_are_not_loud(run):
    report = run(
        {"drug": "dexamethasone", "dose": 4, "unit": "mg", "route": "oral", "frequency": "daily"},
        {"drug": "morphine", "sig": "5 mg PO every 1 h PRN breakthrough pain"},
        conditions=["bone_metastases"], opioid_tolerant=True,
    )
    assert find(report, "dose.interval_min")[0]["severity"] == "minor"
    assert all(f["severity"] in ("minor", "info") for f in report["findings"]), codes(report)


def test_tiers_report_the_most_severe_limit_broken(run):
    # alcohol use: 3 g/day ceiling (moderate) and the 4 g/day maximum (major) both broken: the
    # graver limit is reported (severity and advice), the stricter one named beside it
    report = run({"drug": "acetaminophen", "dose": 1, "unit": "g", "route": "oral", "frequency": "q4h"},
                 conditions=["alcohol_use"], age_years=50, weight_kg=70)  # fmt: skip
    [f] = [f for f in report["findings"] if f["code"].startswith("dose.daily_max")]
    assert f["severity"] == "major" and f["evidence"]["limit"] == "4 g/day"
    assert f["evidence"]["also_exceeds"] == {"limit": "3 g/day", "severity": "moderate"}
    assert "also above 3 g/day" in f["message"]


@pytest.mark.parametrize("sig", ["15 mg po daily", "2.5 mg po q12h", "7.5 mg SC every other day"])
def test_methotrexate_dosed_more_often_than_twice_a_week_is_a_major_finding(sig):
    """Daily instead of weekly low-dose methotrexate is a classic fatal error; 'methotrexate 15 mg
    po daily' passed in silence while methotrexate was a vocabulary drug with no dose rule."""
    from checker import check

    med = {"drug": "methotrexate", "sig": sig}
    report = check({"patient": {"age_years": 60}, "medications": [med]}).to_dict()
    [f] = find(report, "dose.interval_min")
    assert f["severity"] == "major"


WEEKLY_MTX = [
    {"drug": "methotrexate 2.5 mg tablet", "sig": "6 tabs po once weekly on Mondays"},
    {"drug": "Otrexup", "sig": "15 mg SC weekly"},
]


@pytest.mark.parametrize("med", WEEKLY_MTX)
def test_weekly_methotrexate_on_a_named_day_is_read_and_passes(med):
    from checker import check

    report = check({"patient": {"age_years": 60}, "medications": [med]}).to_dict()
    assert report["findings"] == []
    assert report["medications"][0]["interval_h"] == 168


@pytest.mark.parametrize(
    ("partner", "code"),
    [
        ({"drug": "naproxen 500 mg tablet", "sig": "1 tab po bid"}, "interaction.methotrexate_nsaid"),
        ({"drug": "Advil", "sig": "400 mg po q6h prn"}, "interaction.methotrexate_nsaid"),
        ({"drug": "aspirin", "sig": "650 mg po q4h prn"}, "interaction.methotrexate_salicylate"),
    ],
)
def test_methotrexate_with_an_nsaid_or_salicylate_is_raised(partner, code):
    """NSAIDs and salicylates slow methotrexate's renal clearance (label, quoted): both passed in silence."""
    from checker import check

    report = check({"patient": {"age_years": 60}, "medications": [WEEKLY_MTX[0], partner]}).to_dict()
    [f] = find(report, code)
    assert f["severity"] == "moderate" and f["medications"] == [0, 1]
    assert f["source"]["quote"].startswith("Caution should be used when NSAIDs and salicylates")
