"""Limits and rules that were wrong (issue 17): tiered limits, indication-specific regimens,
hypercalcaemia, calcium salts, radium-223 rounding, acetaminophen by age and weight, ketorolac,
DOAC and metformin renal dosing, opioid duplication and missing interactions."""

from __future__ import annotations

import pytest

from tests.conftest import find

ADULT = {"age_years": 60, "weight_kg": 72, "sex": "female", "crcl_ml_min": 85, "hepatic_impairment": "none",
         "dental_exam_done": True, "serum_calcium": "9.4 mg/dL", "opioid_tolerant": True}  # fmt: skip


def _dose(report: dict) -> list[dict]:
    return [f for f in report["findings"] if f["code"].startswith("dose.")]


# --- tiered limits --------------------------------------------------------------------------


@pytest.mark.parametrize("amount", [800, 1000])
def test_selenium_above_the_us_ul_reports_it_at_moderate(run, amount):
    report = run({"drug": "selenium", "dose": amount, "unit": "ug", "route": "oral", "frequency": "daily"}, **ADULT)  # noqa: E501
    [f] = find(report, "dose.daily_max")
    assert f["severity"] == "moderate" and f["evidence"]["limit"] == "400 µg/day"


def test_selenium_between_the_eu_and_us_uls_is_minor(run):
    report = run({"drug": "selenium", "dose": 300, "unit": "ug", "route": "oral", "frequency": "daily"}, **ADULT)  # noqa: E501
    [f] = find(report, "dose.daily_max")
    assert f["severity"] == "minor" and f["evidence"]["limit"] == "255 µg/day"


def test_omega_3_ten_grams_is_more_than_info(run):
    report = run({"drug": "omega-3", "dose": 10, "unit": "g", "route": "oral", "frequency": "daily"}, **ADULT)
    [f] = find(report, "dose.daily_max")
    assert f["severity"] == "minor" and f["evidence"]["limit"] == "5 g/day"


# --- indication-specific regimens --------------------------------------------------------------


def test_reclast_5mg_once_yearly_is_not_an_overdose(run):
    report = run({"drug": "Reclast", "dose": 5, "unit": "mg", "route": "iv", "frequency": "every 12 months"},
                 {"drug": "calcium carbonate", "dose": 500, "unit": "mg", "route": "oral", "frequency": "bid"},  # noqa: E501
                 {"drug": "vitamin D3", "dose": 1000, "unit": "IU", "route": "oral", "frequency": "daily"},
                 **ADULT)  # fmt: skip
    assert not _dose(report)


def test_zoledronic_5mg_monthly_is_flagged(run):
    report = run({"drug": "zoledronic acid", "dose": 5, "unit": "mg", "route": "iv", "frequency": "every 4 weeks"},  # noqa: E501
                 **ADULT)  # fmt: skip
    assert find(report, "dose.interval_min")[0]["severity"] == "major"


def test_zometa_renal_reduction_still_applies(run):
    report = run({"drug": "Zometa", "dose": 4, "unit": "mg", "route": "iv", "frequency": "every 4 weeks"},
                 **{**ADULT, "crcl_ml_min": 45})  # fmt: skip
    [f] = find(report, "dose.single_max.renal")
    assert f["evidence"]["limit"] == "3.3 mg"


def test_zoledronic_8mg_is_still_an_overdose(run):
    report = run({"drug": "zoledronic acid", "dose": 8, "unit": "mg", "route": "iv", "frequency": "once"}, **ADULT)  # noqa: E501
    assert find(report, "dose.single_max")[0]["severity"] == "major"


def test_prolia_60mg_every_6_months_is_clean_and_monthly_is_not(run):
    ok = run({"drug": "Prolia", "dose": 60, "unit": "mg", "route": "sc", "frequency": "every 6 months"}, **ADULT)  # noqa: E501
    assert not _dose(ok)
    monthly = run({"drug": "Prolia", "dose": 60, "unit": "mg", "route": "sc", "frequency": "every 4 weeks"},
                  **ADULT)  # fmt: skip
    assert find(monthly, "dose.interval_min")


def test_xgeva_120mg_every_4_weeks_is_clean(run):
    report = run({"drug": "Xgeva", "dose": 120, "unit": "mg", "route": "sc", "frequency": "every 4 weeks"}, **ADULT)  # noqa: E501
    assert not _dose(report)


