"""Duplication-heavy regimens: the per-(patient, rule id) and per-(patient, drug) runs equal `check()`.

`checker.audit.duplication_plan` splits a patient's duplication findings into one run per class rule
id and one per duplicated drug, each on its own orders; these regimens stress what that split must
keep: several classes duplicated at once, a drug under its id, name, brand and in upper case (one
identity, two names), scheduled and PRN orders (the scheduled-only opioid rule, the breakthrough
pattern), drugs outside the formulary that join a class by ATC code (identity by input), and the
same regimen at other positions (keys shared by units whose orders have other indexes)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from formulary import load as load_formulary
from rules.knowledge import knowledge
from tests.test_audit_equivalence import AUDIT_SETTINGS, actual, audit, audit_and_compare, expected

F = load_formulary()
K = knowledge()
_CLASSES = {r.selector.id for r in K.duplications}
_DRUGS = [d for d in F.drugs.values() if F.expand_classes(d.classes) & _CLASSES]
NAMES = sorted({n for d in _DRUGS for n in (d.id, d.name, d.id.upper(), *d.brands[:1])})
NAMES += ["naproxen", "Naproxen", "escitalopram", "blorfinax"]  # naproxen: a class by ATC only
ATC = ["M01AE02", "N06AB06", "H02AB06", "B01AA03", "N05BA01", "M05BA08"]

med = st.fixed_dictionaries(
    {"drug": st.sampled_from(NAMES)},
    optional={"prn": st.booleans(), "atc": st.sampled_from(ATC), "route": st.sampled_from(["oral", "iv"])},
)
population = st.lists(st.tuples(st.just({}), st.lists(med, min_size=2, max_size=10)), min_size=1, max_size=6)


@AUDIT_SETTINGS
@given(pop=population, seed=st.one_of(st.none(), st.integers(0, 1000)))
def test_duplication_heavy_regimens(tmp_path, pop, seed):
    audit_and_compare(tmp_path, pop, seed)


def test_classes_and_ingredients_together(tmp_path):
    """One patient with three class duplications and two same-ingredient groups; the same orders
    again, shifted and mixed with others, in a second patient; breakthrough pairs that must stay
    silent; a scheduled-only rule met by PRN orders."""
    first = [
        {"drug": "ibuprofen"}, {"drug": "Advil", "prn": True}, {"drug": "diclofenac"},
        {"drug": "sertraline"}, {"drug": "Zoloft"}, {"drug": "escitalopram"},
        {"drug": "warfarin"}, {"drug": "apixaban"}, {"drug": "naproxen", "atc": "M01AE02"},
    ]  # fmt: skip
    pop = [
        ({}, first),
        ({}, [{"drug": "prednisone"}, *first, {"drug": "lorazepam", "prn": True}]),
        ({}, [{"drug": "oxycodone"}, {"drug": "OxyContin", "prn": True}, {"drug": "fentanyl", "prn": True},
              {"drug": "gabapentin"}, {"drug": "gabapentin", "prn": True}]),
        ({}, [{"drug": "methadone"}, {"drug": "fentanyl"}, {"drug": "pregabalin"}, {"drug": "Lyrica"}]),
    ]  # fmt: skip
    for seed in (None, 7):
        res, order = audit(tmp_path, pop, seed)
        assert actual(res) == expected(pop, order)
    codes = set(res.findings["code"])
    assert {"duplication.nsaid", "duplication.ssri", "duplication.anticoagulant",
            "duplication.same_ingredient", "duplication.long_acting_opioid"} <= codes  # fmt: skip
