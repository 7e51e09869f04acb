"""Opioid orders as they are really written, where a quiet default was unsafe (2026-12-07).

Plain "oxycodone" is immediate-release for every rule, not only the dose rows; OxyContin's
tolerant-only 40 mg/80 mg statement is an extended-release row; a neuraxial route is never checked
or converted as oral; an opioid load that could not be fully counted is never shown as a
reassuring total."""

from __future__ import annotations

import pytest

from checker import check
from checker.http import fhir


def findings(meds: list[dict], **patient) -> dict[str, dict]:
    report = check({"patient": {"age_years": 60, **patient}, "medications": meds}).to_dict()
    return {f["code"]: f for f in report["findings"]}


def oxy(name: str, dose: float, freq: str = "q12h") -> dict:
    return {"drug": name, "dose": dose, "unit": "mg", "route": "oral", "frequency": freq}


@pytest.mark.parametrize("name", ["oxycodone", "Oxycodone", "oxycodone hydrochloride", "Roxicodone"])
def test_plain_oxycodone_in_an_opioid_naive_patient_is_not_called_long_acting(name):
    got = findings([oxy(name, 5, "q6h")], opioid_tolerant=False)
    assert "opioid_naive.long_acting" not in got
    assert "monitoring.opioid_tolerance_unknown" not in findings([oxy(name, 5, "q6h")])


@pytest.mark.parametrize("name", ["OxyContin", "oxycodone ER", "Xtampza ER"])
def test_extended_release_oxycodone_still_is(name):
    got = findings([oxy(name, 10)], opioid_tolerant=False)
    assert got["opioid_naive.long_acting"]["severity"] == "moderate"
    assert "monitoring.opioid_tolerance_unknown" in findings([oxy(name, 10)])


def test_oxycontin_tolerant_only_doses_apply_to_the_extended_release_product_only():
    er = findings([oxy("OxyContin", 50)], opioid_tolerant=False)
    assert any(f["rule"].startswith("dose.oxycodone.") for f in er.values())
    ir = findings([oxy("oxycodone", 50, "q6h")], opioid_tolerant=False)
    assert not any(f["rule"].startswith("dose.oxycodone.") for f in ir.values())
    # the IR order is still flagged: far above the opioid-naive starting dose (15 mg)
    assert ir["opioid_naive.start"]["severity"] == "major"


@pytest.mark.parametrize("route", ["intrathecal", "IT", "epidural"])
def test_a_neuraxial_opioid_is_neither_checked_nor_counted_as_oral(route):
    got = findings([{"drug": "morphine", "dose": 0.5, "unit": "mg", "route": route, "frequency": "daily"}])
    assert got["input.route_unlabelled"]["severity"] == "moderate"
    load = got["opioid_load.incomplete"]
    assert load["severity"] == "moderate" and load["evidence"]["actual"] == "unknown"
    assert load["evidence"]["not_counted"][0]["reason"].endswith("route")
    assert "opioid_load.total" not in got and "input.route_unknown" not in got


def test_fhir_snomed_route_codes_for_neuraxial_routes():
    req = {
        "resourceType": "MedicationRequest", "id": "mr-1", "status": "draft", "intent": "order",
        "medicationCodeableConcept": {"text": "morphine"},
        "dosageInstruction": [{
            "route": {"coding": [{"system": "http://snomed.info/sct", "code": "72607000"}]},
            "doseAndRate": [{"doseQuantity": {"value": 0.2, "unit": "mg", "system": "http://unitsofmeasure.org",
                                              "code": "mg"}}],
        }],
    }  # fmt: skip
    [med] = fhir.medication_request(req).medications
    assert med["route"] == "intrathecal"


@pytest.mark.parametrize("route", ["NG tube", "per NG", "PEG", "G-tube", "per tube"])
def test_enteral_tubes_are_the_oral_route(route):
    got = findings([{"drug": "acetaminophen", "dose": 1.5, "unit": "g", "route": route, "frequency": "q6h"}])
    assert "input.route_unknown" not in got
    assert got["dose.daily_max"]["drugs"] == ["acetaminophen"]


def test_an_opioid_load_with_an_unconvertible_order_is_a_lower_bound_not_a_total():
    meds = [oxy("oxycodone", 5, "q6h"), {"drug": "morphine", "route": "oral"}]
    got = findings(meds)
    load = got["opioid_load.incomplete"]
    assert load["severity"] == "moderate"
    assert load["evidence"]["actual"] == "at least 30 MME/day"
    assert "lower bound" in load["message"] and "50 MME/day" in load["message"]
    assert load["rule"] == "opioid_load.incomplete"
    assert "opioid_load.total" not in got


