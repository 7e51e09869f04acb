"""Vocabulary beyond the dose-checked formulary: every member of a class a rule names fires that
rule, every RxNorm code of the tables resolves, recognised drugs with nothing to check raise no
warning, and unknown names are minor findings with suggestions. Generated from the data."""

from __future__ import annotations

import time

import pytest

from checker import check
from formulary import load
from rules.knowledge import knowledge

F = load()
K = knowledge()
REFERENCE = sorted((d for d in F.drugs.values() if d.reference_only), key=lambda d: d.id)


def _report(*meds, patient=None):
    return check({"patient": patient or {"age_years": 60}, "medications": list(meds)}).to_dict()


def _partner(selector) -> str | None:
    """A drug that answers to `selector`: the drug itself, or the first formulary member of a class."""
    if selector.kind == "drug":
        return selector.id
    members = [d for d in F.drugs.values() if selector.id in F.expand_classes(d.classes)]
    members.sort(key=lambda d: (d.reference_only, d.id))
    return members[0].id if members else None


def _class_cases():
    """(member, rule, partner): one interaction rule per class of each reference-only drug."""
    by_class: dict[str, object] = {}
    for r in K.interactions:
        if r.also or r.a_routes or r.b_routes:
            continue
        for side, other in ((r.a, r.b), (r.b, r.a)):
            if side.kind == "class":
                by_class.setdefault(side.id, (r, other))
    cases = []
    for d in REFERENCE:
        for c in sorted(F.expand_classes(d.classes)):
            if c in by_class:
                rule, other = by_class[c]
                partner = _partner(other)
                if partner and partner != d.id and partner not in F.expand_classes(d.classes):
                    cases.append(pytest.param(d.id, rule.id, partner, id=f"{d.id}-{c}"))
    return cases


@pytest.mark.parametrize("member,rule,partner", _class_cases())
def test_every_class_member_fires_its_class_rule(member, rule, partner):
    report = _report(
        {"drug": F.drugs[member].name, "dose": 1, "unit": "mg"}, {"drug": partner, "dose": 1, "unit": "mg"}
    )
    pair = [
        f for f in report["findings"] if f["category"] == "interaction" and set(f["medications"]) >= {0, 1}
    ]
    assert pair, f"{member} + {partner}: no interaction (expected at least {rule})"


@pytest.mark.parametrize(
    "a,b,code",
    [
        ("clonazepam", "oxycodone", "interaction.opioid_benzodiazepine"),
        ("temazepam", "Norco 10/325", "interaction.opioid_benzodiazepine"),
        ("midazolam", "hydrocodone", "interaction.opioid_benzodiazepine"),
        ("warfarin", "naproxen", None),
        ("warfarin", "celecoxib", None),
        ("methadone", "fluconazole", "interaction.cyp3a4_inhibitor_methadone"),
        ("oxycodone", "voriconazole", "interaction.cyp3a4_inhibitor_oxycodone"),
        ("apixaban", "dalteparin", "duplication.anticoagulant"),
        ("edoxaban", "fondaparinux", "duplication.anticoagulant"),
        ("ibuprofen", "meloxicam", "duplication.nsaid"),
        ("oxycodone", "St John's wort", None),
        ("methadone", "St. John's wort", None),
    ],
)
def test_named_pairs(a, b, code):
    report = _report({"drug": a, "dose": 1, "unit": "mg"}, {"drug": b, "dose": 1, "unit": "tab"})
    found = [
        f
        for f in report["findings"]
        if set(f["medications"]) >= {0, 1} and f["category"] in ("interaction", "duplication")
    ]
    assert found, (a, b)
    if code:
        assert code in [f["code"] for f in found]


RXNORM = sorted(F.rxnorm.items(), key=lambda kv: int(kv[0]))


def test_every_rxnorm_code_of_the_tables_resolves_to_known_ingredients():
    missing = [(code, name) for code, (name, _) in RXNORM if F.resolve(None, rxcui=code) is None]
    assert not missing, missing[:20]


@pytest.mark.parametrize(
    "tag,cls",
    [
        ("benzodiazepine", "benzodiazepine"),
        ("opioid_analgesics_with_ambulatory_misuse_potential", "opioid"),
        ("extended_release_opioid_with_ambulatory_misuse_potential", "long_acting_opioid"),
        ("omtk", "opioid"),
        ("fentanyl_type", "opioid"),
    ],
)
def test_value_set_members_carry_the_class(tag, cls):
    from checker.model import Medication, Patient
    from checker.orders import build_orders

    codes = [code for code, (_, sets) in RXNORM if tag in sets.split(";")]
    assert codes
    wrong = []
    for code in codes:
        lines = build_orders(Medication(index=0, rxcui=code), Patient(), F)
        if not any(cls in o.classes for o in lines):
            wrong.append((code, F.rxnorm[code][0]))
    assert not wrong, wrong[:10]


def test_ingredient_codes_resolve_to_their_drug():
    for d in F.drugs.values():
        for code in d.rxcui:
            r = F.resolve(None, rxcui=code)
            assert r is not None and [x.id for x in r.drugs] == [d.id], (d.id, code)
    assert F.resolve(None, rxcui="11289").drugs[0].id == "warfarin"
    assert F.resolve(None, rxcui="36437").drugs[0].id == "sertraline"
    assert F.resolve(None, rxcui="1191").drugs[0].id == "aspirin"


