"""Every FHIR Dosage a MedicationRequest can carry, read strictly: several instructions, timing
codes, repeat.when, asNeeded*, maxDosePerPeriod, doseRange, rateQuantity; hostile numbers and
wrong JSON types are a FhirError naming the field; Observations are read with their UCUM unit."""

from __future__ import annotations

import copy
import math
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checker import check
from checker.http import fhir

UCUM = "http://unitsofmeasure.org"
GTS = "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation"


def qty(value, code):
    return {"value": value, "unit": code, "system": UCUM, "code": code}


def dosage(value=1, unit="g", repeat=None, **extra) -> dict:
    d: dict = {"doseAndRate": [{"doseQuantity": qty(value, unit)}], **extra}
    if repeat is not None:
        d["timing"] = {"repeat": repeat}
    return d


def request(*dosages: dict, name: str = "acetaminophen") -> dict:
    return {
        "resourceType": "MedicationRequest",
        "id": "mr-1",
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": {"text": name},
        "dosageInstruction": list(dosages),
    }


def one(req: dict) -> dict:
    [med] = fhir.medication_request(req).medications
    return med


def report(med: dict) -> dict:
    return check({"medications": [{**med, "route": med.get("route", "oral")}]}).to_dict()


DAILY = {"frequency": 1, "period": 1, "periodUnit": "d"}


def test_five_doses_at_different_times_of_day_are_summed():
    """Issue 16: acetaminophen 1 g at five times of day was read as 1 g/day, with no finding."""
    times = ["06:00:00", "10:00:00", "14:00:00", "18:00:00", "22:00:00"]
    req = request(*(dosage(1, "g", {**DAILY, "timeOfDay": [t]}) for t in times))
    med = one(req)
    assert (med["dose"], med["unit"], med["max_daily_dose"]) == (1, "g", 5)
    rep = report(med)
    assert rep["medications"][0]["daily_dose"] == "5 g/day"
    assert "dose.daily_max" in {f["code"] for f in rep["findings"]}


def test_concurrent_instructions_in_different_units_add_up():
    req = request(dosage(1, "g", {**DAILY, "when": ["MORN"]}), dosage(500, "mg", {**DAILY, "when": ["HS"]}))
    med = one(req)
    assert med["max_daily_dose"] == 1.5 and med["unit"] == "g"
    assert report(med)["medications"][0]["daily_dose"] == "1.5 g/day"


def test_sequential_steps_are_checked_at_the_heaviest_not_summed():
    step1 = dosage(5, "mg", {"frequency": 1, "period": 6, "periodUnit": "h"}, sequence=1)
    step2 = dosage(10, "mg", {"frequency": 1, "period": 4, "periodUnit": "h"}, sequence=2)
    med = one(request(step1, step2, name="oxycodone"))
    assert (med["dose"], med["frequency"], med["max_daily_dose"]) == (10, "q4h", 60)


def test_steps_with_durations_add_their_durations():
    bounds = {"boundsDuration": {"value": 3, "code": "d", "system": UCUM}}
    s1 = dosage(10, "mg", {"frequency": 4, "period": 1, "periodUnit": "d", **bounds}, sequence=1)
    s2 = dosage(15, "mg", {"frequency": 4, "period": 1, "periodUnit": "d", **bounds}, sequence=2)
    assert one(request(s1, s2, name="ketorolac"))["duration_days"] == 6


def test_text_only_instructions_are_joined_as_a_sig():
    req = request({"text": "1 g po qam"}, {"text": "500 mg po qhs"})
    med = one(req)
    assert med["sig"] == "1 g po qam and 500 mg po qhs"
    assert report(med)["medications"][0]["daily_dose"] == "1.5 g/day"


