"""The site layer: severity changes, contextual suppression (visible on request), local drugs,
the knowledge version and rule catalogue, and a bad site file stopping the start with its line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from checker.http import create_app
from checker.schemas import load_regimen
from checker.site import SiteError, checked, load_site

ROOT = Path(__file__).resolve().parent.parent
PAIR = [{"drug": "oxycodone", "dose": 5, "unit": "mg", "route": "oral", "frequency": "q6h"},
        {"drug": "lorazepam", "dose": 1, "unit": "mg", "route": "oral", "frequency": "bid"}]  # fmt: skip
# A major rule for every patient (FDA boxed warning); opioid + gabapentinoid is major only from 65.
RULE = "interaction.opioid_benzodiazepine"
SIGNED = 'reason = "Reviewed by the P&T committee"\nauthor = "P&T committee"\ndate = 2026-12-01\n'


def site_file(tmp_path: Path, text: str, name: str = "site.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def report(regimen: dict, site_path: Path | None, include_suppressed: bool = False) -> dict:
    site = load_site(site_path) if site_path else None
    return checked(load_regimen(regimen), include_suppressed, site).to_dict()


def finding(rep: dict, rule: str) -> dict | None:
    return next((f for f in rep["findings"] if f["rule"] == rule), None)


def test_a_severity_change_applies_by_rule_id_and_says_so(tmp_path):
    path = site_file(tmp_path, f'[[rule]]\nid = "{RULE}"\nseverity = "minor"\n{SIGNED}')
    before = report({"medications": PAIR}, None)
    after = report({"medications": PAIR}, path)
    assert finding(before, RULE)["severity"] == "major"
    changed = finding(after, RULE)
    assert changed["severity"] == "minor"
    assert changed["site"] == {"package_severity": "major", "reason": "Reviewed by the P&T committee",
                               "author": "P&T committee", "date": "2026-12-01"}  # fmt: skip
    assert after["counts"]["minor"] == before["counts"]["minor"] + 1
    assert after["counts"]["major"] == before["counts"]["major"] - 1
    assert after["suppressed"] == 0
    # The version names the site layer: a report under a site is never mistaken for the package's.
    assert after["knowledge_version"].startswith(before["knowledge_version"] + ".site.")


@pytest.mark.parametrize("when, patient, hidden", [
    ('{ conditions = ["palliative_care"] }', {"conditions": ["palliative care"]}, True),
    ('{ conditions = ["palliative_care"] }', {"conditions": ["diabetes"]}, False),
    ("{ age_min = 65 }", {"age_years": 70}, True),
    ("{ age_min = 65 }", {"age_years": 50}, False),
    ("{ age_min = 65 }", {}, False),  # an unknown age is in no band: not suppressed
    ('{ routes = ["po"] }', {}, True),
    ('{ routes = ["iv"] }', {}, False),
    (None, {}, True),  # everywhere
])  # fmt: skip
def test_suppression_by_context_is_counted_and_shown_on_request(tmp_path, when, patient, hidden):
    text = f'[[suppress]]\nrule = "{RULE}"\n' + (f"when = {when}\n" if when else "") + SIGNED
    path = site_file(tmp_path, text)
    regimen = {"patient": patient, "medications": PAIR}
    plain, shown = report(regimen, path), report(regimen, path, include_suppressed=True)
    assert (finding(plain, RULE) is None) is hidden
    assert plain["suppressed"] == shown["suppressed"] == (1 if hidden else 0)
    listed = finding(shown, RULE)
    assert listed is not None
    assert listed.get("suppressed", False) is hidden
    if hidden:
        assert listed["site"]["suppressed"]["reason"] == "Reviewed by the P&T committee"
        assert shown["findings"][-1] == listed  # listed after what is in force
        assert shown["counts"] == plain["counts"]  # a suppressed finding counts only in `suppressed`


def test_http_check_and_rules_follow_the_site(tmp_path):
    path = site_file(tmp_path, f'[[rule]]\nid = "{RULE}"\nseverity = "moderate"\n{SIGNED}'
                     f'[[suppress]]\nrule = "opioid_load.total"\n{SIGNED}')  # fmt: skip
    client = create_app({"TESTING": True, "SITE_FILE": str(path)}).test_client()
    body = client.post("/v1/check", json={"medications": PAIR}).get_json()
    assert finding(body, RULE)["severity"] == "moderate"
    assert body["suppressed"] == 1 and finding(body, "opioid_load.total") is None
    shown = client.post("/v1/check?include_suppressed=true", json={"medications": PAIR}).get_json()
    assert finding(shown, "opioid_load.total")["suppressed"] is True
    rules = client.get("/v1/rules").get_json()
    assert rules["knowledge_version"] == body["knowledge_version"]
    by_id = {r["id"]: r for r in rules["rules"]}
    assert by_id[RULE]["severity"] == "moderate" and by_id[RULE]["origin"] == "site"
    assert by_id[RULE]["package_severity"] == "major"
    assert by_id["opioid_load.total"]["suppressed"][0]["when"] == {}
    assert by_id["interaction.opioid_gabapentinoid_older_adult"]["origin"] == "package"
    assert client.get("/healthz").get_json()["knowledge_version"] == body["knowledge_version"]


def test_cds_cards_follow_the_site(tmp_path):
    path = site_file(tmp_path, f'[[suppress]]\nrule = "{RULE}"\n{SIGNED}')
    client = create_app({"TESTING": True, "SITE_FILE": str(path)}).test_client()
    bundle = {"resourceType": "Bundle", "entry": [{"resource": {
        "resourceType": "MedicationRequest", "id": f"m{i}", "status": "draft", "intent": "order",
        "medicationCodeableConcept": {"text": m["drug"]},
        "dosageInstruction": [{"text": f"{m['dose']} mg PO {m['frequency']}"}]}} for i, m in enumerate(PAIR)]}
    call = {"hook": "order-sign", "hookInstance": "8a1f6c52-9e2b-4b8e-9c5d-2b0f2f3e7a10",
            "context": {"userId": "Practitioner/1", "patientId": "p1", "draftOrders": bundle}}  # fmt: skip
    cards = client.post("/cds-services/medcheck-order-sign", json=call).get_json()["cards"]
    rules = {c.get("extension", {}).get("medcheck", {}).get("rule") for c in cards}
    assert RULE not in rules and rules - {None}  # other cards still come (info findings make none)


@pytest.mark.parametrize("text, message", [
    (f'[[rule]]\nid = "{RULE}"\nseverity = "major"\n{SIGNED}\n[[rule]]\nid = "interaction.nope"\n'
     f'severity = "minor"\n{SIGNED}', "line 8: [[rule]] #2 (interaction.nope): no rule 'interaction.nope'"),
    (f'[[rule]]\nid = "{RULE}"\nseverity = "severe"\n{SIGNED}', "line 1: [[rule]] #1"),
    (f'[[rule]]\nid = "{RULE}"\nseverity = "minor"\n', "reason: Missing data"),
    (f'[[suppress]]\nrule = "{RULE}"\nwhen = {{ routes = ["teleport"] }}\n{SIGNED}',
     "unknown route 'teleport'"),
    (f'[[suppress]]\nrule = "{RULE}"\nwhen = {{ ward = "A" }}\n{SIGNED}', "ward: Unknown field"),
    (f'[[suppress]]\nrule = "{RULE}"\nwhen = {{ age_min = 70, age_max = 60 }}\n{SIGNED}', "age_max"),
    ('[[rule]]\nid = "x"\nseverity = \n', "line 3"),  # TOML syntax: tomllib's own line and column
    ('[[rules]]\nid = "x"\n', "unknown table(s) ['rules']"),
    (f'[[rule]]\nid = "{RULE}"\nseverity = "minor"\n{SIGNED}'
     f'[[rule]]\nid = "{RULE}"\nseverity = "info"\n{SIGNED}', "already changed at line 1"),
])  # fmt: skip
def test_a_bad_site_file_is_refused_naming_the_line(tmp_path, text, message):
    path = site_file(tmp_path, text)
    with pytest.raises(SiteError) as exc:
        load_site(path)
    assert str(path) in str(exc.value) and message in str(exc.value), str(exc.value)
    with pytest.raises(SiteError):
        create_app({"TESTING": True, "SITE_FILE": str(path)})  # the server does not start on it


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k != "MEDCHECK_SITE"}
    full.update({"PYTHONPATH": str(ROOT), **(env or {})})
    return subprocess.run([sys.executable, "-m", "checker.cli", *args], capture_output=True, text=True,
                          env=full, timeout=120)  # fmt: skip


LOCAL = """
[source.LOCAL1]
label = "St Elsewhere formulary monograph, cannabidiol oral solution (2026)"

