"""The /v1 API, /healthz, /openapi.json and /docs through the Flask test client: every endpoint
and every error path, and never a 500 for anything a client sends."""

from __future__ import annotations

import json

import pytest

from checker import check
from checker.http import create_app
from checker.http import schemas as s

APAP_TWICE = {
    "patient": {"age_years": 71, "weight_kg": 52, "sex": "female"},
    "medications": [
        {"drug": "acetaminophen", "dose": 1, "unit": "g", "route": "oral", "frequency": "q6h"},
        {"drug": "Tylenol", "sig": "1 g PO q6h PRN pain"},
    ],
}


@pytest.fixture(scope="module")
def app():
    return create_app({"TESTING": True})


@pytest.fixture
def client(app):
    return app.test_client()


def _error(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["code"] == status and body["status"] and body["message"]
    assert "Traceback" not in response.get_data(as_text=True)
    return body


def test_healthz(client, app):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.get_json() == {"status": "ok", "knowledge_version": app.extensions["medcheck"].version}


def test_check_returns_the_library_report_byte_for_byte(client):
    r = client.post("/v1/check", json=APAP_TWICE)
    assert r.status_code == 200
    body = r.get_json()
    assert body == check(APAP_TWICE).to_dict()
    assert list(body) == ["knowledge_version", "highest_severity", "counts", "findings", "medications"]
    [f] = [f for f in body["findings"] if f["code"] == "dose.daily_max"]
    assert f["medications"] == [0, 1] and f["evidence"]["actual"] == "8 g/day"
    assert s.ReportSchema().validate(body) == {}
    assert client.post("/v1/check", json=APAP_TWICE).data == r.data  # deterministic


def test_check_unknown_drug_is_a_finding_not_an_error(client):
    r = client.post("/v1/check", json={"medications": [{"drug": "notadrugatall", "dose": 1, "unit": "mg"}]})
    assert r.status_code == 200
    assert "unrecognized.drug" in {f["code"] for f in r.get_json()["findings"]}


def test_check_wrong_unit_kind(client):
    med = {"drug": "radium-223", "dose": 55, "unit": "mg", "route": "iv", "frequency": "every 4 weeks"}
    r = client.post("/v1/check", json={"medications": [med]})
    assert "unit.wrong_kind" in {f["code"] for f in r.get_json()["findings"]}


def test_schema_violation_is_422_with_dotted_paths(client):
    body = {
        "medications": [{"drug": "a", "dose": 1}, {"drug": "b"}, {"drug": "c", "dose": "lots"}],
        "patient": {"age_years": -3},
    }
    err = _error(client.post("/v1/check", json=body), 422)
    assert set(err["errors"]) == {"medications.2.dose", "patient.age_years"}
    assert all(isinstance(m, str) for msgs in err["errors"].values() for m in msgs)
    assert "medications.2.dose" in err["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "medications"),
        ([], "regimen"),
        ("text", "regimen"),
        ({"medications": [{"dose": 5}]}, "medications.0.drug"),
        ({"medications": [], "extra": 1}, "extra"),
        ({"medications": [{"drug": "x", "dose": True}]}, "medications.0.dose"),
    ],
)
def test_schema_violations_name_the_field(client, body, field):
    assert field in _error(client.post("/v1/check", json=body), 422)["errors"]


@pytest.mark.parametrize(
    "raw", [b"{bad json", b"", b"   ", b"\xff\xfe\x00{", b"[" * 50_000, b'{"medications": [}', b"NaN-ish"]
)
def test_malformed_json_is_400(client, raw):
    _error(client.post("/v1/check", data=raw, content_type="application/json"), 400)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_wrong_content_type_is_415(client, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    _error(client.post("/v1/check", data=json.dumps(APAP_TWICE), headers=headers), 415)


def test_json_suffix_content_type_is_accepted(client):
    r = client.post("/v1/check", data=json.dumps(APAP_TWICE), content_type="application/vnd.medcheck+json")
    assert r.status_code == 200


def test_body_over_limit_is_413(client):
    big = json.dumps({"medications": [{"drug": "x" * 150, "sig": "y" * 400}] * 2000})
    assert len(big) > 1024 * 1024
    err = _error(client.post("/v1/check", data=big, content_type="application/json"), 413)
    assert "1048576" in err["message"]


def test_body_limit_is_configurable():
    small = create_app({"MAX_CONTENT_LENGTH": 100}).test_client()
    _error(small.post("/v1/check", json=APAP_TWICE), 413)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/v1/check"),
        ("put", "/v1/check"),
        ("post", "/healthz"),
        ("delete", "/v1/formulary"),
        ("post", "/v1/rules"),
        ("get", "/cds-services/medcheck-order-sign"),
    ],
)
def test_wrong_method_is_405_with_allow(client, method, path):
    r = getattr(client, method)(path)
    _error(r, 405)
    assert r.headers["Allow"]


