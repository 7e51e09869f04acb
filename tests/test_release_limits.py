"""Interval limits by release type: OxyContin every 4 hours is an overdose, oxycodone IR every 4
hours is usual practice. Cases come from the data: every row written for extended-release
products, ordered as each ER product at an IR interval and at its labelled interval."""

from __future__ import annotations

import pytest

from checker import check
from formulary import KnowledgeError
from formulary import load as load_formulary
from formulary.loader import build_drugs
from rules.dose import rule_id

PATIENT = {"age_years": 60, "weight_kg": 70, "opioid_tolerant": True, "hepatic_impairment": "none"}


def _er_cases() -> list[tuple[str, str, str, float]]:
    """(case id, product name, route, labelled interval h) for each ER product of each ER row: the
    product's own row where it has one (Hysingla ER), else the row for extended-release products."""
    f = load_formulary()
    out = []
    for d in sorted(f.drugs.values(), key=lambda d: d.id):
        own = {line for lim in d.limits if lim.min_interval_h is not None for line in lim.families}
        for lim in d.limits:
            if lim.release != "extended" or lim.min_interval_h is None:
                continue
            for p in sorted(f.products.values(), key=lambda p: p.id):
                mine = p.family in lim.families if lim.families else p.family not in own
                if p.drugs == (d.id,) and p.release == "extended" and p.route in lim.routes and mine:
                    out.append((f"{rule_id(d, lim)}:{p.id}", p.name, p.route, lim.min_interval_h))
    return out


CASES = _er_cases()


def _check(drug: str, frequency: str, unit: str = "tab", dose: float = 1, **more):
    med = {"drug": drug, "dose": dose, "unit": unit, "frequency": frequency, **more}
    return check({"patient": PATIENT, "medications": [med]}).findings


def _intervals(product: str, route: str, frequency: str) -> list:
    found = _check(product, frequency, "patch" if route == "transdermal" else "tab", route=route)
    return [f for f in found if "interval_min" in f.code]


def test_every_er_product_the_issue_names_is_covered():
    drugs = {c[0].split(".")[1] for c in CASES}
    assert {"oxycodone", "morphine", "tapentadol", "buprenorphine", "hydrocodone"} <= drugs
    names = " ".join(c[1] for c in CASES)
    assert "Oxycodone extended-release tablet" in names
    assert "Morphine sulfate extended-release tablet" in names


@pytest.mark.parametrize(("case", "product", "route", "hours"), CASES, ids=[c[0] for c in CASES])
def test_er_product_at_an_ir_interval_is_flagged(case, product, route, hours):
    short = "q4h" if hours <= 24 else "q24h"
    found = _intervals(product, route, short)
    assert [f.code for f in found] == ["dose.interval_min"], case
    assert found[0].severity in ("moderate", "major")
    assert "extended-release" in found[0].message
    assert found[0].source["quote"] and found[0].source["location"]


@pytest.mark.parametrize(("case", "product", "route", "hours"), CASES, ids=[c[0] for c in CASES])
def test_er_product_at_its_labelled_interval_passes(case, product, route, hours):
    assert _intervals(product, route, f"every {hours:g} hours") == [], case


@pytest.mark.parametrize(
    ("drug", "frequency"),
    [("OxyContin 10 mg", "q4h"), ("MS Contin 30 mg", "q4h"), ("Nucynta ER 50 mg", "q6h"),
     ("Zohydro ER 10 mg", "q6h"), ("Hysingla ER 20 mg", "q6h"), ("Xtampza ER 9 mg", "q4h"),
     ("Butrans 10", "every 3 days")],
)  # fmt: skip
def test_brands_at_ir_intervals_are_flagged(drug, frequency):
    unit = "patch" if "Butrans" in drug else "tab"
    report = _check(drug, frequency, unit)
    hits = [f for f in report if f.code == "dose.interval_min"]
    assert len(hits) == 1 and hits[0].category == "frequency"


@pytest.mark.parametrize(
    "drug", ["oxycodone IR 10 mg", "Roxicodone 5 mg", "morphine IR 15 mg", "Nucynta 50 mg", "Percocet 5/325"]
)
def test_immediate_release_at_q4h_is_not_flagged(drug):
    report = _check(drug, "q4h", "tab")
    assert not [f for f in report if "interval_min" in f.code]


def test_release_not_stated_asks_which_product_at_info():
    # single-ingredient hydrocodone is sold only as ER in the US; IR hydrocodone is in combinations
    report = _check("hydrocodone", "q4h", "mg", 10)
    hits = [f for f in report if "interval_min" in f.code]
    assert [(f.code, f.severity) for f in hits] == [("monitoring.dose.interval_min.release_unknown", "info")]
    assert hits[0].evidence["missing"] == ["release"]
    # ... and says nothing when the interval suits either release
    quiet = _check("hydrocodone", "q12h", "mg", 10)
    assert not [f for f in quiet if "interval_min" in f.code]


def test_a_plain_name_that_means_one_release_is_judged_as_it():
    # The formulary reads plain "morphine" as IR morphine (plain_release): no question asked at q4h
    assert not [f for f in _check("morphine", "q4h", "mg", 15) if "interval_min" in f.code]
    assert load_formulary().drugs["morphine"].plain_release == "immediate"
    # and plain "oxycodone" is IR oxycodone: no tolerance question, no release question at q4h
    plain = _check("oxycodone", "q4h", "mg", 5)
    asked = {"monitoring.opioid_tolerance_unknown"}
    assert not [f for f in plain if "interval_min" in f.code or f.code in asked]
    assert [f.code for f in _check("oxycodone ER", "q4h", "mg", 10) if "interval_min" in f.code] == [
        "dose.interval_min"
    ]


def test_a_row_without_release_applies_to_both():
    # The IR morphine row (every 4 h) has no release: MS Contin every 2 h breaks it and the ER row;
    # the more severe ER row is reported.
    report = _check("MS Contin 15 mg", "q2h", "tab")
    hits = [f for f in report if f.code == "dose.interval_min"]
    assert len(hits) == 1 and hits[0].evidence["limit"] == "every 8 h"
    ir = _check("morphine IR 15 mg", "q2h", "tab")
    assert [f.evidence["limit"] for f in ir if f.code == "dose.interval_min"] == ["every 4 h"]


def test_release_limits_on_daily_totals():
    report = _check("Nucynta ER 250 mg", "q8h", "tab")
    assert {"dose.daily_max", "dose.interval_min"} <= {f.code for f in report}
    ir = _check("Nucynta 100 mg", "q4h", "tab")
    assert not [f for f in ir if f.code.startswith("dose.")]


def test_er_rows_carry_their_label_sentence():
    f = load_formulary()
    rows = [lim for d in f.drugs.values() for lim in d.limits if lim.release]
    assert len(rows) >= 6
    for lim in rows:
        assert lim.evidence_quote and lim.evidence_location and f.sources[lim.source].verified


def _drug_row(**limit):
    row = {"routes": ["oral"], "min_interval_h": 12, "severity": "minor", "source": "S1", **limit}
    return {"id": "x_drug", "name": "X", "kind": "drug", "dose_unit": "mg", "routes": ["oral"],
            "source": "S1", "limit": [row]}  # fmt: skip


def test_release_is_validated_at_load():
    assert build_drugs([_drug_row(release="extended")], "t")[0].limits[0].release == "extended"
    assert build_drugs([_drug_row()], "t")[0].limits[0].release is None
    with pytest.raises(KnowledgeError, match="release"):
        build_drugs([_drug_row(release="slow")], "t")
