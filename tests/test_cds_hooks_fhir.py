"""FHIR R4 MedicationRequest and prefetch → regimen: the pure mapping in checker.http.fhir."""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path

import pytest

from checker import check
from checker.http import fhir

FIXTURES = Path(__file__).parent / "fixtures" / "fhir"
RX = fhir.RXNORM
UCUM = "http://unitsofmeasure.org"
TODAY = date(2026, 11, 27)


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def order(
    display: str | None = None,
    *,
    code: str | None = None,
    system: str = RX,
    dose=None,
    repeat: dict | None = None,
    **dosage,
) -> dict:
    """A MedicationRequest in the HL7 shape with one dosageInstruction."""
    concept: dict = {
        "coding": [
            {
                "system": system,
                **({"code": code} if code else {}),
                **({"display": display} if display else {}),
            }
        ]
    }
    d: dict = dict(dosage)
    if dose is not None:
        d["doseAndRate"] = [{"doseQuantity": dose} if "value" in dose else dose]
    if repeat is not None:
        d["timing"] = {"repeat": repeat}
    return {
        "resourceType": "MedicationRequest",
        "id": "mr-1",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/p-1"},
        "medicationCodeableConcept": concept,
        "dosageInstruction": [d],
    }


def qty(value, code, unit=None):
    return {"value": value, "unit": unit or code, "system": UCUM, "code": code}


def one(req: dict) -> dict:
    [med] = fhir.medication_request(req).medications
    return med


def test_fixture_bundle_maps_every_order():
    orders = list(fhir.draft_orders(load("draft-orders.json")))
    by_ref = {o.ref: o.medications[0] for o in orders}
    assert by_ref["MedicationRequest/apap-1"] == {
        "drug": "Acetaminophen",
        "rxcui": "198440",
        "frequency": "q6h",
        "route": "oral",
        "dose": 1000.0,
        "unit": "mg",
    }
    apap2 = by_ref["MedicationRequest/apap-2"]
    assert apap2["dose"] == "650-975" and apap2["prn"] is True
    assert apap2["max_daily_dose"] == 3900 and apap2["max_daily_unit"] == "mg"
    assert by_ref["MedicationRequest/vitd-1"]["unit"] == "IU"
    ra = by_ref["MedicationRequest/ra-1"]
    assert (ra["dose"], ra["unit"], ra["route"], ra["frequency"]) == (55, "kBq/kg", "iv", "every 4 weeks")


def test_fentanyl_patch_count_dose_takes_strength_from_the_clinical_drug_name():
    med = one(
        order(
            "72 HR Fentanyl 0.075 MG/HR Transdermal System",
            code="245134",
            dose=qty(1, "{patch}", "patch"),
            repeat={"frequency": 1, "period": 72, "periodUnit": "h"},
        )
    )
    assert (med["drug"], med["dose"], med["unit"], med["route"], med["frequency"]) == (
        "Fentanyl",
        75.0,
        "ug/h",
        "transdermal",
        "q72h",
    )


def test_patch_without_timing_is_changed_as_its_name_says():
    med = one(order("72 HR Fentanyl 0.025 MG/HR Transdermal System", dose=qty(1, "{patch}")))
    assert med["frequency"] == "every 72 h" and med["dose"] == 25.0


@pytest.mark.parametrize(
    "name",
    [
        "oxycodone hydrochloride 10 MG 12HR Extended Release Oral Tablet",
        "12 HR oxycodone hydrochloride 10 MG Extended Release Oral Tablet",
    ],
)
def test_oxycodone_tablet_count_dose(name):
    med = one(
        order(name, dose=qty(2, "{tbl}", "tablet"), repeat={"frequency": 2, "period": 1, "periodUnit": "d"})
    )
    assert (med["drug"], med["dose"], med["unit"], med["route"], med["frequency"]) == (
        "oxycodone hydrochloride",
        20.0,
        "mg",
        "oral",
        "q12h",
    )


