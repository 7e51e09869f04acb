"""An order whose name and code name different drugs (a mapping error in the sending system, a
pick-list slip): it is checked as the code says, and a major finding says the checks may be about
the wrong drug. Before 2026-12-07 the code won silently: "morphine" with a hydrocodone RxCUI was
checked, and reported, as hydrocodone with no word about the name."""

from __future__ import annotations

import pytest

from checker import check
from checker.http import fhir
from formulary import load

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def findings(med: dict) -> tuple[str | None, dict[str, dict]]:
    r = check({"patient": {"age_years": 60}, "medications": [med]}).to_dict()
    return r["medications"][0]["drug"], {f["code"]: f for f in r["findings"]}


@pytest.mark.parametrize(
    ("med", "checked_as"),
    [
        ({"drug": "morphine", "rxcui": "1860491", "dose": 15, "unit": "mg"}, "hydrocodone"),
        ({"drug": "acetaminophen", "rxcui": "7804", "dose": 1, "unit": "g"}, "oxycodone"),
        ({"drug": "morphine", "atc": "N02AA05", "dose": 15, "unit": "mg"}, "oxycodone"),
        ({"drug": "Percocet", "rxcui": "1049621", "dose": 1, "unit": "tab"}, "oxycodone"),  # drops APAP
    ],
)
def test_a_name_and_a_code_for_different_drugs_is_a_major_finding(med, checked_as):
    drug, got = findings(med)
    assert drug == checked_as
    clash = got["input.code_mismatch"]
    assert clash["severity"] == "major" and clash["medications"] == [0]
    assert med["drug"] in clash["message"] and checked_as in clash["message"]


@pytest.mark.parametrize(
    "med",
    [
        {"drug": "oxycodone", "rxcui": "1049621", "dose": 5, "unit": "mg"},
        {"drug": "hydrocodone bitartrate", "rxcui": "1860491", "dose": 10, "unit": "mg", "frequency": "q12h"},
        {"drug": "oxycodone", "atc": "N02AA05", "dose": 5, "unit": "mg"},
        {"drug": "Oxycodone HCl", "rxcui": "7804", "dose": 5, "unit": "mg"},
    ],
)
def test_a_name_that_agrees_with_its_code_is_quiet(med):
    assert "input.code_mismatch" not in findings(med)[1]


def test_every_rxnorm_name_agrees_with_its_own_code():
    """The formulary's RxNorm table: each row's name, sent with the row's code, raises no clash."""
    f = load()
    clashes = []
    for code, row in f.rxnorm.items():
        coded, named = f.resolve(None, code), f.resolve(row[0])
        if coded and named and not {d.id for d in named.drugs} <= {d.id for d in coded.drugs}:
            clashes.append((code, row[0]))
    assert clashes == []


def test_a_fhir_order_whose_text_and_coding_disagree():
    req = {
        "resourceType": "MedicationRequest", "id": "mr-1", "status": "draft", "intent": "order",
        "medicationCodeableConcept": {"text": "morphine sulfate ER 15 mg tablet",
                                      "coding": [{"system": RXNORM, "code": "1860491"}]},
        "dosageInstruction": [{"doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet"}}]}],
    }  # fmt: skip
    [med] = fhir.medication_request(req).medications
    assert "input.code_mismatch" in findings(dict(med))[1]
