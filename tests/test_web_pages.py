"""The pages over real HTTP (Flask's test client): the regimen form, formulary, rules, sign-in."""

from __future__ import annotations

import pytest

from checker.http import create_app
from tests.web_support import csrf_token

REGIMEN = {
    "age_years": "71",
    "weight_kg": "52",
    "sex": "female",
    "crcl_ml_min": "25",
    "conditions": ["bone_metastases"],
    "dental_exam_done": "no",
    "medications": "zoledronic acid 4 mg IV q4 weeks\nTylenol 1 g PO q6h\n"
    "gabapentin 300 mg PO TID\nfoo bar 1 tab daily",
}


@pytest.fixture(scope="module")
def app():
    return create_app({"TESTING": True})


@pytest.fixture
def client(app):
    return app.test_client()


def post_regimen(client, data):
    return client.post("/", data={**data, "csrf_token": csrf_token(client)})


def test_form_has_every_contract_field_labelled(client):
    page = client.get("/").get_data(as_text=True)
    for name in ("age_years", "weight_kg", "sex", "crcl_ml_min", "egfr", "serum_creatinine",
                 "hepatic_impairment", "qtc_ms", "serum_calcium", "platelets", "anc", "hemoglobin",
                 "opioid_tolerant", "dental_exam_done", "pregnant", "medications"):  # fmt: skip
        assert f'name="{name}"' in page, name
        assert f'<label for="{name}"' in page, name
    assert 'name="conditions" value="bone_metastases"' in page
    assert 'for="cond-gi_bleed_history"' in page


def test_posted_regimen_shows_findings_by_severity_with_numbers_and_source(client):
    r = post_regimen(client, REGIMEN)
    page = r.get_data(as_text=True)
    assert r.status_code == 200
    # zoledronic acid with CrCl 25 is a major renal finding, shown with its word, not colour alone
    assert 'id="sev-major-h"' in page and "Major" in page
    assert "Zoledronic acid is not recommended with CrCl below 30 mL/min" in page
    assert "<strong>Ordered:</strong> 900 mg/day" in page and "<strong>Limit:</strong> 700 mg/day" in page
    assert 'href="https://dailymed.nlm.nih.gov/' in page
    assert "What to do:" in page
    assert "Knowledge version" in page
    # the label's own words, where the knowledge quotes them
    assert "<blockquote>&gt;15-29 | 200-700 | 200-700 mg QD</blockquote>" in page
    assert "Where: Table 1 renal dosing" in page


def test_each_line_read_and_unknown_line_marked(client):
    page = post_regimen(client, REGIMEN).get_data(as_text=True)
    assert "every 4 weeks" in page  # zoledronic acid q4 weeks
    assert '<td data-label="Drug">acetaminophen</td>' in page and "4 g/day" in page
    assert 'class="not-read"' in page and "“foo bar” is not a drug or product the formulary knows." in page
    # the unknown line was still sent, so the engine's own finding is there too
    assert "&#39;foo bar&#39; is not a drug name the checker knows" in page


def test_regimen_json_offered_for_copying(client):
    page = post_regimen(client, REGIMEN).get_data(as_text=True)
    assert 'id="regimen-json"' in page and "&#34;crcl_ml_min&#34;: 25" in page
    assert 'id="report-json"' in page and "&#34;knowledge_version&#34;" in page


def test_bad_field_rerenders_form_with_the_error_and_what_was_typed(client):
    r = post_regimen(client, {**REGIMEN, "age_years": "two hundred", "serum_calcium": "9 parsecs"})
    page = r.get_data(as_text=True)
    assert r.status_code == 422
    assert 'id="age_years-error"' in page and 'aria-invalid="true"' in page
    assert 'id="serum_calcium-error"' in page
    assert 'value="two hundred"' in page  # what was typed stays
    assert "zoledronic acid 4 mg IV q4 weeks" in page


def test_no_orders_is_a_form_error(client):
    r = post_regimen(client, {"medications": "  \n "})
    assert r.status_code == 422
    assert "Type at least one order" in r.get_data(as_text=True)


def test_post_without_csrf_token_is_refused(client):
    r = client.post("/", data=REGIMEN)
    assert r.status_code == 400
    assert "did not come from this site" in r.get_data(as_text=True)
    assert r.mimetype == "text/html"


def test_audit_upload_without_csrf_token_is_refused(client):
    import io

    r = client.post("/audit", data={"meds": (io.BytesIO(b"patient_id,drug\n1,ibuprofen\n"), "m.csv")},
                    content_type="multipart/form-data")  # fmt: skip
    assert r.status_code == 400