def test_combination_product_becomes_one_medication_per_ingredient():
    mapped = fhir.medication_request(
        order(
            "acetaminophen 325 MG / oxycodone hydrochloride 5 MG Oral Tablet",
            dose=qty(2, "{tbl}"),
            repeat={"frequency": 1, "period": 4, "periodUnit": "h"},
        )
    )
    assert [(m["drug"], m["dose"], m["unit"], m["frequency"]) for m in mapped.medications] == [
        ("acetaminophen", 650.0, "mg", "q4h"),
        ("oxycodone hydrochloride", 10.0, "mg", "q4h"),
    ]
    assert all("rxcui" not in m for m in mapped.medications)  # the SCD code names neither ingredient


def test_ml_dose_of_a_per_ml_strength():
    med = one(
        order(
            "morphine sulfate 2 MG/ML Injectable Solution",
            dose=qty(2.5, "mL"),
            route={"coding": [{"system": fhir.SNOMED, "code": "47625008"}]},
        )
    )
    assert (med["dose"], med["unit"], med["route"]) == (5.0, "mg", "iv")


@pytest.mark.parametrize(
    ("repeat", "expected"),
    [
        ({"frequency": 1, "period": 6, "periodUnit": "h"}, "q6h"),
        ({"frequency": 2, "period": 1, "periodUnit": "d"}, "q12h"),
        ({"frequency": 1, "period": 4, "periodUnit": "wk"}, "every 4 weeks"),
        ({"frequency": 1, "period": 1, "periodUnit": "d"}, "daily"),
        ({"frequency": 1, "frequencyMax": 2, "period": 4, "periodMax": 6, "periodUnit": "h"}, "q2h"),
        ({"frequency": 1, "period": 30, "periodUnit": "min"}, "every 30 min"),
        ({"count": 1}, "once"),
        ({"timeOfDay": ["08:00:00", "20:00:00"]}, "q12h"),
        ({"frequency": 3}, "q8h"),
        ({"frequency": 1, "period": 1, "periodUnit": "mo"}, "every 30 days"),
    ],
)
def test_timing_to_a_frequency_the_engine_reads(repeat, expected):
    med = one(order("ibuprofen", dose=qty(200, "mg"), repeat=repeat))
    assert med["frequency"] == expected
    report = check({"medications": [med]}).to_dict()
    assert report["medications"][0].get("interval_h") or expected == "once"


def test_bounds_duration_and_count_give_duration_days():
    med = one(
        order(
            "ketorolac",
            dose=qty(15, "mg"),
            repeat={
                "frequency": 1,
                "period": 6,
                "periodUnit": "h",
                "boundsDuration": {"value": 1, "code": "wk", "system": UCUM},
            },
        )
    )
    assert med["duration_days"] == 7
    med = one(
        order(
            "ketorolac",
            dose=qty(15, "mg"),
            repeat={"frequency": 4, "period": 1, "periodUnit": "d", "count": 20},
        )
    )
    assert med["duration_days"] == 5


@pytest.mark.parametrize(
    ("code", "route"),
    [
        ("26643006", "oral"),
        ("47625008", "iv"),
        ("34206005", "sc"),
        ("78421000", "im"),
        ("45890007", "transdermal"),
        ("46713006", "intranasal"),
    ],
)
def test_snomed_routes(code, route):
    med = one(order("morphine", dose=qty(5, "mg"), route={"coding": [{"system": fhir.SNOMED, "code": code}]}))
    assert med["route"] == route


def test_route_text_and_display_fall_back():
    assert one(order("morphine", dose=qty(5, "mg"), route={"text": "IV push"}))["route"] == "IV push"
    disp = {"coding": [{"system": "urn:local", "code": "x", "display": "Subcutaneous route"}]}
    assert one(order("morphine", dose=qty(5, "mg"), route=disp))["route"] == "Subcutaneous"


@pytest.mark.parametrize(
    ("quantity", "unit"),
    [
        (qty(1, "ug"), "ug"),
        (qty(1, "mg"), "mg"),
        (qty(1, "[iU]"), "IU"),
        (qty(1, "[IU]"), "IU"),
        (qty(1, "mcg"), "ug"),
        (qty(1, "kBq/kg"), "kBq/kg"),
        (qty(1, "mCi/kg"), "mCi/kg"),
        (qty(1, "ug/h"), "ug/h"),
        ({"value": 1, "unit": "mg"}, "mg"),
        (qty(1, "mg{total}"), "mg"),
    ],
)
def test_ucum_units(quantity, unit):
    assert fhir.ucum_unit(quantity) == (unit, False)


