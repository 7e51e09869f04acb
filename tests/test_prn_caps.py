"""A PRN cap in tablets on a combination product becomes a cap on each ingredient ("Norco 5/325,
1-2 tabs q4-6h PRN, max 8 tabs/day" is at most 2.6 g/day of acetaminophen), from the sig, the
structured fields and FHIR maxDosePerPeriod; a cap that cannot be read is a finding naming the
field, never silently dropped."""

from __future__ import annotations

import uuid

import pytest

from checker import check
from checker.http import create_app, fhir

UCUM = "http://unitsofmeasure.org"
TABLETS = {"unit": "tablet", "system": UCUM, "code": "{tbl}"}
PATIENT = {"age_years": 50, "hepatic_impairment": "none"}


def _report(*meds: dict) -> dict:
    return check({"patient": PATIENT, "medications": list(meds)}).to_dict()


def _daily(report: dict, drug: str) -> str:
    [entry] = report["medications"]
    return next(i["daily"] for i in entry["ingredients"] if i["drug"] == drug)


def _codes(report: dict) -> set[str]:
    return {f["code"] for f in report["findings"]}


@pytest.mark.parametrize(
    "med",
    [
        {"drug": "Norco 5/325", "sig": "1-2 tabs po q4-6h prn pain, max 8 tabs/day"},
        {"drug": "Norco 5/325", "sig": "1-2 tabs po q4-6h prn pain (max 8/day)"},
        {"drug": "Norco 5/325", "sig": "1-2 tabs q4h prn, not to exceed 8 tablets per day"},
        {"drug": "Norco 5/325", "sig": "1-2 tabs q4h prn, do not exceed 8 tablets per day"},
        {"drug": "Norco 5/325", "sig": "one to two tablets every 4 hours as needed, no more than 8 tabs/day"},
        {"drug": "Norco 5/325", "sig": "1-2 tabs q4h prn, not more than 8/day"},
        {"drug": "Norco 5/325", "dose": 2, "unit": "tab", "frequency": "q4h", "prn": True,
         "max_daily_dose": 8, "max_daily_unit": "tablets"},
        {"drug": "hydrocodone-acetaminophen 5-325 mg tablet", "dose": "1-2", "unit": "tablets",
         "frequency": "q4-6h", "prn": True, "max_daily_dose": 8, "max_daily_unit": "tab"},
    ],
)  # fmt: skip
def test_tablet_cap_on_a_combination_caps_each_ingredient(med):
    report = _report(med)
    assert _daily(report, "acetaminophen") == "2.6 g/day"  # 8 × 325 mg, not 12 × 325 mg
    assert _daily(report, "hydrocodone") == "40 mg/day"
    assert "input.max_daily_unreadable" not in _codes(report)


def test_the_cap_decides_the_daily_limit_finding():
    capped = _report({"drug": "Percocet 5/325", "sig": "2 tabs q3h prn pain, max 8 tabs/day"})
    assert "dose.daily_max" not in _codes(capped)  # 8 × 325 mg = 2.6 g/day
    uncapped = _report({"drug": "Percocet 5/325", "sig": "2 tabs q3h prn pain"})
    assert "dose.daily_max" in _codes(uncapped)  # 16 × 325 mg = 5.2 g/day
    over = _report({"drug": "Percocet 5/325", "sig": "2 tabs q3h prn pain, max 14 tabs/day"})
    [f] = [f for f in over["findings"] if f["code"] == "dose.daily_max"]
    assert f["evidence"]["actual"] == "4.55 g/day" and f["evidence"]["orders"][0]["capped"] is True


def test_a_cap_above_the_schedule_changes_nothing():
    report = _report({"drug": "Norco 10/325", "sig": "1 tab q6h prn, max 12 tabs/day"})
    assert _daily(report, "acetaminophen") == "1.3 g/day"


def test_tablet_cap_on_a_single_ingredient_product():
    report = _report({"drug": "Tylenol Extra Strength", "sig": "2 tabs q4h prn, max 6 tabs/day"})
    assert _daily(report, "acetaminophen") == "3 g/day"
    assert "dose.daily_max" not in _codes(report)


