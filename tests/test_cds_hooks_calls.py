"""CDS Hooks calls as an EHR and a browser client make them: active medications counted and named,
selections that match nothing, unique card ids, short summaries, no cards for info, CORS, and
never a 500 for any order the client sends."""

from __future__ import annotations

import json
import math
import time
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checker.http import create_app
from checker.http import schemas as s

SIGN = "/cds-services/medcheck-order-sign"
SELECT = "/cds-services/medcheck-order-select"
UCUM = "http://unitsofmeasure.org"
SANDBOX = "https://sandbox.cds-hooks.org"


@pytest.fixture(scope="module")
def app():
    return create_app({"TESTING": True, "CORS_ORIGINS": [SANDBOX]})


@pytest.fixture
def client(app):
    return app.test_client()


def order(rid: str, name: str, value, unit: str, hours: float, status: str = "draft", **dosage) -> dict:
    d = {"route": {"text": "oral"},
         "doseAndRate": [{"doseQuantity": {"value": value, "unit": unit, "code": unit, "system": UCUM}}],
         "timing": {"repeat": {"frequency": 1, "period": hours, "periodUnit": "h"}}, **dosage}  # fmt: skip
    return {"resourceType": "MedicationRequest", "id": rid, "status": status, "intent": "order",
            "medicationCodeableConcept": {"text": name}, "dosageInstruction": [d]}  # fmt: skip


def bundle(*resources) -> dict:
    return {"resourceType": "Bundle", "entry": [{"resource": r} for r in resources]}


