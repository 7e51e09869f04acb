"""CDS Hooks 2.0 over the Flask test client: discovery, order-select, order-sign and feedback."""

from __future__ import annotations

import copy
import json
import logging
import uuid
from pathlib import Path

import pytest

from checker.http import create_app
from checker.http import schemas as s

FIXTURES = Path(__file__).parent / "fixtures" / "fhir"
SIGN = "/cds-services/medcheck-order-sign"
SELECT = "/cds-services/medcheck-order-select"


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def app():
    return create_app({"TESTING": True})


@pytest.fixture
def client(app):
    return app.test_client()


def call(
    hook: str = "order-sign", bundle: dict | None = None, prefetch: dict | None = None, **context
) -> dict:
    body = {
        "hook": hook,
        "hookInstance": str(uuid.uuid4()),
        "context": {
            "userId": "Practitioner/dr-1",
            "patientId": "p-001",
            "draftOrders": bundle if bundle is not None else load("draft-orders.json"),
            **context,
        },
    }
    if prefetch is not None:
        body["prefetch"] = prefetch
    return body


def cards_of(response) -> list[dict]:
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert s.CardsSchema().validate(body) == {}
    return body["cards"]


def by_code(cards: list[dict], code: str) -> list[dict]:
    return [c for c in cards if c.get("extension", {}).get("medcheck", {}).get("code") == code]


def test_discovery(client):
    body = client.get("/cds-services").get_json()
    assert s.DiscoverySchema().validate(body) == {}
    services = {svc["hook"]: svc for svc in body["services"]}
    assert set(services) == {"order-select", "order-sign"}
    for svc in services.values():
        assert svc["id"] and svc["description"] and svc["title"]
        prefetch = svc["prefetch"]
        assert prefetch["patient"] == "Patient/{{context.patientId}}"
        joined = " ".join(prefetch.values())
        for loinc in (
            "29463-7",
            "2160-0",
            "14682-9",
            "33914-3",
            "62238-1",
            "98979-8",
            "17861-6",
            "777-3",
            "8636-3",
        ):
            assert f"http://loinc.org|{loinc}" in joined


def test_order_sign_cards_for_the_fixture(client, app):
    cards = cards_of(client.post(SIGN, json=call(prefetch=load("prefetch.json"))))
    [apap] = by_code(cards, "dose.daily_max")
    assert apap["indicator"] == "critical"
    assert len(apap["summary"]) <= 140 and "acetaminophen" in apap["summary"].lower()
    assert "7.9 g/day" in apap["detail"] and "4 g/day" in apap["detail"]
    assert "MedicationRequest/apap-1" in apap["detail"] and "MedicationRequest/apap-2" in apap["detail"]
    version = app.extensions["medcheck"].version
    assert version in apap["source"]["label"] and apap["source"]["label"]
    assert apap["overrideReasons"] and all(r["display"] for r in apap["overrideReasons"])
    uuid.UUID(apap["uuid"])
    for card in cards:
        assert len(card["summary"]) <= 140
        assert card["indicator"] in ("info", "warning", "critical")
        assert ("overrideReasons" in card) == (card["indicator"] == "critical")
        assert version in card["source"]["label"]
    assert len({c["uuid"] for c in cards}) == len(cards)


def test_cards_are_deterministic_but_each_card_has_its_own_uuid(client):
    """Same call, same cards; but a card uuid names one card of one call (issue 16: the same uuid
    came back for different patients), so no uuid repeats across calls."""
    body = call(prefetch=load("prefetch.json"))
    first = cards_of(client.post(SIGN, json=body))
    body["hookInstance"] = str(uuid.uuid4())
    second = cards_of(client.post(SIGN, json=body))

    def strip(cards):
        return [{k: v for k, v in c.items() if k != "uuid"} for c in cards]

    assert strip(second) == strip(first)
    assert not {c["uuid"] for c in first} & {c["uuid"] for c in second}


def test_order_select_reports_only_findings_on_the_selected_orders(client):
    unrelated = cards_of(
        client.post(SELECT, json=call("order-select", selections=["MedicationRequest/vitd-1"]))
    )
    assert not by_code(unrelated, "dose.daily_max")
    selected = cards_of(
        client.post(SELECT, json=call("order-select", selections=["MedicationRequest/apap-2"]))
    )
    assert by_code(selected, "dose.daily_max")
    for card in selected:
        assert "MedicationRequest/apap-2" in card["extension"]["medcheck"]["orders"]