def test_nothing_converted_never_reads_as_zero_mme():
    got = findings([{"drug": "oxycodone"}])
    assert "0 MME" not in got["opioid_load.incomplete"]["message"]
    cancer = findings([{"drug": "oxycodone"}], conditions=["cancer"])
    total = cancer["opioid_load.total"]
    assert total["severity"] == "info" and "0 MME" not in total["message"]


def test_a_threshold_already_passed_is_still_the_threshold_finding():
    meds = [oxy("oxycodone", 30, "q4h"), {"drug": "morphine"}]
    got = findings(meds)
    assert "opioid_load.threshold" in got and "opioid_load.incomplete" not in got
    assert "could not be converted" in got["opioid_load.threshold"]["message"]


def test_the_incomplete_rule_is_in_the_catalogue():
    from rules.catalogue import rules

    [row] = [r for r in rules() if r["id"] == "opioid_load.incomplete"]
    assert row["severity"] == "moderate"


def test_scheduled_ir_oxycodone_beside_an_er_opioid_is_not_a_long_acting_duplicate():
    ms_contin = {"drug": "MS Contin", "dose": 15, "unit": "mg", "route": "oral", "frequency": "q12h"}
    assert "duplication.long_acting_opioid" not in findings([ms_contin, oxy("oxycodone", 5, "q6h")])
    assert "duplication.long_acting_opioid" in findings([ms_contin, oxy("OxyContin", 10)])


@pytest.mark.parametrize(
    "order",
    [
        {"drug": "fentanyl", "dose": 100, "unit": "mcg", "route": "buccal", "frequency": "q4h", "prn": True},
        {"drug": "fentanyl buccal tablet", "dose": 100, "unit": "mcg", "frequency": "q4h", "prn": True},
        {"drug": "Fentora", "dose": 100, "unit": "mcg", "frequency": "q4h", "prn": True},
        {"drug": "Abstral", "dose": 100, "unit": "mcg", "route": "SL", "frequency": "q4h", "prn": True},
    ],
)
def test_transmucosal_fentanyl_is_not_read_as_a_patch(order):
    """Fentora PRN for breakthrough cancer pain was "contraindicated: patches must not be used as
    needed": a buccal order with no route known fell back to the drug's first route, transdermal."""
    got = findings([order])
    assert "condition.fentanyl_patch_prn" not in got
    assert "monitoring.opioid_tolerance_before_fentanyl_patch" not in got
    assert got["input.route_unlabelled"]["severity"] == "moderate"  # no labelled limits: said, not passed
    assert got["opioid_load.incomplete"]["severity"] == "moderate"  # a full agonist the table cannot count
    assert got["monitoring.opioid_tolerance_before_transmucosal_fentanyl"]["severity"] == "moderate"
    naive = findings([order], opioid_tolerant=False)
    assert naive["condition.fentanyl_transmucosal_opioid_naive"]["severity"] == "contraindicated"
    tolerant = findings([order], opioid_tolerant=True)
    assert not {"condition.fentanyl_transmucosal_opioid_naive",
                "monitoring.opioid_tolerance_before_transmucosal_fentanyl"} & set(tolerant)  # fmt: skip


@pytest.mark.parametrize("order", [{"drug": "Actiq 400 mcg", "sig": "1 lozenge q6h prn"},
                                   {"drug": "Fentora", "sig": "200 mcg buccal q4h prn"}])  # fmt: skip
def test_a_transmucosal_sig_is_read_whole_and_an_opioid_naive_patient_is_stopped(order):
    """'lozenge' and 'buccal' were words the sig parser did not know: the Actiq dose was unread."""
    got = findings([order], opioid_tolerant=False)
    assert got["condition.fentanyl_transmucosal_opioid_naive"]["severity"] == "contraindicated"
    assert not {"input.sig_dose_unclear", "input.sig_partial"} & set(got)


def test_iv_and_patch_fentanyl_are_not_called_transmucosal():
    iv = {"drug": "fentanyl", "sig": "50 mcg IV q1h prn"}
    patch = {"drug": "fentanyl patch", "sig": "25 mcg/h q72h"}
    got = findings([iv, patch], opioid_tolerant=False)
    assert "condition.fentanyl_transmucosal_opioid_naive" not in got
    assert "condition.fentanyl_patch_opioid_naive" in got