def call(*drafts, active=(), hook="order-sign", patient="p-1", prefetch=None, **context) -> dict:
    pre = dict(prefetch or {})
    if active:
        pre["activeMedications"] = bundle(*active)
    ctx = {"userId": "Practitioner/1", "patientId": patient, "draftOrders": bundle(*drafts), **context}
    body = {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": ctx}
    if pre:
        body["prefetch"] = pre
    return body


def cards(response) -> list[dict]:
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert s.CardsSchema().validate(body) == {}
    return body["cards"]


def code(card: dict) -> str:
    return card["extension"]["medcheck"]["code"]


def test_active_opioid_counts_toward_mme_and_the_card_names_it(client):
    active = [order("a1", "oxycodone", 20, "mg", 6, "active")]
    got = cards(client.post(SIGN, json=call(order("d1", "morphine", 10, "mg", 4), active=active)))
    [mme] = [c for c in got if c["extension"]["medcheck"]["category"] == "opioid_load"]
    assert "180" in mme["summary"]  # 60 (morphine) + 120 (oxycodone 80 mg x 1.5)
    assert mme["extension"]["medcheck"]["activeOrders"] == ["MedicationRequest/a1"]
    assert "active medications" in mme["detail"] and "MedicationRequest/a1" in mme["detail"]


def test_active_acetaminophen_counts_toward_the_daily_total(client):
    active = [order("a1", "acetaminophen", 650, "mg", 6, "active")]
    got = cards(client.post(SIGN, json=call(order("d1", "acetaminophen", 1, "g", 6), active=active)))
    [daily] = [c for c in got if code(c) == "dose.daily_max"]
    assert "6.6 g/day" in daily["detail"] and daily["extension"]["medcheck"]["activeOrders"] == [
        "MedicationRequest/a1"
    ]


def test_active_order_that_cannot_be_read_is_a_card_not_silence(client):
    broken = order("a2", "oxycodone", 20, "mg", 6, "active")
    broken["dosageInstruction"][0]["timing"]["repeat"]["period"] = 1e308
    got = cards(client.post(SIGN, json=call(order("d1", "morphine", 10, "mg", 4), active=[broken])))
    [notice] = [c for c in got if code(c) == "input.active_not_counted"]
    assert notice["indicator"] == "warning" and "MedicationRequest/a2" in notice["detail"]


def test_selections_that_match_no_draft_order_are_a_400(client):
    r = client.post(SELECT, json=call(order("d1", "morphine", 10, "mg", 4), hook="order-select",
                                      selections=["MedicationRequest/nope"]))  # fmt: skip
    assert r.status_code == 400
    body = r.get_json()
    assert "context.selections" in body["errors"] and "MedicationRequest/nope" in body["message"]


def test_card_uuids_are_unique_per_card_and_per_call(client):
    drafts = [order("d1", "acetaminophen", 1, "g", 3), order("d2", "ketorolac", 30, "mg", 4)]
    first = cards(client.post(SIGN, json=call(*drafts, patient="p-1")))
    second = cards(client.post(SIGN, json=call(*drafts, patient="p-2")))
    ids = [c["uuid"] for c in first + second]
    assert len(first) >= 2 and len(set(ids)) == len(ids)
    for i in ids:
        uuid.UUID(i)


def test_summaries_are_under_140_characters(client):
    long_name = "Zorblaxin " + "extended release long acting " * 12
    drafts = [order("d1", long_name, 5, "mg", 4), order("d2", "acetaminophen", 1, "g", 3)]
    bad = order("d3", "oxycodone " * 40, 1, "mg", 4)
    bad["dosageInstruction"] = "x"
    for card in cards(client.post(SIGN, json=call(*drafts, bad))):
        assert len(card["summary"]) < 140


def test_info_findings_do_not_become_cards(client):
    """acetaminophen 500 mg q6h with no route: only `info` notes (route assumed); no card at all."""
    plain = order("d1", "acetaminophen", 500, "mg", 6)
    del plain["dosageInstruction"][0]["route"]
    assert cards(client.post(SIGN, json=call(plain))) == []


def test_more_than_200_draft_orders_is_a_400_naming_the_field(client):
    drafts = [order(f"d{i}", "acetaminophen", 500, "mg", 6) for i in range(201)]
    r = client.post(SIGN, json=call(*drafts))
    assert r.status_code == 400 and "context.draftOrders" in r.get_json()["errors"]


def test_200_combination_orders_with_active_meds_answer_in_bounded_time(client):
    combo = "acetaminophen 325 MG / oxycodone hydrochloride 5 MG Oral Tablet"
    drafts = [order(f"d{i}", combo, 2, "{tbl}", 6) for i in range(200)]
    active = [order(f"a{i}", "morphine", 10, "mg", 4, "active") for i in range(50)]
    start = time.perf_counter()
    got = cards(client.post(SIGN, json=call(*drafts, active=active)))
    assert time.perf_counter() - start < 20
    assert any(code(c) == "input.unreadable_order" for c in got)  # those over the limit say so
    assert any(code(c) == "input.active_not_counted" for c in got)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d["timing"]["repeat"].update(period=math.nan),
        lambda d: d["timing"]["repeat"].update(period=1e308),
        lambda d: d["timing"].update(code="BID"),
        lambda d: d.update(doseAndRate={"doseQuantity": 1}),
        lambda d: d["doseAndRate"][0]["doseQuantity"].update(value=10**400),
    ],
)
def test_hostile_dosages_are_cards_never_500(client, mutate):
    draft = order("d1", "acetaminophen", 1, "g", 6)
    mutate(draft["dosageInstruction"][0])
    body = json.dumps(call(draft))  # NaN goes out as the bare token NaN, as a hostile client sends it
    r = client.post(SIGN, data=body, content_type="application/json")
    assert r.status_code in (200, 400), r.get_data(as_text=True)


def test_lab_without_its_unit_is_refused_with_a_card(client):
    crcl = {"resourceType": "Observation", "status": "final", "valueQuantity": {"value": 38},
            "code": {"coding": [{"system": "http://loinc.org", "code": "2164-2"}]}}  # fmt: skip
    got = cards(client.post(SIGN, json=call(order("d1", "ketorolac", 15, "mg", 6),
                                            prefetch={"crcl": bundle(crcl)})))  # fmt: skip
    assert any("crcl_ml_min" in c["summary"] for c in got)


