"""Every rule that can stop an order shows the sentence it rests on (issue 17, "every rule verified").

A major or contraindicated rule must be verified (row and source) and carry a quote and where the
quote stands; the loaders refuse a row that breaks this, naming the row, so knowledge never ships
half-sourced; and the quote reaches the finding's `source` block, where pages and cards show it.
"""

from __future__ import annotations

import pytest

from formulary import KnowledgeError, load
from formulary.loader import build_drugs
from rules.knowledge import knowledge
from rules.loader import CautionSchema, InteractionSchema, _rows

LOUD = ("contraindicated", "major")


def _loud_rules():
    k, f = knowledge(), load()
    rows = [*k.interactions, *k.cautions, *k.checks, *k.duplications, k.same_ingredient]
    for r in rows:
        if r.severity in LOUD:
            yield r.id, r.severity, r.verified, r.source, r.evidence_quote, r.evidence_location
    for t in k.mme_thresholds:
        if t.severity in LOUD:
            yield f"mme{t.mme:g}", t.severity, True, t.source, t.evidence_quote, t.evidence_location
    for d in f.drugs.values():
        for i, lim in enumerate(d.limits):
            if lim.severity in LOUD:
                quote, where = lim.evidence_quote, lim.evidence_location
                yield f"{d.id}#{i}", lim.severity, lim.verified, lim.source, quote, where


def test_no_major_or_contraindicated_rule_is_unverified_or_unquoted():
    sources = knowledge().sources
    rules = list(_loud_rules())
    assert len(rules) > 100  # the whole knowledge, not an empty walk
    bad = [
        rid
        for rid, _, verified, source, quote, where in rules
        if not (verified and sources[source].verified and quote.strip() and where.strip())
    ]
    assert not bad


def _interaction(**over):
    row = {
        "id": "test_pair",
        "a": "class:opioid",
        "b": "class:benzodiazepine",
        "severity": "major",
        "effect": "Deep sedation.",
        "management": "Avoid the pair.",
        "source": "S31",
    }
    return {**row, **over}


def test_loader_refuses_a_major_row_without_its_quote_and_names_it():
    with pytest.raises(KnowledgeError, match=r"test_pair.*evidence_quote"):
        _rows({"interaction": [_interaction()]}, "interaction", InteractionSchema(), "interactions.toml")


def test_loader_refuses_a_quote_without_a_location():
    row = _interaction(severity="moderate", evidence_quote="Avoid.")
    with pytest.raises(KnowledgeError, match=r"test_pair.*evidence_location"):
        _rows({"interaction": [row]}, "interaction", InteractionSchema(), "interactions.toml")


def test_loader_refuses_an_unverified_contraindication():
    row = {
        "id": "test_caution",
        "drugs": ["ketorolac"],
        "category": "condition",
        "severity": "contraindicated",
        "when": {"conditions": ["gi_bleed_history"]},
        "message": "{drug}: no.",
        "recommendation": "Stop.",
        "source": "S24",
        "verified": False,
        "evidence_quote": "Contraindicated.",
        "evidence_location": "Boxed Warning",
    }
    with pytest.raises(KnowledgeError, match=r"test_caution.*downgrade"):
        _rows({"caution": [row]}, "caution", CautionSchema(), "cautions.toml")


def test_lower_severity_rows_may_wait_for_their_quote():
    row = _interaction(severity="minor")
    [loaded] = _rows({"interaction": [row]}, "interaction", InteractionSchema(), "interactions.toml")
    assert loaded["evidence_quote"] == ""


def test_a_major_dose_limit_without_its_quote_fails_at_load_naming_the_drug():
    drug = {
        "id": "testdrug",
        "name": "Test drug",
        "kind": "drug",
        "dose_unit": "mg",
        "routes": ["oral"],
        "source": "S24",
        "limit": [{"routes": ["oral"], "max_daily": "40 mg", "source": "S24"}],  # severity defaults to major
    }
    with pytest.raises(KnowledgeError, match=r"testdrug.*evidence_quote"):
        build_drugs([drug], "drugs.toml")
    drug["limit"][0].update(evidence_quote="Do not exceed 40 mg a day.", evidence_location="Section 2")
    [built] = build_drugs([drug], "drugs.toml")
    assert built.limits[0].evidence_location == "Section 2"


def test_findings_show_quote_and_location_in_their_source(run):
    report = run(
        {"drug": "fentanyl", "sig": "25 µg/h changed every 72 h", "route": "transdermal"},
        {"drug": "ketorolac", "dose": 30, "unit": "mg", "route": "iv", "frequency": "q4h"},
        opioid_tolerant=False,
        age_years=50,
        weight_kg=70,
    )
    loud = [f for f in report["findings"] if f["severity"] in LOUD]
    assert loud
    for f in loud:
        assert f["source"]["quote"] and f["source"]["location"], f["code"]
        assert "verified" not in f["source"]  # confirmed rules carry no advisory flag
