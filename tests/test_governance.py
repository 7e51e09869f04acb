"""Feedback and outcomes stored, the override summary (API, CLI, page) and the operations
endpoints (/readyz, /metrics, X-Request-ID), through the real app."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from checker.http import create_app
from checker.store import Store

ROOT = Path(__file__).resolve().parent.parent
PAIR = [{"drug": "oxycodone", "dose": 5, "unit": "mg", "route": "oral", "frequency": "q6h"},
        {"drug": "lorazepam", "dose": 1, "unit": "mg", "route": "oral", "frequency": "bid"}]  # fmt: skip
# A major rule for every patient (FDA boxed warning); opioid + gabapentinoid is major only from 65.
RULE = "interaction.opioid_benzodiazepine"
BUNDLE = {"resourceType": "Bundle", "entry": [{"resource": {
    "resourceType": "MedicationRequest", "id": f"m{i}", "status": "draft", "intent": "order",
    "medicationCodeableConcept": {"text": m["drug"]},
    "dosageInstruction": [{"text": f"{m['dose']} mg PO {m['frequency']}"}]}} for i, m in enumerate(PAIR)]}
CALL = {"hook": "order-sign", "hookInstance": "8a1f6c52-9e2b-4b8e-9c5d-2b0f2f3e7a10",
        "context": {"userId": "Practitioner/1", "patientId": "p1", "draftOrders": BUNDLE}}  # fmt: skip


@pytest.fixture
def db_url(tmp_path):
    return f"sqlite:///{tmp_path / 'gov.db'}"


@pytest.fixture
def client(db_url):
    return create_app({"TESTING": True, "DATABASE_URL": db_url}).test_client()


def summary_row(client, rule: str) -> dict:
    body = client.get("/v1/feedback/summary?since=2020-01-01").get_json()
    assert body["since"] == "2020-01-01"
    return next(r for r in body["rules"] if r["rule"] == rule)


def test_cds_feedback_is_stored_by_rule_without_the_comment(client, db_url):
    cards = client.post("/cds-services/medcheck-order-sign", json=CALL).get_json()["cards"]
    [card] = [c for c in cards if c["extension"]["medcheck"]["rule"] == RULE]
    feedback = {"feedback": [
        {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-12-01T10:00:00Z",
         "overrideReason": {"reason": {"system": "urn:medcheck:override-reason", "code": "will-monitor"},
                            "userComment": "Jane Roe, MRN 4455"}},
        {"card": card["uuid"], "outcome": "accepted", "outcomeTimestamp": "2026-12-01T10:05:00Z"},
    ]}  # fmt: skip
    r = client.post("/cds-services/medcheck-order-sign/feedback", json=feedback)
    assert r.status_code == 200 and r.get_json()["recorded"] == 2
    row = summary_row(client, RULE)
    assert row["shown"] == 1 and row["accepted"] == 1 and row["overridden"] == 1
    assert row["override_rate"] == 0.5  # more answers than recorded showings: rate over answers
    assert row["reasons"] == [{"code": "will-monitor", "count": 1}]
    raw = Path(db_url.removeprefix("sqlite:///")).read_bytes()
    assert b"Jane" not in raw and b"4455" not in raw


def test_checks_are_counted_as_shown_and_outcomes_recorded_from_the_pages(client):
    for _ in range(3):
        assert client.post("/v1/check", json={"medications": PAIR}).status_code == 200
    assert client.post("/v1/outcomes", json={"rule": RULE, "outcome": "overridden",
                                             "reason": "palliative-care"}).status_code == 201  # fmt: skip
    assert client.post("/v1/outcomes", json={"rule": RULE, "outcome": "acted_on"}).status_code == 201
    row = summary_row(client, RULE)
    assert (row["shown"], row["accepted"], row["overridden"]) == (3, 1, 1)
    assert row["override_rate"] == pytest.approx(1 / 3, abs=1e-4)
    bad = client.post("/v1/outcomes", json={"rule": "no.such", "outcome": "acted_on"})
    assert bad.status_code == 422 and "rule" in bad.get_json()["errors"]
    free_text = {"rule": RULE, "outcome": "overridden", "reason": "Jane Roe said"}
    text = client.post("/v1/outcomes", json=free_text)
    assert text.status_code == 422  # a reason is a code, never free text
    assert client.get("/v1/feedback/summary?since=yesterday-ish").status_code == 422


def test_recording_can_be_turned_off(db_url):
    client = create_app({"TESTING": True, "DATABASE_URL": db_url, "RECORD_SHOWN": False}).test_client()
    client.post("/v1/check", json={"medications": PAIR})
    assert client.get("/v1/feedback/summary").get_json()["rules"] == []


def test_the_governance_page_lists_candidates_and_draws_readable_charts(client, db_url):
    store = Store(db_url)
    from checker.store.feedback import FeedbackItem, record_feedback
    from checker.store.shown import ShownRecorder

    rec = ShownRecorder(store, interval_s=3600)
    for _ in range(60):
        rec.add([(RULE, "major"), ("dose.acetaminophen.0", "major")])
    rec.flush()
    often = [FeedbackItem(f"c{i}", "overridden", "will-monitor", rule=RULE) for i in range(58)]
    half = [FeedbackItem(f"d{i}", "overridden", rule="dose.acetaminophen.0") for i in range(30)]
    record_feedback(store, "medcheck-order-sign", often + half)
    page = client.get("/governance?since=2020-01-01")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    candidates = html.split('id="candidates"')[1].split('id="chart"')[0]
    assert RULE in candidates and "dose.acetaminophen.0" not in candidates  # 97 % of 60 vs 50 %
    assert "<svg" in html and "<title" in html and "58 overridden (97 %)" in html
    assert not re.search(r"(src|href)=\"https?://", html)  # offline: no CDN, no outside asset


def test_medcheck_feedback_prints_and_writes_the_page(tmp_path, client, db_url):
    client.post("/v1/check", json={"medications": PAIR})
    client.get("/v1/feedback/summary")  # flushes this process's counts
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MEDCHECK_DATABASE_URL": db_url}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "checker.cli", "feedback", *args], env=env,
                              capture_output=True, text=True, timeout=120)  # fmt: skip

    out = cli("--since", "2020-01-01")
    assert out.returncode == 0 and RULE in out.stdout and "since 2020-01-01" in out.stdout
    as_json = json.loads(cli("--json").stdout)
    assert any(r["rule"] == RULE and r["shown"] == 1 for r in as_json["rules"])
    page = tmp_path / "gov.html"
    assert cli("-o", str(page)).returncode == 0
    assert "Alert governance" in page.read_text() and RULE in page.read_text()
    assert cli("--since", "last week").returncode == 2


def test_readyz_says_whether_the_database_answers(client):
    ok = client.get("/readyz")
    assert ok.status_code == 200 and ok.get_json()["status"] == "ready"
    client.application.extensions["medcheck.store"] = Store("postgresql+psycopg://u:secret@127.0.0.1:1/none")
    down = client.get("/readyz")
    assert down.status_code == 503 and down.get_json()["checks"]["knowledge"] == "ok"
    assert "secret" not in down.get_data(as_text=True)
    assert client.get("/healthz").status_code == 200  # alive, just not ready


def test_every_response_carries_a_request_id(client):
    mine = client.get("/healthz", headers={"X-Request-ID": "lb-42.abc"})
    assert mine.headers["X-Request-ID"] == "lb-42.abc"
    new = client.post("/v1/check", data="{", content_type="application/json")
    assert new.status_code == 400 and re.fullmatch(r"[0-9a-f]{32}", new.headers["X-Request-ID"])
    forged = client.get("/nowhere", headers={"X-Request-ID": "x" * 500})
    assert forged.status_code == 404 and forged.headers["X-Request-ID"] != "x" * 500


def test_metrics_count_requests_and_findings(client):
    client.post("/v1/check", json={"medications": PAIR})
    text = client.get("/metrics").get_data(as_text=True)
    counted = r'medcheck_http_requests_total\{endpoint="/v1/check",method="POST",status="200"\} \d'
    assert re.search(counted, text)
    assert f'medcheck_findings_total{{rule="{RULE}",severity="major"}}' in text
    assert "medcheck_http_request_duration_seconds_bucket" in text and "medcheck_audit_rows_total" in text
