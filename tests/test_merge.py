"""Findings giving the same advice for the same orders are shown once (issue 17, alert fatigue).

Through every way of checking: the library, the HTTP API, CDS Hooks cards, the batch audit and a
site layer that changes or suppresses one of the merged rules.
"""

from __future__ import annotations

import csv
import uuid
from pathlib import Path

import pytest

from checker import check
from checker.cli import main
from checker.http import create_app
from checker.merge import merge_findings, unmerged
from checker.model import Finding
from checker.schemas import load_regimen
from checker.site import checked, load_site
from tests.conftest import find
from tests.web_support import csrf_token

XGEVA = {"drug": "Xgeva", "sig": "120 mg sub-Q every 4 weeks"}
LOW_CALCIUM = {"serum_calcium": "7.9 mg/dL", "albumin": "4 g/dL", "conditions": ["hypocalcemia"]}
HYDROMORPHONE = {"drug": "hydromorphone", "dose": 2, "unit": "mg", "route": "oral", "frequency": "q4h"}
SICK_LIVER_KIDNEYS = {"crcl_ml_min": 20, "hepatic_impairment": "moderate", "opioid_tolerant": True}
APAP_2G_Q6H = {"drug": "acetaminophen", "dose": 2, "unit": "g", "route": "oral", "frequency": "q6h"}
SIGNED = 'reason = "Reviewed by the P&T committee"\nauthor = "P&T committee"\ndate = 2026-12-01\n'


def rules_of(f: dict) -> list[str]:
    return [f["rule"], *(m["rule"] for m in f["evidence"].get("merged", ()))]


def test_same_advice_is_one_finding_listing_both_rules_with_their_numbers_and_sources(run):
    # denosumab: a measured low calcium and "hypocalcemia" among the conditions say the same thing
    report = run(XGEVA, **LOW_CALCIUM)
    [f] = [f for f in report["findings"] if "hypocalcaemia" in f["message"] and f["category"] == "condition"]
    assert rules_of(f) == ["condition.denosumab_hypocalcaemia", "condition.denosumab_hypocalcaemia_condition"]
    assert f["severity"] == "contraindicated" and report["counts"]["contraindicated"] == 1
    [other] = f["evidence"]["merged"]
    assert f["evidence"]["serum_calcium_mg_dl"] == "7.9"
    assert other["evidence"] == {"conditions": ["hypocalcemia"]}
    assert other["source"]["label"] and other["source"]["quote"] and other["severity"] == "contraindicated"
    # the sentence the other adds is not repeated when the winner already says it
    assert "Also:" not in f["message"]


def test_two_low_counts_before_radium_are_one_finding_that_names_both():
    patient = {"weight_kg": 70, "platelets": "80 10^9/L", "anc": "1.2 10^9/L"}
    radium = {"drug": "Xofigo", "sig": "55 kBq/kg IV every 4 weeks × 6"}
    report = check({"patient": patient, "medications": [radium]})
    [f] = [f for f in report.findings if f.code.startswith("condition.radium_223_counts_first")]
    assert {x.code for x in unmerged([f])} == {
        "condition.radium_223_counts_first_anc",
        "condition.radium_223_counts_first_platelets",
    }
    assert "ANC" in f.message and "platelets" in f.message and "(now 80)" in f.message


def test_different_advice_for_the_same_order_stays_two_findings(run):
    # zoledronic acid: CrCl 20 (choose another agent) and low calcium (correct it first)
    report = run({"drug": "zoledronic acid", "dose": 4, "unit": "mg", "route": "iv", "frequency": "once"},
                 crcl_ml_min=20, serum_calcium="7.9 mg/dL", albumin="4 g/dL")  # fmt: skip
    [renal] = find(report, "renal.zoledronic_acid_crcl_below_30")
    [calcium] = find(report, "condition.bisphosphonate_hypocalcaemia")
    assert renal["recommendation"] != calcium["recommendation"]
    assert "merged" not in renal["evidence"] and "merged" not in calcium["evidence"]