@pytest.mark.parametrize("code", ["{patch}", "{tbl}", "{tablet}", "1", "{actuat}"])
def test_ucum_count_units(code):
    assert fhir.ucum_unit(qty(1, code))[1] is True


def test_codes_go_to_rxcui_and_atc_and_text_to_drug():
    req = order(None, code="N02BE01", system=fhir.ATC, dose=qty(500, "mg"))
    req["medicationCodeableConcept"]["text"] = "Paracetamol"
    med = one(req)
    assert med == {"drug": "Paracetamol", "atc": "N02BE01", "dose": 500.0, "unit": "mg"}
    report = check({"medications": [med]}).to_dict()
    assert report["medications"][0]["drug"] == "acetaminophen"


def test_as_needed_and_max_dose_per_period():
    med = one(
        order(
            "oxycodone",
            dose={"doseRange": {"low": qty(5, "mg"), "high": qty(10, "mg")}},
            repeat={"frequency": 1, "period": 4, "periodUnit": "h"},
            asNeededBoolean=True,
            maxDosePerPeriod={"numerator": qty(40, "mg"), "denominator": qty(12, "h")},
        )
    )
    assert med["prn"] is True and med["dose"] == "5-10"
    assert (med["max_daily_dose"], med["max_daily_unit"]) == (80, "mg")


def test_medication_reference_to_contained_medication():
    req = order("x", dose=qty(1, "g"))
    del req["medicationCodeableConcept"]
    req["contained"] = [
        {
            "resourceType": "Medication",
            "id": "med1",
            "code": {"coding": [{"system": RX, "code": "161", "display": "Acetaminophen"}]},
        }
    ]
    req["medicationReference"] = {"reference": "#med1"}
    assert one(req)["drug"] == "Acetaminophen"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda r: r.pop("medicationCodeableConcept"),
        lambda r: r.update(medicationCodeableConcept={"coding": [{"system": RX}]}),
        lambda r: r.update(resourceType="ServiceRequest"),
    ],
)
def test_unreadable_orders_raise_fhir_error(mutate):
    req = order("ibuprofen", dose=qty(200, "mg"))
    mutate(req)
    with pytest.raises(fhir.FhirError):
        fhir.medication_request(req)


def test_draft_orders_reports_unreadable_and_skips_other_resources():
    bad = order("ibuprofen", dose=qty(200, "mg"))
    del bad["medicationCodeableConcept"]
    bundle = {
        "resourceType": "Bundle",
        "entry": [
            {"resource": bad},
            {"resource": {"resourceType": "ServiceRequest", "id": "s1"}},
            {"resource": {**order("ibuprofen"), "id": "gone", "status": "entered-in-error"}},
        ],
    }
    [(ref, reason)] = fhir.draft_orders(bundle)
    assert ref == "MedicationRequest/mr-1" and "names no medication" in reason


def test_patient_from_prefetch_fixture():
    p = fhir.patient(load("prefetch.json"), "p-001", TODAY)
    assert p == {
        "id": "p-001",
        "age_years": 71.0,
        "sex": "female",
        "weight_kg": 52.0,
        "serum_creatinine": "141 umol/L",
        "egfr": 41.0,
        "serum_calcium": "2.05 mmol/L",
        "platelets": "140 10^9/L",
        "qtc_ms": 462.0,
    }
    report = check({"patient": p, "medications": []})  # the schema accepts every mapped field
    assert report.findings == () or report.to_dict()


def test_latest_observation_wins_and_pounds_convert():
    pre = load("prefetch.json")
    pre = copy.deepcopy(pre)
    weights = pre["weight"]["entry"]
    weights.append(
        {
            "resource": {
                **weights[0]["resource"],
                "effectiveDateTime": "2026-11-25T08:00:00Z",
                "valueQuantity": {"value": 110, "system": UCUM, "code": "[lb_av]"},
            }
        }
    )
    assert fhir.patient(pre, today=TODAY)["weight_kg"] == pytest.approx(49.9, abs=0.1)


@pytest.mark.parametrize(
    ("birth", "age"), [("1955-11-27", 71), ("1955-11-28", 70), ("1955", 71), ("2030-01-01", None)]
)
def test_age_from_birth_date(birth, age):
    assert fhir.age_years(birth, TODAY) == age