def test_ibandronate_150mg_oral_monthly_is_clean(run):
    report = run({"drug": "ibandronate", "dose": 150, "unit": "mg", "route": "oral", "frequency": "monthly"},
                 **ADULT)  # fmt: skip
    assert not _dose(report)
    weekly = run({"drug": "ibandronate", "dose": 150, "unit": "mg", "route": "oral", "frequency": "weekly"},
                 **ADULT)  # fmt: skip
    assert find(weekly, "dose.interval_min")


# --- hypercalcaemia ------------------------------------------------------------------------------


def test_hypercalcaemia_of_malignancy_gets_no_calcium_advice(run):
    report = run({"drug": "zoledronic acid", "dose": 4, "unit": "mg", "route": "iv", "frequency": "once"},
                 **{**ADULT, "serum_calcium": "12.8 mg/dL", "conditions": ["bone_metastases"]})  # fmt: skip
    assert not find(report, "monitoring.calcium_vitamin_d_with_denosumab")
    assert not [f for f in report["findings"] if "calcium" in f["recommendation"].lower()
                and f["code"].startswith("monitoring")]  # fmt: skip


def test_normocalcaemic_patient_still_gets_the_supplement_prompt(run):
    report = run({"drug": "zoledronic acid", "dose": 4, "unit": "mg", "route": "iv", "frequency": "every 4 weeks"},  # noqa: E501
                 **ADULT)  # fmt: skip
    assert find(report, "monitoring.calcium_vitamin_d_with_denosumab")


# --- calcium salts ------------------------------------------------------------------------------


def test_calcium_carbonate_1250mg_tid_is_read_as_1500mg_elemental(run):
    report = run({"drug": "calcium carbonate", "dose": 1250, "unit": "mg", "route": "oral", "frequency": "tid"},  # noqa: E501
                 **ADULT)  # fmt: skip
    assert not _dose(report)  # 3 x 500 mg elemental = 1.5 g/day: within 2 g/day at 60 years


def test_a_real_excess_by_salt_weight_is_reported_in_elemental_terms(run):
    report = run({"drug": "calcium carbonate", "dose": 1500, "unit": "mg", "route": "oral", "frequency": "qid"},  # noqa: E501
                 **ADULT)  # fmt: skip
    [f] = _dose(report)
    assert f["evidence"]["actual"] == "2.4 g/day"
    assert f["evidence"]["salt_converted"][0]["elemental"] == "600 mg calcium"
    assert "calcium carbonate" in f["message"]


def test_calcium_citrate_by_salt_weight_uses_21_percent(run):
    report = run({"drug": "calcium citrate", "dose": 950, "unit": "mg", "route": "oral", "frequency": "tid"},
                 **ADULT)  # fmt: skip
    assert not _dose(report)


# --- radium-223 ----------------------------------------------------------------------------------


def test_radium_at_the_us_label_microcurie_dose_is_not_an_overdose(run):
    report = run({"drug": "radium-223", "dose": 1.49, "unit": "uCi/kg", "route": "iv", "frequency": "every 4 weeks"},  # noqa: E501
                 **ADULT)  # fmt: skip
    assert not find(report, "dose.single_per_kg_max")


def test_radium_clearly_above_the_label_is_still_flagged(run):
    report = run({"drug": "radium-223", "dose": 1.6, "unit": "uCi/kg", "route": "iv", "frequency": "every 4 weeks"},  # noqa: E501
                 **ADULT)  # fmt: skip
    assert find(report, "dose.single_per_kg_max")


# --- acetaminophen, Beers and ketorolac -----------------------------------------------------------


def test_child_acetaminophen_per_kg_limits(run):
    report = run({"drug": "acetaminophen", "dose": 500, "unit": "mg", "route": "oral", "frequency": "q4h"},
                 age_years=5, weight_kg=18)  # fmt: skip
    # one row's per-dose and per-day limits, one advice: one finding, the per-dose numbers beside it
    [daily] = find(report, "dose.daily_per_kg_max")
    [single] = daily["evidence"]["merged"]
    assert not find(report, "dose.single_per_kg_max") and single["code"] == "dose.single_per_kg_max"
    assert single["evidence"]["limit"] == "15 mg/kg" and daily["evidence"]["limit"] == "75 mg/kg/day"
    assert single["severity"] == daily["severity"] == "major"


def test_child_at_15mg_per_kg_q6h_is_clean(run):
    report = run({"drug": "acetaminophen", "dose": 270, "unit": "mg", "route": "oral", "frequency": "q6h"},
                 age_years=5, weight_kg=18, hepatic_impairment="none")  # fmt: skip
    assert not _dose(report)