@pytest.mark.parametrize(
    ("code", "hours"),
    [("BID", 12), ("TID", 8), ("QID", 6), ("AM", 24), ("PM", 24), ("BED", 24), ("WK", 168), ("Q4H", 4),
     ("QD", 24), ("QOD", 48), ("Q6H", 6), ("MO", 720), ("Q1H", 1), ("Q2H", 2), ("Q3H", 3), ("Q8H", 8)],
)  # fmt: skip
@pytest.mark.parametrize("shape", ["concept", "text", "string"])
def test_timing_codes(code, hours, shape):
    concept = {
        "concept": {"coding": [{"system": GTS, "code": code}]},
        "text": {"text": code},
        "string": code,  # hostile: a bare string where a CodeableConcept belongs
    }[shape]
    d = dosage(500, "mg")
    d["timing"] = {"code": concept}
    med = one(request(d))
    assert report(med)["medications"][0]["interval_h"] == hours


@pytest.mark.parametrize(
    ("when", "hours"), [(["MORN", "NIGHT"], 12), (["C"], 8), (["ACM", "ACD", "ACV", "HS"], 6), (["HS"], 24)]
)
def test_repeat_when_counts_the_times_of_day(when, hours):
    med = one(request(dosage(500, "mg", {"when": when})))
    assert report(med)["medications"][0]["interval_h"] == hours


def test_count_dose_without_a_strength_stays_a_count():
    """A tablet count of a product the name gives no strength for reaches the engine as a count."""
    med = one(request(dosage(2, "{tbl}"), name="Norco"))
    assert (med["dose"], med["unit"]) == (2, "tablet")


HOSTILE = [
    (lambda r: r["dosageInstruction"][0]["timing"]["repeat"].update(period=math.nan), "repeat.period"),
    (lambda r: r["dosageInstruction"][0]["timing"]["repeat"].update(period=math.inf), "repeat.period"),
    (lambda r: r["dosageInstruction"][0]["timing"]["repeat"].update(period=1e308), "repeat.period"),
    (lambda r: r["dosageInstruction"][0]["timing"]["repeat"].update(period="6"), "repeat.period"),
    (lambda r: r["dosageInstruction"][0]["timing"]["repeat"].update(period=True), "repeat.period"),
    (lambda r: r["dosageInstruction"][0]["timing"]["repeat"].update(period=-6), "repeat.period"),
    (lambda r: r["dosageInstruction"][0]["timing"]["repeat"].update(frequency=0), "repeat.frequency"),
    (lambda r: r["dosageInstruction"][0]["timing"]["repeat"].update(frequency=10**400), "repeat.frequency"),
    (lambda r: r["dosageInstruction"][0]["timing"]["repeat"].pop("periodUnit"), "repeat.period"),
    (lambda r: r["dosageInstruction"][0]["timing"].update(repeat=[1]), "timing.repeat"),
    (lambda r: r["dosageInstruction"][0].update(timing="q6h"), "timing"),
    (lambda r: r["dosageInstruction"][0].update(doseAndRate={"doseQuantity": qty(1, "g")}), "doseAndRate"),
    (lambda r: r["dosageInstruction"][0].update(doseAndRate="1 g"), "doseAndRate"),
    (lambda r: r["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"].update(value=10**400), "value"),
    (lambda r: r["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"].update(value=0), "value"),
    (lambda r: r["dosageInstruction"][0]["doseAndRate"][0].update(doseQuantity=[1]), "doseQuantity"),
    (lambda r: r.update(dosageInstruction={"text": "1 g"}), "dosageInstruction"),
    (lambda r: r.update(dosageInstruction="1 g q6h"), "dosageInstruction"),
    (lambda r: r.update(dosageInstruction=[1, 2]), "dosageInstruction"),
    (lambda r: r.update(contained="x"), "contained"),
    (lambda r: r.update(contained={"id": "a"}), "contained"),
    (lambda r: r["dosageInstruction"][0].update(maxDosePerPeriod="4 g"), "maxDosePerPeriod"),
    (lambda r: r["dosageInstruction"][0].update(sequence=math.nan), "sequence"),
]


@pytest.mark.parametrize(("mutate", "field"), HOSTILE)
def test_hostile_values_are_a_fhir_error_naming_the_field(mutate, field):
    req = request(dosage(1, "g", {"frequency": 1, "period": 6, "periodUnit": "h"}))
    mutate(req)
    with pytest.raises(fhir.FhirError) as err:
        fhir.medication_request(req)
    assert field in str(err.value)