def test_unknown_drug_card(client):
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "resource": {
                    "resourceType": "MedicationRequest",
                    "id": "u1",
                    "status": "draft",
                    "intent": "order",
                    "subject": {"reference": "Patient/p-001"},
                    "medicationCodeableConcept": {"text": "Zorblaxin 5 MG Oral Tablet"},
                    "dosageInstruction": [
                        {
                            "doseAndRate": [
                                {
                                    "doseQuantity": {
                                        "value": 1,
                                        "unit": "tablet",
                                        "system": "http://unitsofmeasure.org",
                                        "code": "{tbl}",
                                    }
                                }
                            ]
                        }
                    ],
                }
            }
        ],
    }
    # an unknown name is a minor finding (issue 16): an info card, still shown, never dropped
    [card] = by_code(cards_of(client.post(SIGN, json=call(bundle=bundle))), "unrecognized.drug")
    assert card["indicator"] == "info" and "Zorblaxin" in card["summary"]


def test_wrong_unit_kind_card(client):
    bundle = load("draft-orders.json")
    ra = next(e["resource"] for e in bundle["entry"] if e["resource"]["id"] == "ra-1")
    ra["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"] = {
        "value": 55,
        "unit": "mg",
        "system": "http://unitsofmeasure.org",
        "code": "mg",
    }
    cards = cards_of(
        client.post(SELECT, json=call("order-select", bundle=bundle, selections=["MedicationRequest/ra-1"]))
    )
    [card] = by_code(cards, "unit.wrong_kind")
    assert card["indicator"] == "critical" and card["extension"]["medcheck"]["orders"] == [
        "MedicationRequest/ra-1"
    ]


def test_an_unreadable_order_is_a_card_not_a_failed_call(client):
    bundle = load("draft-orders.json")
    bad = copy.deepcopy(bundle["entry"][0])
    bad["resource"]["id"] = "broken"
    del bad["resource"]["medicationCodeableConcept"]
    worse = copy.deepcopy(bundle["entry"][0])
    worse["resource"]["id"] = "negative"
    worse["resource"]["dosageInstruction"][0]["doseAndRate"] = [{"doseQuantity": {"value": -5, "code": "mg"}}]
    bundle["entry"] += [bad, worse]
    cards = cards_of(client.post(SIGN, json=call(bundle=bundle)))
    unchecked = {c["extension"]["medcheck"]["orders"][0]: c for c in by_code(cards, "input.unreadable_order")}
    assert set(unchecked) == {"MedicationRequest/broken", "MedicationRequest/negative"}
    assert all(c["indicator"] == "warning" and len(c["summary"]) <= 140 for c in unchecked.values())
    assert "dose" in unchecked["MedicationRequest/negative"]["detail"]
    assert by_code(cards, "dose.daily_max")  # the readable orders were still checked


def test_implausible_prefetched_lab_is_ignored_with_a_card(client):
    prefetch = load("prefetch.json")
    prefetch["creatinine"]["entry"][0]["resource"]["valueQuantity"]["value"] = 99999
    cards = cards_of(client.post(SIGN, json=call(prefetch=prefetch)))
    assert any("serum_creatinine" in c["summary"] for c in cards)


def test_no_draft_medications_no_cards(client):
    bundle = {
        "resourceType": "Bundle",
        "entry": [{"resource": {"resourceType": "ServiceRequest", "id": "x"}}],
    }
    assert cards_of(client.post(SIGN, json=call(bundle=bundle))) == []