def test_cors_preflight_for_an_allow_listed_origin(client):
    preflight = {"Origin": SANDBOX, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization, content-type"}  # fmt: skip
    r = client.options(SIGN, headers=preflight)
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Origin"] == SANDBOX
    assert "authorization" in r.headers["Access-Control-Allow-Headers"].lower()
    got = client.get("/cds-services", headers={"Origin": SANDBOX})
    assert got.headers["Access-Control-Allow-Origin"] == SANDBOX


def test_cors_refuses_other_origins_and_other_paths(client):
    other = client.get("/cds-services", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    v1 = client.get("/v1/rules", headers={"Origin": SANDBOX})
    assert "Access-Control-Allow-Origin" not in v1.headers


def test_cors_is_off_unless_configured_and_reads_the_environment(monkeypatch):
    monkeypatch.delenv("MEDCHECK_CORS_ORIGINS", raising=False)
    plain = create_app({"TESTING": True}).test_client()
    got = plain.get("/cds-services", headers={"Origin": SANDBOX})
    assert "Access-Control-Allow-Origin" not in got.headers
    monkeypatch.setenv("MEDCHECK_CORS_ORIGINS", f"{SANDBOX}, https://ehr.example.org")
    env = create_app({"TESTING": True}).test_client()
    got = env.get("/cds-services", headers={"Origin": "https://ehr.example.org"})
    assert got.headers["Access-Control-Allow-Origin"] == "https://ehr.example.org"


json_values = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8) | st.sampled_from(
        ["resourceType", "status", "dosageInstruction", "doseAndRate", "timing", "repeat", "code", "value",
         "medicationCodeableConcept", "contained", "medicationReference", "valueQuantity", "entry"]),
        inner, max_size=4),
    max_leaves=20,
)  # fmt: skip


@settings(max_examples=120, deadline=None)
@given(resource=json_values, prefetch=json_values)
def test_any_json_in_draft_orders_or_prefetch_never_answers_5xx(app, resource, prefetch):
    draft = resource if isinstance(resource, dict) else {"x": resource}
    draft = {"resourceType": "MedicationRequest", "medicationCodeableConcept": {"text": "acetaminophen"},
             **draft}  # fmt: skip
    body = call(draft)
    body["prefetch"] = {"p": prefetch}
    r = app.test_client().post(SIGN, data=json.dumps(body), content_type="application/json")
    assert r.status_code < 500, r.get_data(as_text=True)