def test_atc_codes_resolve():
    for d in REFERENCE:
        for code in d.atc:
            r = F.resolve(None, atc=code)
            assert r is not None and r.drugs[0].id == d.id, (d.id, code)


@pytest.mark.parametrize(
    "name,drugs",
    [
        (
            "Abuse-Deterrent 12 HR Oxycodone Hydrochloride 10 MG Extended Release Oral Tablet [Oxycontin]",
            ["oxycodone"],
        ),
        (
            "acetaminophen 325 MG / oxycodone hydrochloride 5 MG Oral Tablet [Percocet]",
            ["acetaminophen", "oxycodone"],
        ),
        ("Paracetamol 240mg suppository (product)", ["acetaminophen"]),
        ("Fentanyl 25micrograms/hour patch", ["fentanyl"]),
        ("morphine sulfate liposomal 10 MG/ML Injectable Suspension", ["morphine"]),
        ("72 HR fentanyl 0.025 MG/HR Transdermal System", ["fentanyl"]),
        (
            "{21 (temazepam 15 MG Oral Capsule) / 7 (diazepam 2 MG Oral Tablet) } Pack",
            ["temazepam", "diazepam"],
        ),
        ("oxycodone-acetaminophen 5-325 mg tablet", ["oxycodone", "acetaminophen"]),
        ("hydrocodone bitartrate and acetaminophen 10 mg/325 mg", ["hydrocodone", "acetaminophen"]),
        ("Tylenol #3", ["codeine", "acetaminophen"]),
        ("Tylenol with Codeine No. 4", ["codeine", "acetaminophen"]),
        ("Vicodin ES", ["hydrocodone", "acetaminophen"]),
        ("Senokot-S", ["senna", "docusate"]),
        ("PEG 3350", ["polyethylene_glycol"]),
        ("Sennosides 8.6 mg tablet", ["senna"]),
        ("pantoprazole 40 mg EC tablet", ["pantoprazole"]),
        ("insulin glargine 100 units/mL", ["insulin_glargine"]),
    ],
)
def test_product_name_shapes(name, drugs):
    r = F.resolve(name)
    assert r is not None, name
    assert [d.id for d in r.drugs] == drugs


def test_release_read_from_names():
    assert (
        F.resolve("Abuse-Deterrent 12 HR Oxycodone Hydrochloride 10 MG Extended Release Oral Tablet").release
        == "extended"
    )
    assert F.resolve("Fentanyl 25micrograms/hour patch").release == "extended"
    assert F.resolve("MS Contin 15 mg").product.release == "extended"
    assert F.resolve("Percocet 5/325").product.release == "immediate"


@pytest.mark.parametrize(
    "name",
    [
        "senna",
        "docusate",
        "pantoprazole",
        "famotidine",
        "polyethylene glycol 3350",
        "bisacodyl",
        "lactulose",
        "atorvastatin",
        "metoprolol",
        "levetiracetam",
        "insulin lispro",
        "ceftriaxone",
        "famotidine",
        "metformin",
    ],
)
def test_recognised_drug_with_nothing_to_check_raises_no_warning(name):
    for med in (
        {"drug": name},
        {"drug": name, "sig": "2 tabs po daily"},
        {"drug": name, "dose": 10, "unit": "mg"},
    ):
        report = _report(med)
        assert report["counts"]["moderate"] == report["counts"]["major"] == report["counts"]["minor"] == 0, (
            name,
            med,
            [(f["code"], f["severity"]) for f in report["findings"]],
        )


def test_unknown_name_is_minor_with_suggestions():
    report = _report(
        {"drug": "percoset", "dose": 1, "unit": "tab"},
        {"drug": "clonazapam", "dose": 1, "unit": "mg"},
        {"drug": "zzqxw", "dose": 1, "unit": "mg"},
    )
    found = {f["medications"][0]: f for f in report["findings"] if f["code"] == "unrecognized.drug"}
    assert set(found) == {0, 1, 2} and {f["severity"] for f in found.values()} == {"minor"}
    assert "Percocet" in found[0]["message"] and found[0]["evidence"]["suggestions"][0] == "Percocet"
    assert "Clonazepam" in found[1]["message"]
    assert "Did you mean" not in found[2]["message"]


def test_resolution_is_fast_enough_for_a_check():
    names = [
        "Norco 10/325",
        "oxycodone-acetaminophen 5-325 mg tablet",
        "clonazepam",
        "Tylenol #3",
        "Fentanyl 25micrograms/hour patch",
        "percoset",
    ]
    t = time.perf_counter()
    for _ in range(200):
        for n in names:
            F.resolve(n)
    assert (time.perf_counter() - t) / 1200 < 1e-3  # cached after the first call


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_PIECES = st.sampled_from(
    [
        "oxycodone",
        "APAP",
        "Norco",
        "/",
        "-",
        " ",
        "5",
        "325",
        "mg",
        "MG/ML",
        "tab",
        "[",
        "]",
        "(product)",
        "{",
        "}",
        "Pack",
        "12 HR",
        "Extended Release",
        "100,000",
        "u/ml",
        "#3",
        "and",
        "0.025 MG/HR",
        "patch",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=12).map(" ".join) | st.text(max_size=60))
def test_any_name_resolves_or_is_unknown_without_raising(text):
    r = F.resolve(text)
    assert r is None or (r.drugs and all(d.id in F.drugs for d in r.drugs))
    report = check({"medications": [{"drug": text or "x", "dose": 2, "unit": "tab", "frequency": "q6h"}]})
    assert report.to_dict()["medications"][0]["index"] == 0