def test_a_brand_named_without_strength_keeps_its_route():
    from formulary import load

    assert load().resolve("Fentora").route == "oral"  # buccal: an oral-route product row at every strength


def test_buprenorphine_is_left_out_of_mme_by_design_not_as_incomplete():
    sl = {"drug": "buprenorphine", "dose": 8, "unit": "mg", "route": "SL", "frequency": "daily"}
    got = findings([sl, oxy("oxycodone", 5, "q6h")])
    assert "opioid_load.incomplete" not in got
    total = got["opioid_load.total"]
    assert total["evidence"]["actual"] == "30 MME/day"
    assert total["evidence"]["not_counted"][0]["drug"] == "buprenorphine"
    assert "Buprenorphine is not converted" in total["message"]


def test_an_opioid_without_a_route_is_more_than_info():
    """IV hydromorphone is about five times oral: an opioid checked on an assumed route could be
    judged on the wrong limits and the wrong MME factor, so the assumption is a minor finding."""
    got = findings([{"drug": "hydromorphone", "dose": 2, "unit": "mg", "frequency": "q4h"}])
    assumed = got["input.route_assumed"]
    assert assumed["severity"] == "minor" and "oral route" in assumed["message"]
    plain = findings([{"drug": "acetaminophen", "dose": 1, "unit": "g", "frequency": "q6h"}])
    assert plain["input.route_assumed"]["severity"] == "info"


def test_a_short_titration_course_is_not_counted_as_repeated_all_day():
    """'2 mg IV q5min x3' is three doses (6 mg), not 288 a day: it read as 1,728 MME/day."""
    got = findings([{"drug": "morphine", "sig": "2 mg IV q5min x3 prn pain"}], opioid_tolerant=True)
    assert "opioid_load.threshold" not in got
    assert got["opioid_load.total"]["severity"] == "info"
    report = check({"medications": [{"drug": "acetaminophen", "sig": "1 g po q6h x3"}]}).to_dict()
    assert report["medications"][0]["daily_dose"] == "3 g/day"
    report = check({"medications": [{"drug": "acetaminophen", "sig": "1 g po q6h x 10"}]}).to_dict()
    assert report["medications"][0]["daily_dose"] == "4 g/day"  # a course longer than a day: every 6 h


@pytest.mark.parametrize(
    ("med", "mme"),
    [
        ({"drug": "hydromorphone", "sig": "0.5 mg/hr IV continuous infusion"}, "240 MME/day"),  # 12 mg x 20
        ({"drug": "morphine", "dose": 2, "unit": "mg/h", "route": "iv"}, "144 MME/day"),  # 48 mg x 3
        ({"drug": "fentanyl", "sig": "25 mcg/hr IV continuous"}, "180 MME/day"),  # 600 ug x 0.3
    ],
)
def test_a_continuous_infusion_counts_its_rate_over_24_hours(med, mme):
    """An infusion's rate was 'dose not readable': the load was incomplete and naloxone never offered."""
    r = check({"patient": {"age_years": 60}, "medications": [med]}).to_dict()
    [load] = [f for f in r["findings"] if f["category"] == "opioid_load"]
    assert (load["code"], load["evidence"]["actual"]) == ("opioid_load.threshold", mme)
    assert "continuous =" in load["evidence"]["contributions"][0]["amount"]
    assert any(f["code"] == "monitoring.naloxone" for f in r["findings"])
    assert not any(f["code"].startswith("input.sig") for f in r["findings"])


def test_a_pca_counts_its_demand_doses_up_to_its_hourly_limit():
    """1 mg every 10 minutes is 144 mg/day, the 4-hour limit of 20 mg allows 120: 360 MME/day IV."""
    med = {"drug": "morphine", "sig": "PCA: 1 mg IV demand dose, lockout 10 min, 4-hour limit 20 mg"}
    found = findings([med])
    assert found["opioid_load.threshold"]["evidence"]["actual"] == "360 MME/day"
    assert not [c for c in found if c.startswith("input.")]


def test_an_opioid_dosed_per_kg_without_a_weight_says_the_weight_is_missing():
    med = {"drug": "morphine", "dose": 0.1, "unit": "mg/kg", "route": "iv", "frequency": "q4h"}
    found = findings([med])
    assert "weight is not known" in found["opioid_load.incomplete"]["message"]
    assert found["opioid_load.incomplete"]["severity"] == "moderate"