json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True, allow_infinity=True) | st.integers()
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["value", "code", "unit", "frequency", "period", "periodUnit", "repeat", "timing",
                         "doseAndRate", "doseQuantity", "doseRange", "low", "high", "when", "sequence",
                         "coding", "text", "asNeededBoolean", "maxDosePerPeriod", "numerator", "denominator",
                         "boundsDuration", "count", "timeOfDay", "rateQuantity", "frequencyMax"]),
        inner, max_size=5),
    max_leaves=25,
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(dosages=st.lists(json_values, min_size=1, max_size=3), contained=json_values)
def test_any_json_in_a_dosage_maps_or_raises_fhir_error(dosages, contained):
    req = request(name="acetaminophen 500 MG Oral Tablet")
    req["dosageInstruction"] = dosages
    req["contained"] = contained
    try:
        order = fhir.medication_request(copy.deepcopy(req))
    except fhir.FhirError:
        return
    for med in order.medications:
        for value in med.values():
            assert not isinstance(value, float) or math.isfinite(value)


# --- Observations by their UCUM unit -----------------------------------------------------------------


def observation(loinc: str, value, code: str | None) -> dict:
    q = {"value": value, **({"code": code, "system": UCUM, "unit": code} if code else {})}
    return {"resourceType": "Observation", "status": "final", "effectiveDateTime": "2026-11-20",
            "code": {"coding": [{"system": fhir.LOINC, "code": loinc}]}, "valueQuantity": q}  # fmt: skip


def read(*observations: dict) -> tuple[dict, dict]:
    prefetch = {"labs": {"resourceType": "Bundle", "entry": [{"resource": o} for o in observations]}}
    return fhir.patient_and_refused(prefetch, None, date(2026, 11, 27))


@pytest.mark.parametrize(
    ("loinc", "value", "code", "field", "expected"),
    [
        ("2164-2", 2280, "mL/h", "crcl_ml_min", 38),
        ("2164-2", 0.5, "mL/s", "crcl_ml_min", 30),
        ("2164-2", 38, "mL/min", "crcl_ml_min", 38),
        ("2164-2", 2.28, "L/h", "crcl_ml_min", 38),
        ("33914-3", 41, "mL/min/{1.73_m2}", "egfr", 41),
        ("62238-1", 0.7, "mL/s/{1.73_m2}", "egfr", 42),
        ("8636-3", 0.462, "s", "qtc_ms", 462),
        ("8636-3", 462, "ms", "qtc_ms", 462),
        ("29463-7", 110, "[lb_av]", "weight_kg", 49.895),
        ("2160-0", 141, "umol/L", "serum_creatinine", "141 umol/L"),
        ("17861-6", 2.05, "mmol/L", "serum_calcium", "2.05 mmol/L"),
        ("777-3", 140, "10*3/uL", "platelets", "140 10^9/L"),
    ],
)
def test_observations_are_converted_by_their_unit(loinc, value, code, field, expected):
    fields, refused = read(observation(loinc, value, code))
    assert refused == {}
    want = pytest.approx(expected, rel=1e-3) if isinstance(expected, float | int) else expected
    assert fields[field] == want


@pytest.mark.parametrize(
    ("loinc", "value", "code", "field"),
    [("2164-2", 38, None, "crcl_ml_min"), ("2164-2", 38, "mg", "crcl_ml_min"), ("33914-3", 41, None, "egfr"),
     ("2160-0", 1.6, None, "serum_creatinine"), ("8636-3", 462, "cm", "qtc_ms"),
     ("29463-7", 52, None, "weight_kg"),
     ("2164-2", math.nan, "mL/min", "crcl_ml_min"), ("2164-2", 10**400, "mL/min", "crcl_ml_min")],
)  # fmt: skip
def test_a_lab_number_without_its_unit_is_refused(loinc, value, code, field):
    fields, refused = read(observation(loinc, value, code))
    assert field not in fields
    assert field in refused and refused[field][0]