def test_cors_preflight_needs_no_token_when_cds_auth_is_on(tmp_path):
    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP384R1())
    jwk = {**json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key())), "kid": "e1", "alg": "ES384"}
    path = tmp_path / "issuers.json"
    path.write_text(json.dumps({"https://ehr.example.org": {"keys": [jwk]}}))
    config = {"TESTING": True, "CDS_JWKS_FILE": str(path), "CORS_ORIGINS": SANDBOX,
              "PUBLIC_URL": "https://cds.example.org"}  # fmt: skip
    client = create_app(config).test_client()
    preflight = {"Origin": SANDBOX, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization, content-type"}  # fmt: skip
    r = client.options(SIGN, headers=preflight)
    assert r.status_code == 200 and r.headers["Access-Control-Allow-Origin"] == SANDBOX
    unsigned = client.post(SIGN, json=call(order("d1", "morphine", 10, "mg", 4)), headers={"Origin": SANDBOX})
    assert unsigned.status_code == 401  # the call itself still needs its token
    assert unsigned.headers["Access-Control-Allow-Origin"] == SANDBOX  # and the browser may read why


@pytest.mark.parametrize("where", ["name", "unit", "frequency", "id"])
def test_lone_surrogates_in_an_order_never_answer_500(client, where):
    draft = order("d1", "acetaminophen", 1, "mg", 6)
    d = draft["dosageInstruction"][0]
    if where == "name":
        draft["medicationCodeableConcept"]["text"] = "Zorb\ud800"
    elif where == "unit":
        d["doseAndRate"][0]["doseQuantity"]["code"] = "m\ud800g"
    elif where == "frequency":
        d["timing"] = {"code": "q\ud800"}
    else:
        draft["id"] = "d\udc00"
    r = client.post(SIGN, data=json.dumps(call(draft)), content_type="application/json")
    assert r.status_code in (200, 400), r.get_data(as_text=True)  # refused at the body, or scrubbed
    if r.status_code == 400:
        assert "surrogate" in r.get_json()["message"]
    else:
        assert all(len(c["summary"]) < 140 for c in r.get_json()["cards"])


def condition(text: str | None = None, status: str = "active", verification: str | None = None,
              snomed: tuple[str, str] | None = None) -> dict:  # fmt: skip
    res: dict = {"resourceType": "Condition", "clinicalStatus": {"coding": [{"code": status}]}, "code": {}}
    if text:
        res["code"]["text"] = text
    if snomed:
        sct = "http://snomed.info/sct"
        res["code"]["coding"] = [{"system": sct, "code": snomed[0], "display": snomed[1]}]
    if verification:
        res["verificationStatus"] = {"coding": [{"code": verification}]}
    return res


def test_the_problem_list_reaches_the_rules(client):
    """An EHR sends conditions as Condition resources: an NSAID ordered for a pregnant patient with
    a history of GI bleeding must be a critical card, not pass because conditions were not read."""
    problems = bundle(
        condition(snomed=("77386006", "Patient currently pregnant (finding)")),
        condition("Gastrointestinal hemorrhage"),
    )
    got = cards(client.post(SIGN, json=call(order("d1", "ibuprofen", 400, "mg", 8),
                                            prefetch={"conditions": problems})))  # fmt: skip
    by = {code(c): c for c in got}
    assert by["condition.nsaid_pregnancy"]["indicator"] == "critical"
    assert by["condition.nsaid_gi_bleed"]["indicator"] == "critical"


def test_resolved_refuted_and_unknown_conditions(client):
    problems = bundle(
        condition("Pregnancy", status="resolved"),
        condition("Peptic ulcer", verification="refuted"),
        condition("Cirrhosis of liver"),
        condition("Sjogren syndrome"),
    )
    body = call(order("d1", "ibuprofen", 400, "mg", 8), order("d2", "acetaminophen", 1, "g", 6),
                prefetch={"conditions": problems})  # fmt: skip
    got = {code(c) for c in cards(client.post(SIGN, json=body))}
    assert "condition.nsaid_pregnancy" not in got and "condition.nsaid_gi_bleed" not in got
    assert "monitoring.hepatic_grade_with_liver_disease" in got  # moderate: a warning card
    from checker.http import fhir

    assert fhir.patient({"c": problems})["conditions"] == ["Cirrhosis of liver", "Sjogren syndrome"]


def test_discovery_asks_for_the_active_problem_list(client):
    services = client.get("/cds-services").get_json()["services"]
    assert all(
        s["prefetch"]["conditions"] == "Condition?patient={{context.patientId}}&clinical-status=active"
        for s in services
    )


def test_a_problem_list_longer_than_a_regimen_takes_keeps_what_the_rules_read(client):
    """151 active problems: the list was refused whole (an info card), and the GI bleed on entry 151
    with it. The conditions the checker understands go first; the cap takes unknown names."""
    problems = bundle(*[condition(f"problem {i}") for i in range(150)], condition("GI bleed"))
    got = cards(client.post(SIGN, json=call(order("d1", "ibuprofen", 400, "mg", 8),
                                            prefetch={"conditions": problems})))  # fmt: skip
    assert "condition.nsaid_gi_bleed" in {code(c) for c in got if "extension" in c}
    assert not any("Patient data ignored" in c["summary"] for c in got)