@pytest.mark.parametrize(
    ("med", "field"),
    [
        ({"drug": "acetaminophen", "dose": 1, "unit": "g", "frequency": "q4h", "prn": True,
          "max_daily_dose": 3, "max_daily_unit": "bottles"}, "max_daily_unit"),
        ({"drug": "acetaminophen", "dose": 1, "unit": "g", "frequency": "q4h", "prn": True,
          "max_daily_dose": 8, "max_daily_unit": "tabs"}, "max_daily_unit"),
        ({"drug": "Norco 5/325", "dose": 2, "unit": "tab", "frequency": "q4h", "prn": True,
          "max_daily_dose": 3, "max_daily_unit": "g"}, "max_daily_unit"),
        ({"drug": "acetaminophen", "sig": "1 g q4h prn, max 8 tabs/day"}, "sig"),
    ],
)  # fmt: skip
def test_an_unreadable_cap_is_a_finding_naming_the_field(med, field):
    report = _report(med)
    [f] = [f for f in report["findings"] if f["code"] == "input.max_daily_unreadable"]
    assert f["category"] == "input" and f["severity"] == "moderate"
    assert (field in f["message"]) if field != "sig" else ("sig" in f["message"])
    # the total is not lowered by a cap that was not read
    assert any(o["daily"] for e in report["medications"] for o in e["ingredients"])


def test_an_unreadable_cap_over_http():
    client = create_app({"TESTING": True}).test_client()
    med = {"drug": "acetaminophen", "dose": 1, "unit": "g", "frequency": "q4h", "prn": True,
           "max_daily_dose": 3, "max_daily_unit": "zz"}  # fmt: skip
    body = client.post("/v1/check", json={"medications": [med]}).get_json()
    hits = [f for f in body["findings"] if f["code"] == "input.max_daily_unreadable"]
    assert hits and "max_daily_unit" in hits[0]["message"] and hits[0]["severity"] == "moderate"
    assert "dose.daily_max" in {f["code"] for f in body["findings"]}  # 6 g/day still judged


def _norco_request(name: str, coding: list | None = None) -> dict:
    return {
        "resourceType": "MedicationRequest", "id": "mr-norco", "status": "draft", "intent": "order",
        "subject": {"reference": "Patient/p-1"},
        "medicationCodeableConcept": {"text": name, **({"coding": coding} if coding else {})},
        "dosageInstruction": [{
            "asNeededBoolean": True,
            "doseAndRate": [{"doseRange": {"low": {"value": 1, **TABLETS}, "high": {"value": 2, **TABLETS}}}],
            "timing": {"repeat": {"frequency": 1, "period": 4, "periodMax": 6, "periodUnit": "h"}},
            "maxDosePerPeriod": {"numerator": {"value": 8, **TABLETS},
                                 "denominator": {"value": 1, "unit": "d", "system": UCUM, "code": "d"}},
        }],
    }  # fmt: skip


@pytest.mark.parametrize(
    "req",
    [
        _norco_request("Norco 5/325"),  # named in text: the cap goes on as tablets
        _norco_request("", [{"system": fhir.RXNORM, "code": "857002",
                             "display": "acetaminophen 325 MG / hydrocodone bitartrate 5 MG Oral Tablet"}]),
    ],
)  # fmt: skip
def test_fhir_max_dose_per_period_in_tablets(req):
    meds = fhir.medication_request(req).medications
    report = _report(*meds)
    daily = {i["drug"]: i["daily"] for e in report["medications"] for i in e["ingredients"]}
    assert daily["acetaminophen"] == "2.6 g/day" and daily["hydrocodone"] == "40 mg/day"
    assert "input.max_daily_unreadable" not in _codes(report)


def test_fhir_cap_in_tablets_over_cds_hooks():
    client = create_app({"TESTING": True}).test_client()
    req = _norco_request("Percocet 5/325")
    req["dosageInstruction"][0]["doseAndRate"][0] = {"doseQuantity": {"value": 2, **TABLETS}}
    req["dosageInstruction"][0]["timing"] = {"repeat": {"frequency": 1, "period": 3, "periodUnit": "h"}}

    def codes(r: dict) -> set[str]:
        body = {"hook": "order-sign", "hookInstance": str(uuid.uuid4()),
                "context": {"userId": "Practitioner/1", "patientId": "p-1",
                            "draftOrders": {"resourceType": "Bundle", "type": "collection",
                                            "entry": [{"resource": r}]}}}  # fmt: skip
        resp = client.post("/cds-services/medcheck-order-sign", json=body)
        assert resp.status_code == 200
        return {c.get("extension", {}).get("medcheck", {}).get("code") for c in resp.get_json()["cards"]}

    assert "dose.daily_max" not in codes(req)  # 8 tablets = 2.6 g/day of acetaminophen
    del req["dosageInstruction"][0]["maxDosePerPeriod"]
    assert "dose.daily_max" in codes(req)  # 16 tablets = 5.2 g/day
