"""Override analytics for findings that merged others (checker.merge): every rule a finding shown
stands for is counted shown, and feedback on it counts for each, through the real app and
database (SQLite always, PostgreSQL when .ci/run started one)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from checker.http import create_app
from tests.store_urls import BACKENDS, fresh_url

ROOT = Path(__file__).resolve().parent.parent
UCUM = "http://unitsofmeasure.org"
SINCE = "2020-01-01"
# hydromorphone with severe renal and moderate hepatic impairment: two rules, one advice
HYDROMORPHONE = {"drug": "hydromorphone", "dose": 2, "unit": "mg", "route": "oral", "frequency": "q4h"}
SICK = {"crcl_ml_min": 20, "hepatic_impairment": "moderate", "opioid_tolerant": True}
HEPATIC, RENAL = "hepatic.hydromorphone_hepatic", "renal.hydromorphone_crcl_below_30"
# acetaminophen 2 g q6h: a per-dose and a per-day excess of one rule, merged into one finding
APAP = {"drug": "acetaminophen", "dose": 2, "unit": "g", "route": "oral", "frequency": "q6h"}
APAP_RULE = "dose.acetaminophen.0"
# radium-223 before its first dose with both counts low: two rules, one card
ANC, PLATELETS = "condition.radium_223_counts_first_anc", "condition.radium_223_counts_first_platelets"
SIGNED = 'reason = "Reviewed by the P&T committee"\nauthor = "P&T committee"\ndate = 2026-12-01\n'


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path):
    return fresh_url(request.param, tmp_path)


@pytest.fixture
def client(db_url):
    return create_app({"TESTING": True, "DATABASE_URL": db_url}).test_client()


def rows(client) -> dict[str, dict]:
    body = client.get(f"/v1/feedback/summary?since={SINCE}").get_json()
    return {r["rule"]: r for r in body["rules"]}


def counts(row: dict | None) -> tuple[int, int, int]:
    return (row["shown"], row["accepted"], row["overridden"]) if row else (0, 0, 0)


def check(client, *meds: dict, **patient) -> dict:
    r = client.post("/v1/check", json={"patient": patient, "medications": list(meds)})
    assert r.status_code == 200, r.get_data(as_text=True)
    return r.get_json()


def _obs(code: str, value: float, unit: str) -> dict:
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": {
        "resourceType": "Observation", "status": "final", "effectiveDateTime": "2026-11-18T08:00:00Z",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit}}}]}  # fmt: skip


def cds_call(*drafts: tuple[str, str], prefetch: dict | None = None) -> dict:
    entries = [{"resource": {"resourceType": "MedicationRequest", "id": f"m{i}", "status": "draft",
                             "intent": "order", "medicationCodeableConcept": {"text": drug},
                             "dosageInstruction": [{"text": sig}]}}
               for i, (drug, sig) in enumerate(drafts)]  # fmt: skip
    body = {"hook": "order-sign", "hookInstance": "8a1f6c52-9e2b-4b8e-9c5d-2b0f2f3e7a10",
            "context": {"userId": "Practitioner/1", "patientId": "p1",
                        "draftOrders": {"resourceType": "Bundle", "entry": entries}}}  # fmt: skip
    if prefetch:
        body["prefetch"] = prefetch
    return body


def test_a_merged_finding_counts_as_shown_for_every_rule_it_stands_for(client):
    for _ in range(2):  # the second is answered from the report cache: counted all the same
        [f] = [f for f in check(client, HYDROMORPHONE, **SICK)["findings"] if f["rule"] == HEPATIC]
        assert [m["rule"] for m in f["evidence"]["merged"]] == [RENAL]
    [apap] = [f for f in check(client, APAP)["findings"] if f["code"] == "dose.daily_max"]
    assert [m["rule"] for m in apap["evidence"]["merged"]] == [APAP_RULE]  # one rule, twice
    got = rows(client)
    assert got[HEPATIC]["shown"] == 2 and got[RENAL]["shown"] == 2
    assert got[APAP_RULE]["shown"] == 1  # once per finding shown, not once per entry
    metrics = client.get("/metrics").get_data(as_text=True)
    assert f'medcheck_findings_total{{rule="{RENAL}",severity="moderate"}}' in metrics


def test_cds_feedback_on_a_merged_card_counts_for_each_of_its_rules(client, db_url):
    low_counts = {"weight": _obs("29463-7", 70, "kg"), "platelets": _obs("777-3", 80, "10*3/uL"),
                  "neutrophils": _obs("751-8", 1.2, "10*3/uL")}  # fmt: skip
    r = client.post("/cds-services/medcheck-order-sign",
                    json=cds_call(("Xofigo", "55 kBq/kg IV every 4 weeks × 6"), prefetch=low_counts))
    [radium] = [c for c in r.get_json()["cards"] if c["extension"]["medcheck"]["rule"] == ANC]
    assert radium["extension"]["medcheck"]["mergedRules"] == [PLATELETS]
    apap = client.post("/cds-services/medcheck-order-sign", json=cds_call(("acetaminophen", "2 g PO q6h")))
    [paracetamol] = [c for c in apap.get_json()["cards"] if c["extension"]["medcheck"]["rule"] == APAP_RULE]
    feedback = {"feedback": [
        {"card": radium["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-12-01T10:00:00Z",
         "overrideReason": {"reason": {"system": "urn:medcheck:override-reason", "code": "will-monitor"}}},
        {"card": paracetamol["uuid"], "outcome": "accepted", "outcomeTimestamp": "2026-12-01T10:01:00Z"},
    ]}  # fmt: skip
    assert client.post("/cds-services/medcheck-order-sign/feedback", json=feedback).status_code == 200
    got = rows(client)
    for rule in (ANC, PLATELETS):
        assert counts(got.get(rule)) == (1, 0, 1), rule
        assert got[rule]["override_rate"] == 1.0
        assert got[rule]["reasons"] == [{"code": "will-monitor", "count": 1}]
    assert counts(got.get(APAP_RULE)) == (1, 1, 0)  # the rule twice in one card: one answer
    page = client.get(f"/governance?since={SINCE}").get_data(as_text=True)
    assert f"{PLATELETS}: shown 1, accepted 0, overridden 1." in page

    env = {**os.environ, "PYTHONPATH": str(ROOT), "MEDCHECK_DATABASE_URL": db_url}

    def cli(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "checker.cli", "feedback", "--since", SINCE, *args],
                              env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    as_json = {r["rule"]: r for r in json.loads(cli("--json"))["rules"]}
    assert counts(as_json.get(PLATELETS)) == (1, 0, 1)
    [line] = [x for x in cli().splitlines() if x.startswith(PLATELETS)]
    assert line.split()[1:5] == ["1", "0", "1", "100%"] and "will-monitor (1)" in line


def test_an_outcome_recorded_on_a_merged_finding_counts_for_each_of_its_rules(client):
    check(client, HYDROMORPHONE, **SICK)
    body = {"rule": HEPATIC, "merged": [RENAL, HEPATIC, RENAL], "outcome": "overridden",
            "reason": "palliative-care"}  # fmt: skip
    r = client.post("/v1/outcomes", json=body)
    assert r.status_code == 201 and r.get_json() == {"recorded": 2}  # each rule once
    assert client.post("/v1/outcomes", json={"rule": HEPATIC, "merged": [RENAL],
                                             "outcome": "acted_on"}).status_code == 201  # fmt: skip
    got = rows(client)
    for rule in (HEPATIC, RENAL):
        assert counts(got.get(rule)) == (1, 1, 1), rule
        assert got[rule]["reasons"] == [{"code": "palliative-care", "count": 1}]
        assert got[rule]["override_rate"] == 0.5
    bad = client.post("/v1/outcomes", json={**body, "merged": [RENAL, "no.such"]})
    assert bad.status_code == 422
    assert bad.get_json()["errors"] == {"merged.1": ["no rule 'no.such'; see GET /v1/rules"]}
    assert counts(rows(client)[RENAL]) == (1, 1, 1)  # nothing recorded from the refused one


def site_client(db_url: str, site: Path, text: str):
    site.write_text(text + SIGNED)
    return create_app({"TESTING": True, "DATABASE_URL": db_url, "SITE_FILE": str(site)}).test_client()


def test_a_site_grading_or_suppressing_a_merged_rule_hides_no_other_rule(tmp_path, db_url):
    # graded down, the winner becomes the merged one: both still counted
    graded = site_client(db_url, tmp_path / "g.toml", f'[[rule]]\nid = "{HEPATIC}"\nseverity = "minor"\n')
    [f] = [f for f in check(graded, HYDROMORPHONE, **SICK)["findings"] if f["rule"] == RENAL]
    assert [m["rule"] for m in f["evidence"]["merged"]] == [HEPATIC]
    got = rows(graded)
    assert got[RENAL]["shown"] == 1 and got[HEPATIC]["shown"] == 1
    # suppressed (the site layer runs before the merge): the rule is not counted through the
    # other finding, and that finding is neither hidden with it nor carries it back
    quiet = site_client(db_url, tmp_path / "quiet.toml", f'[[suppress]]\nrule = "{HEPATIC}"\n')
    listed = quiet.post("/v1/check?include_suppressed=true",
                        json={"patient": SICK, "medications": [HYDROMORPHONE]}).get_json()  # fmt: skip
    [hidden] = [f for f in listed["findings"] if f.get("suppressed")]
    assert hidden["rule"] == HEPATIC and "merged" not in hidden["evidence"]
    [f] = [f for f in check(quiet, HYDROMORPHONE, **SICK)["findings"] if f["rule"] == RENAL]
    assert "merged" not in f["evidence"]
    got = rows(quiet)  # the same database: the graded site's showings and these two
    assert got[RENAL]["shown"] == 1 + 2 and got[HEPATIC]["shown"] == 1