[[drug]]
id = "local_cannabidiol"
name = "Cannabidiol oral solution (local)"
kind = "drug"
classes = []
dose_unit = "mg"
routes = ["oral"]
brands = ["Elsewhere CBD"]
source = "LOCAL1"

[[drug.limit]]
routes = ["oral"]
max_daily = "1000 mg"
source = "LOCAL1"
evidence_quote = "Adults: no more than 1000 mg per day."
evidence_location = "Monograph, Dosing"
recommendation = "Keep cannabidiol at or below 1000 mg/day (local policy)."

[[rule]]
id = "dose.local_cannabidiol.0"
severity = "moderate"
""" + SIGNED


def test_a_local_drug_is_checked_and_listed_through_every_command(tmp_path):
    path = site_file(tmp_path, LOCAL)
    regimen = tmp_path / "r.json"
    regimen.write_text(json.dumps({"medications": [{"drug": "Elsewhere CBD", "dose": 600, "unit": "mg",
                                                    "route": "oral", "frequency": "bid"}]}))  # fmt: skip
    plain = cli("check", str(regimen), "--json")
    assert any(f["category"] == "unrecognized" for f in json.loads(plain.stdout)["findings"])
    out = cli("check", str(regimen), "--json", "--site", str(path))
    assert out.returncode == 0, out.stderr
    rep = json.loads(out.stdout)
    assert rep["medications"][0]["drug"] == "local_cannabidiol"
    [f] = [f for f in rep["findings"] if f["rule"] == "dose.local_cannabidiol.0"]
    assert f["severity"] == "moderate" and f["evidence"]["limit"] == "1 g/day"
    same = cli("check", str(regimen), "--json", env={"MEDCHECK_SITE": str(path)})
    assert json.loads(same.stdout) == rep
    rules = json.loads(cli("rules", "--json", "--site", str(path)).stdout)
    rows = [r for r in rules if r["id"] == "dose.local_cannabidiol.0"]
    assert rows and all(r["origin"] == "site" and r["severity"] == "moderate" for r in rows)
    formulary = cli("formulary", "local_cannabidiol", "--json", "--site", str(path))
    assert json.loads(formulary.stdout)["name"] == "Cannabidiol oral solution (local)"


def test_a_bad_local_drug_or_site_stops_every_command_with_status_2(tmp_path):
    path = site_file(tmp_path, LOCAL.replace('classes = []', 'classes = ["no_such_class"]'))
    for command in (["check", "-"], ["rules"], ["formulary"], ["serve", "--port", "1"], ["feedback"],
                    ["audit", "-"]):  # fmt: skip
        out = cli(*command, "--site", str(path))
        assert out.returncode == 2, (command, out.stderr)
        assert "no_such_class" in out.stderr and str(path) in out.stderr
    assert "Traceback" not in out.stderr


LOCAL_ROW = LOCAL + """
[[interaction]]
id = "local_cannabidiol_warfarin"
a = "local_cannabidiol"
b = "warfarin"
severity = "major"
effect = "INR rises (cannabidiol inhibits CYP2C9)."
mechanism = "CYP2C9 inhibition raises warfarin exposure."
management = "Check the INR within a week of starting or changing cannabidiol."
source = "LOCAL1"
evidence_quote = "Cannabidiol may increase warfarin exposure; monitor the INR."
evidence_location = "Monograph, Interactions"
"""


def test_a_local_interaction_row_is_checked_and_listed(tmp_path):
    path = site_file(tmp_path, LOCAL_ROW)
    regimen = tmp_path / "r.json"
    regimen.write_text(json.dumps({"medications": [
        {"drug": "local_cannabidiol", "dose": 200, "unit": "mg", "route": "oral", "frequency": "bid"},
        {"drug": "warfarin", "dose": 5, "unit": "mg", "route": "oral", "frequency": "daily"}]}))  # fmt: skip
    out = cli("check", str(regimen), "--json", "--site", str(path))
    assert out.returncode == 0, out.stderr
    rule = "interaction.local_cannabidiol_warfarin"
    [f] = [f for f in json.loads(out.stdout)["findings"] if f["rule"] == rule]
    assert f["severity"] == "major" and sorted(f["drugs"]) == ["local_cannabidiol", "warfarin"]
    rules = json.loads(cli("rules", "--json", "--site", str(path)).stdout)
    [row] = [r for r in rules if r["id"] == "interaction.local_cannabidiol_warfarin"]
    assert row["origin"] == "site"
    bad = site_file(tmp_path, LOCAL_ROW.replace('b = "warfarin"', 'b = "no_such_drug"'), "bad.toml")
    refused = cli("rules", "--site", str(bad))
    assert refused.returncode == 2 and "no_such_drug" in refused.stderr and "line" in refused.stderr