def test_advanced_age_lowers_the_acetaminophen_ceiling(run):
    report = run({"drug": "acetaminophen", "dose": 1, "unit": "g", "route": "oral", "frequency": "q6h"},
                 **{**ADULT, "age_years": 85})  # fmt: skip
    [f] = find(report, "dose.daily_max.age")
    assert f["evidence"]["limit"] == "3 g/day"


def test_beers_rules_never_fire_for_children(run):
    report = run({"drug": "amitriptyline", "dose": 10, "unit": "mg", "route": "oral", "frequency": "qhs"},
                 {"drug": "ibuprofen", "dose": 200, "unit": "mg", "route": "oral", "frequency": "tid"},
                 {"drug": "lorazepam", "dose": 0.5, "unit": "mg", "route": "oral", "frequency": "qhs"},
                 age_years=9, weight_kg=30)  # fmt: skip
    assert not [f for f in report["findings"] if f["category"] == "age"]


def test_ketorolac_20mg_first_oral_dose_is_allowed_under_65_and_50kg(run):
    report = run({"drug": "ketorolac", "dose": 20, "unit": "mg", "route": "oral", "frequency": "once",
                  "dose_number": 1}, **ADULT)  # fmt: skip
    assert not find(report, "dose.single_max")


@pytest.mark.parametrize(("patient", "med"), [
    ({"age_years": 70}, {"dose_number": 1}),
    ({"weight_kg": 45}, {"dose_number": 1}),
    ({}, {"dose_number": 2}),
], ids=["65 or over", "under 50 kg", "second dose"])  # fmt: skip
def test_ketorolac_20mg_oral_otherwise_is_flagged(run, patient, med):
    report = run({"drug": "ketorolac", "dose": 20, "unit": "mg", "route": "oral", "frequency": "once", **med},
                 **{**ADULT, **patient})  # fmt: skip
    assert [f for f in report["findings"] if f["code"].startswith("dose.single_max")]


# --- anticoagulants and metformin -----------------------------------------------------------------


def test_apixaban_two_of_three_criteria_call_for_2_5mg(run):
    report = run({"drug": "Eliquis", "dose": 5, "unit": "mg", "frequency": "bid"},
                 age_years=82, weight_kg=58, serum_creatinine="1.1 mg/dL")  # fmt: skip
    [f] = find(report, "dose.reduction_criteria")
    assert f["evidence"]["limit"] == "2.5 mg" and len(f["evidence"]["criteria_met"]) == 2


def test_apixaban_one_criterion_is_not_enough(run):
    report = run({"drug": "Eliquis", "dose": 5, "unit": "mg", "frequency": "bid"},
                 age_years=82, weight_kg=75, serum_creatinine="1.1 mg/dL")  # fmt: skip
    assert not find(report, "dose.reduction_criteria")
    assert not find(report, "monitoring.reduction_criteria.unknown")


def test_apixaban_unknown_facts_that_could_complete_the_count_are_asked_for(run):
    report = run({"drug": "Eliquis", "dose": 5, "unit": "mg", "frequency": "bid"}, age_years=82)
    assert find(report, "monitoring.reduction_criteria.unknown")


@pytest.mark.parametrize(("drug", "dose", "crcl"), [("rivaroxaban", 20, 40), ("edoxaban", 60, 40),
                                                     ("dabigatran", 150, 25)])  # fmt: skip
def test_doac_renal_reductions(run, drug, dose, crcl):
    report = run({"drug": drug, "dose": dose, "unit": "mg", "frequency": "daily"}, crcl_ml_min=crcl)
    assert find(report, "dose.reduction_criteria")


def test_metformin_renal_bands(run):
    med = {"drug": "metformin", "dose": 500, "unit": "mg", "frequency": "bid"}
    assert find(run(med, crcl_ml_min=25), "renal.metformin_renal_below_30")[0]["severity"] == "contraindicated"  # noqa: E501
    assert find(run(med, crcl_ml_min=40), "renal.metformin_renal_30_45")[0]["severity"] == "moderate"
    assert not [f for f in run(med, crcl_ml_min=70)["findings"] if f["category"] == "renal"]


def test_oxycodone_in_renal_impairment_says_start_conservatively(run):
    report = run({"drug": "oxycodone", "dose": 5, "unit": "mg", "frequency": "q6h", "prn": True}, crcl_ml_min=40)  # noqa: E501
    [f] = find(report, "renal.oxycodone_renal")
    assert "conservatively" in f["recommendation"]


# --- duplication -----------------------------------------------------------------------------