def test_same_advice_about_different_orders_stays_two_findings(run):
    # ondansetron with sertraline and with fentanyl: the same words, but two pairs to review
    report = run({"drug": "ondansetron", "dose": 4, "unit": "mg", "route": "iv", "frequency": "q8h"},
                 {"drug": "sertraline", "dose": 50, "unit": "mg", "route": "oral", "frequency": "daily"},
                 {"drug": "fentanyl", "sig": "25 µg/h changed every 72 h", "route": "transdermal"},
                 opioid_tolerant=True)  # fmt: skip
    [ssri] = find(report, "interaction.ondansetron_ssri")
    [opioid] = find(report, "interaction.ondansetron_fentanyl")
    assert ssri["recommendation"] == opioid["recommendation"]
    assert (ssri["medications"], opioid["medications"]) == ([0, 1], [0, 2])
    assert "merged" not in ssri["evidence"] and "merged" not in opioid["evidence"]


def test_one_caution_covering_two_orders_of_a_drug_absorbs_its_twin_once(run):
    twice = [dict(HYDROMORPHONE, frequency="q6h"), {"drug": "Dilaudid", "dose": 2, "unit": "mg",
             "route": "oral", "frequency": "q6h"}]  # fmt: skip
    [f] = find(run(*twice, **SICK_LIVER_KIDNEYS), "hepatic.hydromorphone_hepatic")
    assert f["medications"] == [0, 1]
    assert rules_of(f) == ["hepatic.hydromorphone_hepatic", "renal.hydromorphone_crcl_below_30"]
    assert "Also: Hydromorphone exposure rises in severe renal impairment (CrCl 20 mL/min)." in f["message"]


def test_a_per_dose_and_a_per_day_excess_with_one_advice_are_one_finding(run):
    report = run(APAP_2G_Q6H)
    [f] = [f for f in report["findings"] if f["code"] in ("dose.daily_max", "dose.single_max")]
    assert f["code"] == "dose.daily_max" and f["evidence"]["actual"] == "8 g/day"
    assert f["evidence"]["merged"][0]["evidence"]["actual"] == "2 g"
    assert "Also: A single Acetaminophen (paracetamol) dose of 2 g exceeds the limit of 1 g." in f["message"]


def _finding(code: str, severity: str, category: str = "condition", advice: str = "Withhold.") -> Finding:
    return Finding(code, category, severity, ("denosumab",), (0,), f"{code} says so.", advice, rule=code)


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 1, 0), (1, 2, 0)])
def test_the_merged_finding_takes_the_highest_severity_whatever_the_order(order):
    made = [_finding("condition.a", "moderate"), _finding("renal.b", "major"), _finding("age.c", "minor")]
    [f] = merge_findings([made[i] for i in order])
    assert (f.severity, f.rule) == ("major", "renal.b")
    assert [m["rule"] for m in f.evidence["merged"]] == ["condition.a", "age.c"]
    assert f.message == "renal.b says so. Also: condition.a says so. age.c says so."


def test_other_families_and_unreadable_input_are_never_merged():
    made = [_finding("condition.a", "major"), _finding("dose.b", "major", "dose_daily"),
            _finding("monitoring.c", "major", "monitoring"), _finding("input.d", "info", "input"),
            _finding("input.e", "info", "input")]  # fmt: skip
    assert len(merge_findings(made)) == 5
    assert merge_findings(merge_findings(made)) == merge_findings(made)


def test_a_site_severity_change_competes_in_the_merge(tmp_path):
    site = tmp_path / "site.toml"
    site.write_text(f'[[rule]]\nid = "renal.hydromorphone_crcl_below_30"\nseverity = "major"\n{SIGNED}')
    regimen = load_regimen({"patient": SICK_LIVER_KIDNEYS, "medications": [HYDROMORPHONE]})
    plain = checked(regimen, site=None).to_dict()
    [before] = find(plain, "hepatic.hydromorphone_hepatic")
    assert rules_of(before) == ["hepatic.hydromorphone_hepatic", "renal.hydromorphone_crcl_below_30"]
    raised = checked(regimen, site=load_site(site)).to_dict()
    [f] = find(raised, "renal.hydromorphone_crcl_below_30")
    assert f["severity"] == "major" and f["site"]["package_severity"] == "moderate"
    assert rules_of(f) == ["renal.hydromorphone_crcl_below_30", "hepatic.hydromorphone_hepatic"]


