"""Dose rows for one product line where products of one ingredient are dosed differently: Hysingla
ER is once daily where Zohydro ER (both ER hydrocodone) is every 12 hours; Exalgo once daily; Ultram
ER / ConZip once daily, at most 300 mg/day; immediate-release tapentadol every 4-6 hours, 600 mg/day
(700 mg on the first day) beside Nucynta ER every 12 hours, 500 mg/day. Orders are written as order
entry and pharmacy systems write them: brand and strength, RxNorm names and codes, sigs."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from checker import check
from checker.catalogue import rule_list
from checker.cli import main

ROOT = Path(__file__).resolve().parent.parent
PATIENT = {"id": "p1", "age_years": 60, "weight_kg": 70, "opioid_tolerant": True,
           "hepatic_impairment": "none", "crcl_ml_min": 90}  # fmt: skip
HYSINGLA_SBD = "Abuse-Deterrent 24 HR hydrocodone bitartrate 20 MG Extended Release Oral Tablet [Hysingla]"
HYSINGLA_SCD = "Abuse-Deterrent 24 HR hydrocodone bitartrate 20 MG Extended Release Oral Tablet"


def _findings(*meds: dict, patient: dict | None = None) -> list:
    return check({"patient": patient or PATIENT, "medications": list(meds)}).findings


def _codes(found: list, prefix: str = "dose.") -> list[tuple[str, str | None]]:
    """(code, limit) of the dose findings: what a pharmacist is told, and against which number."""
    return sorted((f.code, f.evidence.get("limit")) for f in found if f.code.startswith(prefix))


HYSINGLA_Q12H = [
    {"drug": "Hysingla ER 20 mg", "sig": "1 tab PO q12h"},
    {"drug": "Hysingla ER", "dose": 20, "unit": "mg", "route": "po", "frequency": "q12h"},
    {"drug": "HYSINGLA ER", "sig": "20 mg by mouth every 12 hours"},
    {"drug": HYSINGLA_SBD, "dose": 1, "unit": "tablet", "frequency": "q12h"},
    {"drug": HYSINGLA_SCD, "dose": 1, "unit": "tablet", "frequency": "BID"},
    {"rxcui": "1595736", "dose": 1, "unit": "tab", "frequency": "q12h"},  # the SBD above, by code
    {"rxcui": "1595730", "dose": 1, "unit": "tab", "frequency": "q12h"},  # its SCD, by code
]


@pytest.mark.parametrize("med", HYSINGLA_Q12H, ids=lambda m: m.get("drug") or m.get("rxcui"))
def test_hysingla_every_12_hours_is_flagged_against_its_own_once_daily_row(med):
    found = [f for f in _findings(med) if f.code == "dose.interval_min"]
    assert [(f.rule, f.evidence["limit"], f.severity) for f in found] == [
        ("dose.hydrocodone.1", "every 24 h", "moderate")
    ]
    assert "Hysingla ER" in found[0].message and "every 12 h" in found[0].message
    assert "HYSINGLA ER" in found[0].source["quote"] and found[0].source["location"]


@pytest.mark.parametrize("frequency", ["every 24 hours", "daily", "q24h", "once daily"])
@pytest.mark.parametrize("drug", ["Hysingla ER 20 mg", HYSINGLA_SBD])
def test_hysingla_once_daily_is_not_flagged(drug, frequency):
    med = {"drug": drug, "dose": 1, "unit": "tab", "frequency": frequency}
    assert not [f for f in _findings(med) if "interval_min" in f.code]


def test_hysingla_more_often_still_cites_its_own_row_not_the_generic_er_row():
    # every 8 hours breaks both the ER hydrocodone row (12 h) and Hysingla's (24 h): the product's
    # row takes the generic one's place, so the pharmacist is told the Hysingla interval, once
    found = [f for f in _findings({"drug": "Hysingla ER 40 mg", "sig": "1 tab q8h"}) if "interval" in f.code]
    assert [(f.rule, f.evidence["limit"]) for f in found] == [("dose.hydrocodone.1", "every 24 h")]
    assert "also_exceeds" not in found[0].evidence


@pytest.mark.parametrize(
    "med",
    [
        {"drug": "Zohydro ER 20 mg", "sig": "1 cap PO q12h"},
        {"drug": "Zohydro ER", "dose": 20, "unit": "mg", "frequency": "every 12 hours"},
        {"drug": "12 HR hydrocodone bitartrate 20 MG Extended Release Oral Capsule [Zohydro]", "dose": 1,
         "unit": "capsule", "frequency": "q12h"},
    ],
    ids=["brand sig", "brand fields", "rxnorm sbd"],
)  # fmt: skip
def test_zohydro_every_12_hours_is_not_flagged(med):
    assert not [f for f in _findings(med) if "interval_min" in f.code]
    # ... and more often it is judged by the ER hydrocodone row (every 12 h), not Hysingla's
    faster = (
        {**med, "frequency": "q6h"}
        if "frequency" in med
        else {**med, "sig": med["sig"].replace("q12h", "q6h")}
    )
    assert _codes(_findings(faster)) == [("dose.interval_min", "every 12 h")]


def test_er_hydrocodone_without_its_product_is_asked_about_not_judged_as_hysingla():
    # "hydrocodone ER 20 mg" is a Zohydro capsule or a Hysingla tablet: every 12 hours suits one
    # and is twice the other's dosing, so the pharmacist is asked which (info), not told it is wrong
    found = _findings({"drug": "hydrocodone ER 20 mg", "sig": "20 mg PO q12h"})
    hits = [f for f in found if "interval_min" in f.code]
    assert [(f.code, f.severity) for f in hits] == [("monitoring.dose.interval_min.product_unknown", "info")]
    assert hits[0].evidence["missing"] == ["product"] and hits[0].evidence["products"] == ["Hysingla ER"]
    # the ER row for every ER hydrocodone product still judges it
    assert _codes(_findings({"drug": "hydrocodone ER 20 mg", "sig": "20 mg PO q8h"})) == [
        ("dose.interval_min", "every 12 h")
    ]


@pytest.mark.parametrize(
    "med",
    [
        {"drug": "Exalgo 8 mg", "sig": "1 tab po q12h"},
        {"drug": "Exalgo", "dose": 16, "unit": "mg", "frequency": "bid"},
        {"drug": "24 HR hydromorphone hydrochloride 8 MG Extended Release Oral Tablet [Exalgo]", "dose": 1,
         "unit": "tablet", "frequency": "every 12 hours"},
        {"rxcui": "902743", "dose": 1, "unit": "tab", "frequency": "q12h"},
        {"drug": "hydromorphone ER 8 mg", "dose": 1, "unit": "tab", "frequency": "q12h"},
    ],
    ids=["brand sig", "brand fields", "rxnorm name", "rxcui", "generic ER"],
)  # fmt: skip
def test_exalgo_every_12_hours_is_flagged(med):
    assert [(f.rule, f.evidence["limit"]) for f in _findings(med) if f.code == "dose.interval_min"] == [
        ("dose.hydromorphone.1", "every 24 h")
    ]
    daily = {k: v for k, v in med.items() if k not in ("sig", "frequency")} | {"frequency": "daily"}
    daily.setdefault("dose", 1)
    daily.setdefault("unit", "tab")
    assert not [f for f in _findings(daily) if "interval_min" in f.code]


def test_immediate_release_hydromorphone_keeps_its_own_interval():
    assert not [
        f for f in _findings({"drug": "Dilaudid 2 mg", "sig": "1 tab q4h prn pain"}) if "interval" in f.code
    ]


@pytest.mark.parametrize(
    "med",
    [
        {"drug": "tramadol ER 200 mg", "sig": "1 tab PO BID"},
        {"drug": "Ultram ER", "dose": 200, "unit": "mg", "frequency": "bid"},
        {"drug": "ConZip 200 mg", "dose": 1, "unit": "capsule", "frequency": "q12h"},
        {"drug": "24 HR tramadol hydrochloride 200 MG Extended Release Oral Tablet [Ultram]", "dose": 1,
         "unit": "tablet", "frequency": "twice daily"},
        {"rxcui": "1148487", "dose": 1, "unit": "capsule", "frequency": "every 12 hours"},  # ConZip 200 mg
    ],
    ids=["generic ER sig", "Ultram ER", "ConZip", "rxnorm sbd", "rxcui"],
)  # fmt: skip
def test_tramadol_er_200_mg_twice_daily_is_flagged_for_interval_and_daily_total(med):
    found = _findings(med)
    assert _codes(found) == [("dose.daily_max", "300 mg/day"), ("dose.interval_min", "every 24 h")]
    by = {f.code: f for f in found}
    assert by["dose.daily_max"].severity == "major" and by["dose.daily_max"].rule == "dose.tramadol.6"
    assert by["dose.interval_min"].rule == "dose.tramadol.5"
    # not the immediate-release tablets' 100 mg single dose: 200 mg is a usual ER dose
    assert not [f for f in found if f.code.startswith("dose.single_max")]


@pytest.mark.parametrize("drug", ["tramadol ER 300 mg", "ConZip 300 mg", "Ultram ER 300 mg"])
def test_tramadol_er_300_mg_once_daily_is_not_flagged(drug):
    assert _codes(_findings({"drug": drug, "sig": "1 tab po daily"})) == []


def test_immediate_release_tramadol_rows_still_apply_to_plain_and_ir_orders():
    assert _codes(_findings({"drug": "tramadol", "sig": "50 mg PO q6h prn pain"})) == []
    assert _codes(_findings({"drug": "Ultram 50 mg", "sig": "3 tabs q4h"})) == [
        ("dose.daily_max", "400 mg/day"), ("dose.single_max", "100 mg")]  # fmt: skip
    assert _codes(_findings({"drug": "tramadol 50 mg", "sig": "1 tab q2h"}), "dose.interval") == [
        ("dose.interval_min", "every 4 h")
    ]


def test_tramadol_of_every_product_counts_toward_one_daily_total():
    # ER 300 mg once daily and IR 50 mg every 6 hours: each within its own rows, 500 mg/day together
    found = _findings({"drug": "ConZip 300 mg", "sig": "1 cap daily"},
                      {"drug": "tramadol 50 mg", "sig": "1 tab q6h prn"})  # fmt: skip
    daily = [f for f in found if f.code == "dose.daily_max"]
    assert [(f.rule, f.evidence["actual"], f.evidence["limit"]) for f in daily] == [
        ("dose.tramadol.0", "500 mg/day", "400 mg/day")
    ]


def test_tapentadol_immediate_release_interval_and_daily_maxima():
    assert _codes(_findings({"drug": "Nucynta 100 mg", "sig": "1 tab PO q4h prn pain"})) == []
    assert _codes(_findings({"drug": "tapentadol", "dose": 50, "unit": "mg", "frequency": "q6h"})) == []
    fast = _findings({"drug": "tapentadol 50 MG Oral Tablet [Nucynta]", "dose": 1, "unit": "tab",
                      "frequency": "q2h"})  # fmt: skip
    assert [(f.code, f.severity, f.evidence["limit"]) for f in fast if f.code.startswith("dose.")] == [
        ("dose.interval_min", "minor", "every 4 h")
    ]
    # 650 mg/day is over the 600 mg of later days (allowed only on the first day): moderate
    found = _findings({"drug": "Nucynta 100 mg", "sig": "1 tab q4h", "prn": False},
                      {"drug": "Nucynta 50 mg", "sig": "1 tab once"})  # fmt: skip
    over = [f for f in found if f.code == "dose.daily_max"]
    assert [(f.severity, f.evidence["limit"]) for f in over] == [("moderate", "600 mg/day")]
    assert "700 mg" in over[0].recommendation
    # 800 mg/day is over the first-day maximum too: major, naming both
    [most] = [
        f for f in _findings({"drug": "Nucynta 100 mg", "sig": "1 tab q3h"}) if f.code == "dose.daily_max"
    ]
    assert (most.severity, most.evidence["limit"], most.evidence["also_exceeds"]["limit"]) == (
        "major", "700 mg/day", "600 mg/day")  # fmt: skip


def test_nucynta_er_keeps_its_own_rows_and_not_the_immediate_release_ones():
    assert _codes(_findings({"drug": "Nucynta ER 250 mg", "sig": "1 tab PO q12h"})) == []
    assert _codes(_findings({"drug": "12 HR tapentadol 100 MG Extended Release Oral Tablet [Nucynta]",
                             "dose": 1, "unit": "tab", "frequency": "q6h"})) == [
        ("dose.interval_min", "every 12 h")]  # fmt: skip
    assert _codes(_findings({"drug": "Nucynta ER 250 mg", "sig": "1 tab tid"})) == [
        ("dose.daily_max", "500 mg/day"), ("dose.interval_min", "every 12 h")]  # fmt: skip


def test_the_rule_catalogue_shows_each_rows_products():
    rows = {r["id"]: r for r in rule_list()}
    assert rows["dose.hydrocodone.1"]["products"] == ["Hysingla ER"]
    assert rows["dose.hydrocodone.1"]["release"] == "extended"
    assert "Hysingla ER" in rows["dose.hydrocodone.1"]["summary"]
    assert (
        "products" not in rows["dose.hydrocodone.0"] and rows["dose.hydrocodone.0"]["release"] == "extended"
    )
    assert rows["dose.hydromorphone.1"]["products"] == ["Exalgo"]
    assert rows["dose.tramadol.5"]["products"] == ["Ultram ER", "ConZip"]
    assert rows["dose.tapentadol.3"]["release"] == "immediate"
    assert "products" not in rows["dose.tramadol.0"] and "release" not in rows["dose.tramadol.0"]


def test_the_http_catalogue_and_formulary_show_the_products(tmp_path):
    from checker.http import create_app

    client = create_app().test_client()
    rules = {r["id"]: r for r in client.get("/v1/rules").get_json()["rules"]}
    assert rules["dose.hydrocodone.1"]["products"] == ["Hysingla ER"]
    drug = client.get("/v1/formulary/Hysingla ER").get_json()
    assert drug["id"] == "hydrocodone"
    assert [lim.get("products") for lim in drug["limits"]] == [None, ["Hysingla ER"]]


def _formulary_copy(tmp_path: Path, old: str, new: str) -> subprocess.CompletedProcess:
    """Load a copy of the packaged formulary with one edit to drugs.toml, in a fresh interpreter."""
    pkg = tmp_path / "formulary"
    shutil.copytree(ROOT / "formulary", pkg, ignore=shutil.ignore_patterns("__pycache__"))
    data = pkg / "data" / "drugs.toml"
    text = data.read_text(encoding="utf-8")
    assert old in text
    data.write_text(text.replace(old, new, 1), encoding="utf-8")
    code = "import formulary; formulary._build(); print('loaded')"
    env = {"PYTHONPATH": str(tmp_path), "MEDCHECK_SNAPSHOTS": "0", "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                          env=env, timeout=120)  # fmt: skip


@pytest.mark.parametrize(
    ("new", "message"),
    [
        ('products = ["Hysingla XR"]', "unknown product 'Hysingla XR'"),
        ('products = ["Zohydro ER", "Hysingla"]', "unknown product 'Hysingla'"),
        ('products = ["Exalgo"]', "do not contain hydrocodone"),
        ('products = ["Hysingla ER"]\nrelease = "immediate"', "release 'immediate'"),
        ("products = []", "products"),
    ],
)
def test_a_wrong_product_scope_in_the_data_stops_the_load(tmp_path, new, message):
    out = _formulary_copy(tmp_path, 'products = ["Hysingla ER"]', new)
    assert out.returncode != 0 and "KnowledgeError" in out.stderr, out.stdout
    assert message in out.stderr and "hydrocodone" in out.stderr


def test_the_copied_formulary_loads_unchanged(tmp_path):
    out = _formulary_copy(tmp_path, 'products = ["Hysingla ER"]', 'products = ["hydrocodone_er"]')
    assert out.returncode == 0 and "loaded" in out.stdout, out.stderr  # a products.toml row id works too


AUDIT_ROWS = [  # (patient, drug, dose, unit, frequency, sig, rxcui)
    ("p1", "Hysingla ER 20 mg", "", "", "q12h", "", ""),
    ("p2", "Hysingla ER 20 mg", "", "", "", "1 tab po every 24 hours", ""),
    ("p3", "Zohydro ER 20 mg", "1", "cap", "q12h", "", ""),
    ("p4", "", "1", "tab", "q12h", "", "902743"),
    ("p5", "tramadol ER 200 mg", "", "", "", "1 tab PO BID", ""),
    ("p6", HYSINGLA_SBD, "1", "tablet", "daily", "", ""),
    ("p7", "hydrocodone ER 20 mg", "", "", "", "20 mg q12h", ""),
]


def test_the_audit_gives_the_same_findings_as_check(tmp_path):
    meds, pats, out = tmp_path / "m.csv", tmp_path / "p.csv", tmp_path / "r.json"
    with open(meds, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["patient_id", "drug", "dose", "unit", "frequency", "sig", "rxcui"])
        w.writerows(AUDIT_ROWS)
    with open(pats, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(
            ["patient_id", "age_years", "weight_kg", "opioid_tolerant", "hepatic_impairment", "crcl_ml_min"]
        )
        w.writerows([(p, 60, 70, "true", "none", 90) for p, *_ in AUDIT_ROWS])
    assert main(["audit", str(meds), "--patients", str(pats), "-o", str(out)]) == 0
    doc = {p["patient_id"]: p for p in json.loads(out.read_text())["patients"]}
    for pid, drug, dose, unit, frequency, sig, rxcui in AUDIT_ROWS:
        parts = (("drug", drug), ("unit", unit), ("frequency", frequency), ("sig", sig), ("rxcui", rxcui))
        med = {k: v for k, v in parts if v} | ({"dose": float(dose)} if dose else {})
        want = [(f.code, f.severity, f.message) for f in _findings(med, patient={**PATIENT, "id": pid})]
        got = [(f["code"], f["severity"], f["message"]) for f in doc[pid]["findings"]]
        assert got == want, pid
    intervals = {pid: [f["code"] for f in doc[pid]["findings"] if "interval_min" in f["code"]] for pid in doc}
    assert intervals == {
        "p1": ["dose.interval_min"], "p2": [], "p3": [], "p4": ["dose.interval_min"],
        "p5": ["dose.interval_min"], "p6": [], "p7": ["monitoring.dose.interval_min.product_unknown"],
    }  # fmt: skip


@pytest.mark.parametrize(
    ("drug", "line"),
    [
        ("Ultram ER 100 mg", "tramadol_er"),
        (HYSINGLA_SBD, "hydrocodone_er"),
        ("tramadol 50 mg", "tramadol_tablet"),
        ("tramadol", None),
    ],
)
def test_the_report_shows_the_product_line_whose_rows_applied(drug, line):
    """A pharmacist sees which product the order was read as, before trusting its interval limits."""
    order = {"drug": drug, "dose": 1, "unit": "tab", "frequency": "daily"}
    if line is None:
        order = {"drug": drug, "dose": 50, "unit": "mg"}
    [med] = check({"patient": PATIENT, "medications": [order]}).to_dict()["medications"]
    assert med.get("product_line") == line
