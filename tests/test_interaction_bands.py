"""Interaction rows graded by patient band (`when`): a row for a band applies only to a patient known
to fall in it and then outranks the row for everyone; an unknown band fact leaves the milder grade and
says so; the unit declares the facts its rows' bands read, and the memo keeps patients apart."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from checker.engine import run
from checker.orders import build_orders
from checker.schemas import load_regimen
from formulary import load as load_formulary
from rules import evaluators
from rules.context import Context
from rules.interactions import INTERACTIONS, interaction_units
from rules.mechanism import UndeclaredRead

ROOT = Path(__file__).resolve().parent.parent
PAIR = [{"drug": "oxycodone", "sig": "5 mg PO q4h PRN"}, {"drug": "pregabalin", "sig": "75 mg bid"}]
BANDED, EVERYONE = "interaction.opioid_gabapentinoid_older_adult", "interaction.opioid_gabapentinoid"


def graded(patient: dict, rules=None) -> list[tuple[str, str, str]]:
    report = run(load_regimen({"patient": patient, "medications": PAIR}), rules=rules)
    return [(f.rule, f.severity, f.message) for f in report.findings if f.category == "interaction"]


def test_the_same_pair_is_graded_by_each_patients_age_in_one_process():
    """The memo is keyed on the band's fact: a major grade for one patient never leaks to the next."""
    ages = (70, 50, 70, None, 64, 65)
    seen = [(age, graded({"age_years": age} if age is not None else {})) for age in ages]
    assert [(age, [(r, s) for r, s, _ in g]) for age, g in seen] == [
        (70, [(BANDED, "major")]),
        (50, [(EVERYONE, "moderate")]),
        (70, [(BANDED, "major")]),
        (None, [(EVERYONE, "moderate")]),
        (64, [(EVERYONE, "moderate")]),
        (65, [(BANDED, "major")]),
    ]
    unknown = dict(seen)[None][0][2]
    assert "The patient's age was not known" in unknown and "graded major" in unknown


def test_a_known_age_outside_the_band_says_nothing_about_age():
    [(_, _, message)] = graded({"age_years": 50})
    assert "not known" not in message


def _without_unit_facts(ev):
    def units(ctx):
        for unit in ev.units(ctx):
            yield dataclasses.replace(unit, facts=())

    return dataclasses.replace(ev, name=f"{ev.name}-without-unit-facts", units=units)


def test_the_interaction_unit_must_declare_the_facts_its_bands_read():
    """Mutation: drop the unit's facts and the banded row's age read is refused."""
    mutated = tuple(_without_unit_facts(e) if e is INTERACTIONS else e for e in evaluators())
    with pytest.raises(UndeclaredRead, match="age"):
        graded({"age_years": 70}, rules=mutated)


def test_a_unit_of_unbanded_rows_declares_no_patient_fact():
    """Pairs no band grades keep a memo key free of patient facts, shared by every patient."""
    regimen = load_regimen({"patient": {"age_years": 70}, "medications": [
        {"drug": "warfarin", "dose": 5, "unit": "mg", "frequency": "daily"},
        {"drug": "ibuprofen", "dose": 400, "unit": "mg", "frequency": "q8h"},
        *PAIR]})  # fmt: skip
    f = load_formulary()
    orders = [line for m in regimen.medications for line in build_orders(m, regimen.patient, f)]
    units = list(interaction_units(Context(patient=regimen.patient, orders=orders, formulary=f)))
    facts = {tuple(sorted(o.drug_id for o in u.orders)): u.facts for u in units}
    assert facts == {("ibuprofen", "warfarin"): (), ("oxycodone", "pregabalin"): ("patient.age_years",)}


SITE = """
[source.LOCAL1]
label = "St Elsewhere P&T note on tramadol with sertraline in older adults (2026)"

[[interaction]]
id = "local_tramadol_sertraline_older_adult"
a = "tramadol"
b = "sertraline"
severity = "moderate"
group = "local_band"
when = { age_min = 75 }
effect = "Confusion and falls in the very old."
mechanism = "Both are serotonergic and both lower the seizure threshold."
management = "Review the need for both; watch for confusion."
source = "LOCAL1"
"""


def cli(site: Path, regimen: dict, tmp_path: Path) -> subprocess.CompletedProcess:
    path = tmp_path / "r.json"
    path.write_text(json.dumps(regimen), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "MEDCHECK_SITE"} | {"PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "checker.cli", "check", str(path), "--json", "--site", str(site)]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


def test_a_banded_row_alone_is_never_a_silent_pass_when_its_fact_is_unknown(tmp_path):
    """A site's row written only for a band, age unknown: reported at its own grade, saying for whom."""
    site = tmp_path / "site.toml"
    site.write_text(SITE, encoding="utf-8")
    meds = [{"drug": "tramadol", "dose": 50, "unit": "mg", "route": "oral", "frequency": "q6h"},
            {"drug": "sertraline", "dose": 50, "unit": "mg", "frequency": "daily"}]  # fmt: skip
    rule = "interaction.local_tramadol_sertraline_older_adult"

    def found(patient: dict) -> list[dict]:
        out = cli(site, {"patient": patient, "medications": meds}, tmp_path)
        assert out.returncode == 0, out.stderr
        return [f for f in json.loads(out.stdout)["findings"] if f["rule"] == rule]

    [unknown] = found({})
    assert unknown["severity"] == "moderate"
    assert "age was not known: this rule is written for patients aged 75 or over" in unknown["message"]
    [old] = found({"age_years": 80})
    assert "not known" not in old["message"] and old["evidence"]["patient_band"] == "aged 75 or over"
    assert found({"age_years": 60}) == []


def test_an_empty_or_unknown_band_stops_the_load(tmp_path):
    bands = (("{}", "empty `when`"), ('{ conditions = ["no_such_condition"] }', "no_such_condition"))
    for band, said in bands:
        site = tmp_path / "site.toml"
        site.write_text(SITE.replace("{ age_min = 75 }", band), encoding="utf-8")
        out = cli(site, {"medications": [{"drug": "tramadol", "dose": 50, "unit": "mg"}]}, tmp_path)
        assert out.returncode == 2 and said in out.stderr, out.stderr


def test_the_rule_catalogue_names_a_rows_patient_band():
    """`/v1/rules` shows who a banded row is for, so a site grading or suppressing it knows."""
    from checker.http import create_app

    rules = {r["id"]: r for r in create_app().test_client().get("/v1/rules").get_json()["rules"]}
    assert rules["interaction.opioid_gabapentinoid_older_adult"]["patient_band"] == "aged 65 or over"
    assert "patient_band" not in rules["interaction.opioid_gabapentinoid"]