def test_a_rule_suppressed_by_the_site_does_not_take_the_other_rule_with_it(tmp_path):
    site = tmp_path / "site.toml"
    site.write_text(f'[[suppress]]\nrule = "condition.denosumab_hypocalcaemia"\n{SIGNED}')
    regimen = load_regimen({"patient": LOW_CALCIUM, "medications": [XGEVA]})
    shown = checked(regimen, site=load_site(site)).to_dict()
    [f] = [f for f in shown["findings"] if f["category"] == "condition"]
    assert rules_of(f) == ["condition.denosumab_hypocalcaemia_condition"] and shown["suppressed"] == 1
    listed = checked(regimen, include_suppressed=True, site=load_site(site)).to_dict()
    hidden = [f for f in listed["findings"] if f.get("suppressed")]
    assert [f["rule"] for f in hidden] == ["condition.denosumab_hypocalcaemia"]


def test_http_check_and_cds_card_show_the_advice_once():
    client = create_app({"TESTING": True}).test_client()
    body = client.post("/v1/check", json={"patient": {}, "medications": [APAP_2G_Q6H]}).get_json()
    assert [f["code"] for f in body["findings"] if f["severity"] == "major"] == ["dose.daily_max"]
    request = {
        "resourceType": "MedicationRequest", "id": "apap", "status": "draft", "intent": "order",
        "subject": {"reference": "Patient/p-001"}, "medicationCodeableConcept": {"text": "acetaminophen"},
        "dosageInstruction": [{
            "timing": {"repeat": {"frequency": 1, "period": 6, "periodUnit": "h"}},
            "route": {"coding": [{"system": "http://snomed.info/sct", "code": "26643006"}]},
            "doseAndRate": [{"doseQuantity": {"value": 2, "unit": "g", "system": "http://unitsofmeasure.org",
                                              "code": "g"}}],
        }],
    }  # fmt: skip
    call = {"hook": "order-sign", "hookInstance": str(uuid.uuid4()),
            "context": {"userId": "Practitioner/dr-1", "patientId": "p-001",
                        "draftOrders": {"resourceType": "Bundle", "type": "collection",
                                        "entry": [{"resource": request}]}}}  # fmt: skip
    response = client.post("/cds-services/medcheck-order-sign", json=call)
    assert response.status_code == 200, response.get_data(as_text=True)
    critical = [c for c in response.get_json()["cards"] if c["indicator"] == "critical"]
    assert [c["extension"]["medcheck"]["rule"] for c in critical] == ["dose.acetaminophen.0"]
    detail = critical[0]["detail"]
    assert "2 g exceeds the limit of 1 g" in detail and '"merged"' not in detail
    assert "Same advice from `dose.acetaminophen.0` (major): A single Acetaminophen" in detail


def test_the_regimen_page_lists_the_merged_rule_in_words():
    client = create_app({"TESTING": True}).test_client()
    form = {"medications": "acetaminophen 2 g PO q6h", "csrf_token": csrf_token(client)}
    page = client.post("/", data=form)
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and 'data-code="dose.single_max"' not in text
    assert text.count('data-code="dose.daily_max"') == 1
    assert "<dt>same advice from</dt><dd>dose.acetaminophen.0 (major): A single Acetaminophen" in text


def test_the_batch_audit_merges_as_check_does(capsys, tmp_path: Path):
    meds = tmp_path / "meds.csv"
    meds.write_text("patient_id,drug,dose,unit,route,frequency\np1,acetaminophen,2,g,oral,q6h\n")
    out = tmp_path / "findings.csv"
    assert main(["audit", str(meds), "-o", str(out)]) == 0
    capsys.readouterr()
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    major = [r for r in rows if r["severity"] == "major"]
    assert [r["code"] for r in major] == ["dose.daily_max"]
    assert "Also: A single Acetaminophen (paracetamol) dose of 2 g" in major[0]["message"]
    expected = check({"patient": {}, "medications": [APAP_2G_Q6H]})
    assert [(r["code"], r["message"]) for r in rows] == [(f.code, f.message) for f in expected.findings]