def test_active_medications_from_prefetch_count_only_with_a_draft(client):
    bundle = load("draft-orders.json")
    active = next(e for e in bundle["entry"] if e["resource"]["id"] == "apap-1")
    active = copy.deepcopy(active)
    active["resource"]["status"] = "active"
    active["resource"]["id"] = "home-apap"
    drafts = {
        "resourceType": "Bundle",
        "entry": [e for e in bundle["entry"] if e["resource"]["id"] == "apap-2"],
    }
    prefetch = {"activeMedications": {"resourceType": "Bundle", "type": "searchset", "entry": [active]}}
    [card] = by_code(
        cards_of(client.post(SIGN, json=call(bundle=drafts, prefetch=prefetch))), "dose.daily_max"
    )
    assert card["extension"]["medcheck"]["orders"] == [
        "MedicationRequest/apap-2",
        "MedicationRequest/home-apap",
    ]
    assert "active" in card["detail"]


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda b: b.pop("hook"), "hook"),
        (lambda b: b.pop("hookInstance"), "hookInstance"),
        (lambda b: b.pop("context"), "context"),
        (lambda b: b["context"].pop("draftOrders"), "context.draftOrders"),
        (lambda b: b["context"].pop("patientId"), "context.patientId"),
        (
            lambda b: b["context"].update(draftOrders={"resourceType": "Patient"}),
            "context.draftOrders.resourceType",
        ),
        (lambda b: b["context"].update(draftOrders=[1, 2]), "context.draftOrders"),
        (lambda b: b.update(hook="patient-view"), "hook"),
        (
            lambda b: b.update(fhirAuthorization={"access_token": "secret-token", "token_type": "Bearer"}),
            "fhirServer",
        ),
        (lambda b: b.update(prefetch=[]), "prefetch"),
    ],
)
def test_invalid_cds_call_is_400_with_reason(client, mutate, reason):
    body = call()
    mutate(body)
    r = client.post(SIGN, json=body)
    assert r.status_code == 400, r.get_data(as_text=True)
    err = r.get_json()
    assert reason in err["errors"] and err["message"].startswith("Not a valid CDS Hooks call")
    assert "secret-token" not in r.get_data(as_text=True)


def test_hook_must_match_the_service(client):
    r = client.post(SIGN, json=call("order-select", selections=["MedicationRequest/apap-1"]))
    assert r.status_code == 400 and "order-sign" in r.get_json()["message"]


def test_order_select_needs_selections(client):
    r = client.post(SELECT, json=call("order-select"))
    assert r.status_code == 400 and "selections" in r.get_json()["message"]


def test_not_json_and_malformed(client):
    assert (
        client.post(
            SIGN, data="hook=order-sign", content_type="application/x-www-form-urlencoded"
        ).status_code
        == 415
    )
    assert client.post(SIGN, data="{", content_type="application/json").status_code == 400
    assert client.post(SIGN, json=[]).status_code == 400


def test_unknown_service_is_404(client):
    assert client.post("/cds-services/nope", json=call()).status_code == 404
    assert client.post("/cds-services/nope/feedback", json={"feedback": []}).status_code in (400, 404)


FEEDBACK = {
    "feedback": [
        {
            "card": "9368d37b-283f-44a0-93ea-547cebab93ed",
            "outcome": "overridden",
            "overrideReason": {
                "reason": {
                    "code": "palliative-care",
                    "system": "urn:medcheck:override-reason",
                    "display": "Palliative or end-of-life care",
                },
                "userComment": "hospice patient, pain uncontrolled",
            },
            "outcomeTimestamp": "2026-11-27T10:00:00Z",
        },
        {
            "card": "0d5c1b6b-7c3a-4b4e-8d0c-6d2b5bd0f0a1",
            "outcome": "accepted",
            "acceptedSuggestions": [{"id": "e56e1945-20b3-4393-8503-a1a20fd73152"}],
            "outcomeTimestamp": "2026-11-27T10:01:00Z",
        },
    ]
}


def test_feedback_is_logged(client, caplog):
    with caplog.at_level(logging.INFO, logger="medcheck.cds"):
        r = client.post("/cds-services/medcheck-order-sign/feedback", json=FEEDBACK)
    assert r.status_code == 200 and r.get_json() == {"recorded": 2}
    assert "outcome=overridden reason=palliative-care" in caplog.text
    # userComment is free text that may name the patient: never logged (issue 14)
    assert "hospice patient" not in caplog.text and "outcome=accepted" in caplog.text


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"feedback": []},
        {"feedback": [{"card": "x", "outcome": "ignored", "outcomeTimestamp": "t"}]},
        {"feedback": [{"outcome": "accepted", "outcomeTimestamp": "t"}]},
    ],
)
def test_bad_feedback_is_400(client, body):
    assert client.post("/cds-services/medcheck-order-select/feedback", json=body).status_code == 400
