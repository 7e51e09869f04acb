"""Interaction-heavy regimens: the audit's per-(patient, rule) interaction runs equal `check()`.

`checker.audit.interaction_plan` re-decides, vectorized, which entries each rule wins in a patient
(ingredient pair and group, rank, pair and insertion order, the `also` third); these regimens
stress exactly that: many interacting drugs per patient, the same ingredient twice (by name and by
brand), three-way `also` rules and route-limited rules."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from formulary import load as load_formulary
from rules.knowledge import knowledge
from tests.test_audit_equivalence import AUDIT_SETTINGS, actual, audit, audit_and_compare, expected

F = load_formulary()
K = knowledge()
_KEYS = {k for r in K.interactions for k in (r.a.key, r.b.key, *([r.also.key] if r.also else []))}
_DRUGS = [d for d in F.drugs.values() if {f"drug:{d.id}", *(f"class:{c}" for c in d.classes)} & _KEYS]
OUTSIDE = ["furosemide", "losartan", "naproxen", "blorfinax"]  # not in the formulary: classes by ATC
NAMES = sorted({n for d in _DRUGS for n in (d.id, d.name, *d.brands[:1])}) + OUTSIDE
ATC = ["C03CA01", "C09CA01", "M01AE02", "B01AA03", "N06AB06", "H02AB06", "C03AA03", "N02AX02"]
ROUTES = ["oral", "po", "iv", "topical", "transdermal", "sc"]

med = st.fixed_dictionaries(
    {"drug": st.sampled_from(NAMES)},
    optional={
        "route": st.sampled_from(ROUTES),
        "dose": st.sampled_from([1, 5, 50]),
        "unit": st.just("mg"),
        "atc": st.sampled_from(ATC),
    },
)
population = st.lists(st.tuples(st.just({}), st.lists(med, min_size=2, max_size=14)), min_size=1, max_size=6)


@AUDIT_SETTINGS
@given(pop=population, seed=st.one_of(st.none(), st.integers(0, 1000)))
def test_interaction_heavy_regimens(tmp_path, pop, seed):
    audit_and_compare(tmp_path, pop, seed)


def test_three_way_and_repeats(tmp_path):
    """`also` rules with the third present, repeated, or only as one of the pair; one drug twice."""
    pop = [
        ({}, [{"drug": "ibuprofen"}, {"drug": "lisinopril"}, {"drug": "furosemide", "atc": "C03CA01"},
              {"drug": "naproxen", "atc": "M01AE02"}, {"drug": "ibuprofen", "route": "topical"},
              {"drug": "hctz", "atc": "C03AA03"}, {"drug": "warfarin"}, {"drug": "aspirin"},
              {"drug": "losartan", "atc": "C09CA01"}, {"drug": "furosemide", "atc": "C03CA01"}]),
        ({}, [{"drug": "radium-223"}, {"drug": "abiraterone"}, {"drug": "prednisone"},
              {"drug": "dexamethasone"}]),
        ({}, [{"drug": "warfarin"}, {"drug": "warfarin", "route": "iv"}, {"drug": "ibuprofen"},
              {"drug": "ibuprofen"}, {"drug": "sertraline"}, {"drug": "tramadol"}]),
    ]  # fmt: skip
    for seed in (None, 5):
        res, order = audit(tmp_path, pop, seed)
        assert actual(res) == expected(pop, order)
    assert res.findings["code"].str.startswith("interaction.").sum() >= 5