def test_unknown_path_is_json_404(client):
    _error(client.get("/v2/check"), 404)


def test_formulary_list(client):
    body = client.get("/v1/formulary").get_json()
    ids = {d["id"] for d in body["drugs"]}
    assert {"acetaminophen", "fentanyl", "radium_223", "vitamin_d3", "warfarin"} <= ids
    assert s.FormularySchema().validate(body) == {}


@pytest.mark.parametrize("name", ["acetaminophen", "Tylenol", "PARACETAMOL", "N02BE01", "zoledronic acid"])
def test_formulary_entry_by_id_or_name(client, name):
    r = client.get(f"/v1/formulary/{name}")
    assert r.status_code == 200
    body = r.get_json()
    assert body["id"] in ("acetaminophen", "zoledronic_acid")
    assert s.DrugDetailSchema().validate(body) == {}


@pytest.mark.parametrize("name", ["notadrug", "%00", "x" * 3000, "💊"])
def test_formulary_unknown_is_404(client, name):
    _error(client.get(f"/v1/formulary/{name}"), 404)


def test_rules(client):
    body = client.get("/v1/rules").get_json()
    assert body["rules"] and all({"id", "category", "severity"} <= set(r) for r in body["rules"])
    assert s.RulesSchema().validate(body) == {}


def test_openapi_is_generated_from_the_schemas(client):
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    paths = spec["paths"]
    for path in (
        "/v1/check",
        "/v1/formulary",
        "/v1/formulary/{name}",
        "/v1/rules",
        "/healthz",
        "/cds-services",
        "/cds-services/{service_id}",
        "/cds-services/{service_id}/feedback",
    ):
        assert path in paths
    check_op = paths["/v1/check"]["post"]
    assert check_op["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/Regimen")
    assert {"200", "400", "413", "415", "422"} <= set(check_op["responses"])
    schemas = spec["components"]["schemas"]
    assert "oneOf" in schemas["Medication"]["properties"]["dose"]
    assert schemas["Medication"]["additionalProperties"] is False
    assert "securitySchemes" not in spec.get("components", {})  # auth is off by default


def test_docs_work_offline(client):
    page = client.get("/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "/docs/assets/swagger-ui-bundle.js" in html and "/openapi.json" in html
    assert "http://" not in html and "https://" not in html  # no CDN
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "swagger-ui-standalone-preset.js"):
        r = client.get(f"/docs/assets/{asset}")
        assert r.status_code == 200 and len(r.data) > 1000
        r.close()
    _error(client.get("/docs/assets/../../app.py"), 404)


def test_a_bug_is_a_json_500_without_traceback(app, caplog, monkeypatch):
    def boom(_):
        raise RuntimeError("engine bug")

    monkeypatch.setitem(app.extensions, "medcheck.reports", boom)
    r = app.test_client().post("/v1/check", json=APAP_TWICE)
    body = _error(r, 500)
    assert "engine bug" not in json.dumps(body)
    assert "engine bug" in caplog.text  # logged for the operator


def test_wsgi_module_exposes_app():
    import wsgi

    assert wsgi.app.test_client().get("/healthz").status_code == 200


@pytest.mark.parametrize("budget_mb", [0, 0.001])  # off; too small to hold this report
def test_a_repeated_regimen_gets_the_same_report_as_an_uncached_service(client, budget_mb):
    uncached = create_app({"TESTING": True, "REPORT_CACHE_MB": budget_mb}).test_client()
    first = client.post("/v1/check", json=APAP_TWICE)
    again = client.post("/v1/check", json=APAP_TWICE)
    fresh = uncached.post("/v1/check", json=APAP_TWICE)
    assert first.status_code == again.status_code == fresh.status_code == 200
    assert first.data == again.data == fresh.data
    assert first.json["findings"]


def test_the_report_cache_never_answers_for_another_patient(client):
    """Same orders, other patient facts: the reports must differ where the facts matter."""
    liver = {**APAP_TWICE, "patient": {**APAP_TWICE["patient"], "hepatic_impairment": "severe"}}
    plain = client.post("/v1/check", json=APAP_TWICE).json
    hepatic = client.post("/v1/check", json=liver).json
    def hepatic_ceiling(report: dict) -> bool:
        return any("hepatic" in f["message"] for f in report["findings"] if f["code"].startswith("dose."))

    assert hepatic_ceiling(hepatic) and not hepatic_ceiling(plain)
    assert client.post("/v1/check", json=APAP_TWICE).json == plain