def test_two_scheduled_long_acting_opioids_are_a_duplication(run):
    report = run({"drug": "OxyContin", "dose": 20, "unit": "mg", "frequency": "q12h"},
                 {"drug": "methadone", "dose": 5, "unit": "mg", "frequency": "q8h"}, **ADULT)  # fmt: skip
    assert find(report, "duplication.long_acting_opioid")[0]["severity"] == "moderate"  # class practice


def test_long_acting_with_prn_short_acting_is_not_a_duplication(run):
    report = run({"drug": "OxyContin", "dose": 20, "unit": "mg", "frequency": "q12h"},
                 {"drug": "hydromorphone", "dose": 2, "unit": "mg", "route": "oral", "frequency": "q4h", "prn": True},  # noqa: E501
                 **ADULT)  # fmt: skip
    assert not [f for f in report["findings"] if f["category"] == "duplication"]


def test_two_prn_short_acting_opioids_are_a_minor_prompt(run):
    report = run({"drug": "morphine", "dose": 5, "unit": "mg", "route": "oral", "frequency": "q4h", "prn": True},  # noqa: E501
                 {"drug": "hydromorphone", "dose": 1, "unit": "mg", "route": "oral", "frequency": "q4h", "prn": True},  # noqa: E501
                 **ADULT)  # fmt: skip
    [f] = find(report, "duplication.prn_short_acting_opioid")
    assert f["severity"] == "minor"


# --- interactions ------------------------------------------------------------------------------


@pytest.mark.parametrize(("other", "rule"), [
    ("cyclobenzaprine", "interaction.opioid_muscle_relaxant"),
    ("tizanidine", "interaction.opioid_muscle_relaxant"),
    ("quetiapine", "interaction.opioid_antipsychotic"),
    ("zolpidem", "interaction.opioid_z_drug"),
])  # fmt: skip
def test_opioid_with_other_cns_depressants(run, other, rule):
    report = run({"drug": "oxycodone", "dose": 5, "unit": "mg", "frequency": "q6h", "prn": True},
                 {"drug": other, "dose": 5, "unit": "mg", "frequency": "qhs"}, **ADULT)  # fmt: skip
    assert [f for f in report["findings"] if f["rule"] == rule and f["severity"] == "major"]


@pytest.mark.parametrize("radio", ["radium-223", "samarium-153"])
def test_radiopharmaceutical_with_myelosuppressive_chemotherapy(run, radio):
    report = run({"drug": radio}, {"drug": "docetaxel", "dose": 75, "unit": "mg", "route": "iv"}, **ADULT)
    assert [f for f in report["findings"] if f["rule"] == "interaction.radiopharmaceutical_chemotherapy"]


@pytest.mark.parametrize("opioid", ["oxycodone", "fentanyl", "methadone"])
def test_st_johns_wort_induces_cyp3a4_opioids(run, opioid):
    report = run({"drug": opioid}, {"drug": "St John's wort", "dose": 300, "unit": "mg", "frequency": "tid"},
                 **ADULT)  # fmt: skip
    assert [f for f in report["findings"] if f["category"] == "interaction" and "st_johns_wort" in f["drugs"]]


def test_methadone_with_a_qt_prolonging_antipsychotic(run):
    report = run({"drug": "methadone", "dose": 5, "unit": "mg", "frequency": "q8h"},
                 {"drug": "haloperidol", "dose": 1, "unit": "mg", "frequency": "bid"}, **ADULT)  # fmt: skip
    assert [f for f in report["findings"] if f["rule"] == "interaction.methadone_qt_prolonging"]


def test_metformin_is_judged_on_egfr_when_that_is_what_is_known(run):
    report = run({"drug": "metformin", "dose": 500, "unit": "mg", "frequency": "bid"}, egfr=25)
    assert find(report, "renal.metformin_renal_below_30")[0]["severity"] == "contraindicated"


def test_a_dose_ten_times_its_limit_is_major_and_asks_for_a_unit_check():
    """50,000 mg of vitamin D3 a day (two billion units: mg for IU) was a moderate finding."""
    from checker import check

    med = {"drug": "vitamin D3", "dose": 50000, "unit": "mg", "route": "oral", "frequency": "daily"}
    [f] = [f for f in check({"medications": [med]}).to_dict()["findings"] if f["code"] == "dose.daily_max"]
    assert f["severity"] == "major" and f["evidence"]["times_limit"] >= 10
    assert "unit or decimal error" in f["message"]
    twice = {**med, "dose": 20000, "unit": "IU"}  # twice the limit: the row's own grade
    [g] = [f for f in check({"medications": [twice]}).to_dict()["findings"] if f["code"] == "dose.daily_max"]
    assert g["severity"] == "moderate" and "times_limit" not in g["evidence"]
