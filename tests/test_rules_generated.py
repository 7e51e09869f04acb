"""Every rule in the rules layer gets a positive and a negative case generated from its data."""

from __future__ import annotations

import pytest

from checker import check
from rules.knowledge import knowledge
from rules.model import Interaction
from tests.knowledge_cases import NEUTRAL, patient_for, representative, route_for

K = knowledge()


def _med(drug_id: str, routes=()) -> dict:
    return {
        "drug": drug_id,
        "route": route_for(drug_id, routes),
        "dose": 1e-3,
        "unit": _unit(drug_id, routes),
        "frequency": "daily",
    }


def _unit(drug_id: str, routes) -> str:
    from formulary import load

    d = load().drugs[drug_id]
    return d.unit_for(route_for(drug_id, routes))


def _codes(regimen: dict) -> set[str]:
    return {f.code for f in check(regimen).findings}


def _pair(rule: Interaction) -> tuple[str, str, str | None] | None:
    """Members for a, b (and also) that no more specific rule of the same group claims."""
    others = [r for r in K.interactions if r.group == rule.group and r is not rule]
    for a in representative(rule.a, rule.a_routes):
        for b in representative(rule.b, rule.b_routes, exclude=(a,)):
            also = None
            if rule.also:
                also_opts = representative(rule.also, exclude=(a, b))
                if not also_opts:
                    continue
                also = also_opts[0]
            if not any(
                _claims(r, a, b)
                and (r.a.specificity + r.b.specificity) >= (rule.a.specificity + rule.b.specificity)
                for r in others
            ):
                return a, b, also
    return None


def _claims(rule: Interaction, a: str, b: str) -> bool:
    from formulary import load

    f = load()

    def fits(sel, d):
        return sel.matches(d, f.expand_classes(f.drugs[d].classes))

    return (fits(rule.a, a) and fits(rule.b, b)) or (fits(rule.a, b) and fits(rule.b, a))


@pytest.mark.parametrize("rule", K.interactions, ids=[r.id for r in K.interactions])
def test_interaction_fires_for_its_pair_and_not_alone(rule):
    members = _pair(rule)
    if members is None:
        pytest.skip("every pair is claimed by a more specific rule of the same group")
    a, b, also = members
    meds = [_med(a, rule.a_routes), _med(b, rule.b_routes)] + ([_med(also)] if also else [])
    assert f"interaction.{rule.id}" in _codes({"patient": NEUTRAL, "medications": meds})
    assert f"interaction.{rule.id}" not in _codes({"patient": NEUTRAL, "medications": meds[:1]})
    if also:
        assert f"interaction.{rule.id}" not in _codes({"patient": NEUTRAL, "medications": meds[:2]})


@pytest.mark.parametrize("rule", K.duplications, ids=[r.id for r in K.duplications])
def test_duplication_needs_two_members(rule):
    members = representative(rule.selector)
    assert len(members) >= 2, f"{rule.id}: class has fewer than two members"
    meds = [_med(members[0]), _med(members[1])]
    if rule.prn_only:
        meds = [{**m, "prn": True} for m in meds]
    assert f"duplication.{rule.id}" in _codes({"patient": NEUTRAL, "medications": meds})
    assert f"duplication.{rule.id}" not in _codes({"patient": NEUTRAL, "medications": meds[:1]})


@pytest.mark.parametrize("rule", K.cautions, ids=[r.id for r in K.cautions])
def test_caution_fires_only_for_patients_it_names(rule):
    left_out = {d for s in rule.except_drugs for d in representative(s)}
    drug = representative(rule.drugs[0], rule.routes, exclude=tuple(left_out))[0]
    med = _med(drug, rule.routes) | ({"prn": rule.prn} if rule.prn is not None else {})
    if rule.dose_number_min:
        med["dose_number"] = rule.dose_number_min
    code = f"{rule.category}.{rule.id}"
    assert code in _codes({"patient": patient_for(rule.when), "medications": [med]})
    negative = dict(med, prn=False) if rule.prn else med
    assert code not in _codes({"patient": NEUTRAL, "medications": [negative]})
    for selector in rule.except_drugs:  # the members the source leaves out: not for them
        other = _med(representative(selector)[0], rule.routes)
        assert code not in _codes({"patient": patient_for(rule.when), "medications": [other]})


@pytest.mark.parametrize("rule", K.checks, ids=[r.id for r in K.checks])
def test_required_check_fires_when_information_is_missing(rule):
    drug = representative(rule.drugs[0], rule.routes)[0]
    code = f"monitoring.{rule.id}"
    companions = [_med(representative(s)[0]) for s in rule.with_drugs]
    within = patient_for(rule.when) if rule.when else NEUTRAL  # a check for some patients only
    complete = {"patient": within, "medications": [_med(drug, rule.routes), *companions]}
    assert code not in _codes(complete)
    band = {k: v for k, v in within.items() if k not in NEUTRAL or v != NEUTRAL[k]}  # what puts them in
    bare = {"patient": band, "medications": [_med(drug, rule.routes)]}
    assert code in _codes(bare)
    if rule.when:
        assert code not in _codes({"patient": {}, "medications": [_med(drug, rule.routes)]})


def test_every_rule_has_a_source_with_a_label():
    for rule in (*K.interactions, *K.duplications, *K.cautions, *K.checks):
        assert K.sources[rule.source].label


def _examples():
    import tomllib
    from importlib import resources

    data = tomllib.loads((resources.files("rules") / "data" / "interactions.toml").read_text("utf-8"))
    for row in data["interaction"]:
        for i, ex in enumerate(row.get("examples", [])):
            yield pytest.param(row["id"], ex, id=f"{row['id']}#{i}")


@pytest.mark.parametrize(("rule_id", "example"), list(_examples()))
def test_interaction_examples_stored_with_the_rule(rule_id, example):
    found = f"interaction.{rule_id}" in _codes(
        {"patient": example.get("patient") or NEUTRAL, "medications": example["medications"]}
    )
    assert found == example["expect"]