def test_api_still_takes_json_without_csrf(client):
    r = client.post("/v1/check", json={"medications": [{"drug": "ibuprofen", "dose": 400, "unit": "mg"}]})
    assert r.status_code == 200 and "findings" in r.get_json()
    assert client.get("/v1/formulary/zoledronic_acid").is_json


def test_pages_send_csp_without_inline_script_and_no_store(client):
    for path in ("/", "/formulary", "/formulary/zoledronic_acid", "/rules", "/audit"):
        r = client.get(path)
        csp = r.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp, path
        assert "frame-ancestors 'none'" in csp
        assert r.headers["Cache-Control"] == "no-store"
        assert "<script>" not in r.get_data(as_text=True), path
    r = post_regimen(client, REGIMEN)
    assert "<script>" not in r.get_data(as_text=True)


def test_patient_data_not_in_urls(client):
    page = client.get("/").get_data(as_text=True)
    assert 'method="post" action="/"' in page
    r = post_regimen(client, REGIMEN)
    assert r.status_code == 200 and "Location" not in r.headers


def test_patient_data_not_logged(client, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    marker = "Zyxwvut-4417"
    post_regimen(client, {**REGIMEN, "medications": f"{marker} 1 g PO q6h", "serum_calcium": marker})
    client.post("/", data={**REGIMEN, "age_years": marker})  # refused: no CSRF token
    assert marker not in caplog.text


def test_assets_served_from_package(client):
    for name in ("style.css", "print.css", "app.js"):
        r = client.get(f"/assets/{name}")
        assert r.status_code == 200 and r.data, name


def test_formulary_search_and_entry(client):
    page = client.get("/formulary?q=zometa").get_data(as_text=True)
    assert "Zoledronic acid" in page and "Ibuprofen" not in page
    page = client.get("/formulary/zoledronic_acid").get_data(as_text=True)
    assert "CrCl 50-60" in page or "3.5" in page
    assert "Zometa" in page and 'href="https://' in page
    r = client.get("/formulary/not-a-drug")
    assert r.status_code == 404 and r.mimetype == "text/html"
    assert "is not in the formulary" in r.get_data(as_text=True)


def test_rules_page_filters(client):
    page = client.get("/rules?category=interaction").get_data(as_text=True)
    assert "interaction." in page and "dose.acetaminophen.0" not in page
    every = client.get("/rules").get_data(as_text=True)
    assert "dose.acetaminophen.0" in every


@pytest.fixture
def locked():
    return create_app({"TESTING": True, "API_KEYS": ["page-key-1"]}).test_client()


def test_pages_require_sign_in_when_keys_are_configured(locked):
    r = locked.get("/")
    assert r.status_code == 302 and "/signin" in r.headers["Location"]
    assert locked.get("/audit").status_code == 302
    assert locked.get("/assets/style.css").status_code == 200
    token = csrf_token(locked, "/signin")
    bad = locked.post("/signin", data={"api_key": "wrong", "csrf_token": token, "next": "/"})
    assert bad.status_code == 401 and "not valid" in bad.get_data(as_text=True)
    ok = locked.post("/signin", data={"api_key": "page-key-1", "csrf_token": token, "next": "/audit"})
    assert ok.status_code == 302 and ok.headers["Location"] == "/audit"
    cookie = ok.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert locked.get("/").status_code == 200


def test_sign_in_never_redirects_off_site(locked):
    token = csrf_token(locked, "/signin")
    data = {"api_key": "page-key-1", "csrf_token": token, "next": "//evil.example/x"}
    r = locked.post("/signin", data=data)
    assert r.headers["Location"] == "/"


def test_structured_rows_join_the_typed_lines(client):
    data = {
        "medications": "Tylenol 1 g PO q6h", "rows-0-drug": "acetaminophen", "rows-0-dose": "1",
        "rows-0-unit": "g", "rows-0-route": "po", "rows-0-frequency": "q6h", "rows-0-prn": "yes",
    }  # fmt: skip
    page = post_regimen(client, data).get_data(as_text=True)
    assert "totals 8 g/day across 2 orders" in page  # the typed line and the row, summed
    assert '<td data-label="Order">Row 1</td>' in page and "<dd>Line 1, Row 1</dd>" in page
    bad = post_regimen(client, {**data, "rows-1-drug": "ibuprofen", "rows-1-dose": "lots"})
    assert bad.status_code == 422 and "Row 2 (dose):" in bad.get_data(as_text=True)
    assert 'value="lots"' in bad.get_data(as_text=True)
