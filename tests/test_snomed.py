"""SNOMED CT concept ids of the formulary's ingredients and medicinal products: validated data with
a source for every id, recognised in the FHIR reader (a MedicationRequest coded only with SNOMED CT
is checked like one coded with RxNorm) and in the name column."""

from __future__ import annotations

import uuid

import pytest

from checker import check
from checker.http import create_app, fhir
from formulary import KnowledgeError
from formulary import load as load_formulary
from formulary.vocabulary import is_sctid, load_snomed

SCT = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
HEADER = "sctid\ttarget\tkind\tdisplay\tsource\n"


def _request(coding: list[dict], text: str | None = None, value=1, unit="g", hours=4) -> dict:
    concept: dict = {"coding": coding, **({"text": text} if text else {})}
    dose = {"value": value, "unit": unit, "system": UCUM, "code": unit}
    dosage = {"route": {"coding": [{"system": SCT, "code": "26643006"}]},
              "doseAndRate": [{"doseQuantity": dose}],
              "timing": {"repeat": {"frequency": 1, "period": hours, "periodUnit": "h"}}}  # fmt: skip
    return {"resourceType": "MedicationRequest", "id": "mr-sct", "status": "draft", "intent": "order",
            "subject": {"reference": "Patient/p-1"}, "medicationCodeableConcept": concept,
            "dosageInstruction": [dosage]}  # fmt: skip


def _codes(req: dict) -> set[str]:
    meds = fhir.medication_request(req).medications
    return {f.code for f in check({"medications": list(meds)}).findings}


def test_the_seed_formulary_has_snomed_codes():
    f = load_formulary()
    seed = ["morphine", "oxycodone", "fentanyl", "hydromorphone", "tramadol", "methadone", "gabapentin",
            "pregabalin", "amitriptyline", "zoledronic_acid", "ibandronate", "denosumab", "acetaminophen",
            "ibuprofen", "diclofenac", "ketorolac", "alendronate", "teriparatide", "dexamethasone",
            "hydrocodone", "tapentadol", "buprenorphine", "warfarin", "aspirin", "sertraline"]  # fmt: skip
    coded = set(f.snomed.values())
    assert [d for d in seed if d not in coded] == []
    assert len(f.snomed) > 300
    assert f.snomed["387517004"] == "acetaminophen" and f.snomed["55452001"] == "oxycodone"


def test_every_code_is_a_well_formed_sctid_with_a_known_source():
    f = load_formulary()
    assert all(is_sctid(c) for c in f.snomed)
    for sid in ("SCT_CH", "SCT_IPS", "SCT_FHIR"):
        assert f.sources[sid].url and f.sources[sid].verified


@pytest.mark.parametrize(
    ("row", "error"),
    [
        ("387517005\tacetaminophen\tsubstance\tParacetamol (substance)\tSCT_CH", "check digit"),
        ("387517004\tno_such_drug\tsubstance\tParacetamol (substance)\tSCT_CH", "neither a drug"),
        ("387517004\tacetaminophen\tsubstance\tParacetamol (substance)\tNOPE", "unknown source"),
        ("387517004\tacetaminophen\tdrug\tParacetamol (substance)\tSCT_CH", "kind"),
        ("387517004\tacetaminophen\tsubstance\t \tSCT_CH", "term"),
    ],
)
def test_a_bad_row_stops_the_load(row, error):
    f = load_formulary()
    with pytest.raises(KnowledgeError, match=error):
        load_snomed(HEADER + row + "\n", f.drugs, f.products, f.sources)


def test_a_code_listed_twice_stops_the_load():
    f = load_formulary()
    row = "387517004\tacetaminophen\tsubstance\tParacetamol (substance)\tSCT_CH\n"
    with pytest.raises(KnowledgeError, match="twice"):
        load_snomed(HEADER + row + row, f.drugs, f.products, f.sources)


def test_fhir_request_coded_only_with_snomed_is_recognised():
    req = _request([{"system": SCT, "code": "387517004"}])  # paracetamol: no display, no text
    [med] = fhir.medication_request(req).medications
    assert med["drug"] == "acetaminophen"
    codes = _codes(req)
    assert "dose.daily_max" in codes  # 1 g every 4 h = 6 g/day: the dose was checked
    assert not any(c.startswith("unrecognized") for c in codes)


@pytest.mark.parametrize(
    ("code", "drug"),
    [("55452001", "oxycodone"), ("373529000", "morphine"), ("430127000", "oxycodone"),
     ("777067000", "acetaminophen"), ("372756006", "warfarin")],
)  # fmt: skip
def test_substance_and_medicinal_product_codes(code, drug):
    [med] = fhir.medication_request(_request([{"system": SCT, "code": code}], value=5, unit="mg")).medications
    assert load_formulary().resolve(med["drug"]).drugs[0].id == drug


def test_a_more_exact_name_for_the_same_ingredient_keeps_its_strength():
    req = _request([{"system": SCT, "code": "387517004", "display": "Paracetamol (substance)"}],
                   text="Tylenol Extra Strength", value=2, unit="{tbl}")  # fmt: skip
    [med] = fhir.medication_request(req).medications
    report = check({"medications": [med]}).to_dict()
    assert report["medications"][0]["ingredients"][0]["amount"] == "1 g"  # 2 × 500 mg


def test_the_code_wins_over_a_name_that_says_something_else():
    req = _request([{"system": SCT, "code": "387517004"}], text="Tylenoll forte")
    [med] = fhir.medication_request(req).medications
    assert med["drug"] == "acetaminophen"


def test_an_unknown_snomed_code_with_no_name_is_named_in_the_error():
    with pytest.raises(fhir.FhirError, match="SNOMED CT code 999999999"):
        fhir.medication_request(_request([{"system": SCT, "code": "999999999"}]))


def test_contained_medication_coded_with_snomed():
    req = _request([])
    req["medicationReference"] = {"reference": "#med1"}
    del req["medicationCodeableConcept"]
    req["contained"] = [{"resourceType": "Medication", "id": "med1",
                         "code": {"coding": [{"system": SCT, "code": "386858008"}]}}]  # fmt: skip
    [med] = fhir.medication_request(req).medications
    assert med["drug"] == "tramadol"


def test_snomed_only_order_over_cds_hooks():
    client = create_app({"TESTING": True}).test_client()
    req = _request([{"system": SCT, "code": "387517004"}])
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": req}]}
    body = {"hook": "order-sign", "hookInstance": str(uuid.uuid4()),
            "context": {"userId": "Practitioner/1", "patientId": "p-1", "draftOrders": bundle}}  # fmt: skip
    resp = client.post("/cds-services/medcheck-order-sign", json=body)
    assert resp.status_code == 200
    codes = {c.get("extension", {}).get("medcheck", {}).get("code") for c in resp.get_json()["cards"]}
    assert "dose.daily_max" in codes
    assert not any(c and c.startswith(("unrecognized", "input.fhir")) for c in codes)


def test_a_bare_sctid_in_the_drug_field():
    report = check({"medications": [{"drug": "387517004", "dose": 1, "unit": "g", "frequency": "q4h"}]})
    assert "dose.daily_max" in {f.code for f in report.findings}
