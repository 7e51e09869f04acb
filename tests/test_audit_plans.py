"""Required checks run once per (check id, its orders, its missing facts) and cautions, checks and
interaction pairs are worked out once per distinct order content in a process (checker/audit/plans.py,
interaction_plan.py). Patients that share one check's key but differ in everything else (other
checks firing, other facts missing, companions present or not, the orders' positions) must each
still get `check()`'s own findings, also when the remembered results are reused by a second audit."""

from __future__ import annotations

import pytest

from checker.audit import memo
from tests.test_audit_equivalence import audit_and_compare


def med(drug: str, dose: object, unit: str = "mg", route: str = "oral", freq: str = "daily", **kw) -> dict:
    return {"drug": drug, "dose": dose, "unit": unit, "route": route, "frequency": freq, **kw}


DENOSUMAB = med("denosumab", 120, route="sc", freq="monthly")
ZOLEDRONIC = med("zoledronic acid", 4, route="iv", freq="monthly")
CALCIUM = med("calcium carbonate", 500, freq="bid")
VITAMIN_D = med("vitamin D3", 1000, unit="IU")
IBUPROFEN = med("ibuprofen", 400, freq="tid")
DICLOFENAC = med("diclofenac", 50, freq="bid")
KETOROLAC = med("ketorolac", 15, route="iv", freq="q6h")
ALENDRONATE = med("alendronate", 70, freq="weekly")
METHADONE = med("methadone", 10, freq="bid")
PATCH = med("fentanyl", 25, unit="ug/h", route="transdermal", freq="q72h")
FENTANYL_IV = med("fentanyl", 50, unit="mcg", route="iv", freq="once")
RADIUM = med("radium-223", 55, unit="kBq/kg", route="iv", freq="every 4 weeks")
WARFARIN = med("warfarin", 5)
SERTRALINE = med("sertraline", 50)
TRAMADOL = med("tramadol", 50, freq="q6h")

REGIMENS = [
    # one check, its companions absent, present (calcium, vitamin D, both) and before or after it
    [DENOSUMAB],
    [DENOSUMAB, CALCIUM],
    [CALCIUM, DENOSUMAB],
    [DENOSUMAB, VITAMIN_D],
    [VITAMIN_D, CALCIUM, DENOSUMAB],
    [DENOSUMAB, ZOLEDRONIC, CALCIUM],
    [ZOLEDRONIC],
    # checks sharing orders, and the same check over several orders in either order
    [ZOLEDRONIC, IBUPROFEN],
    [IBUPROFEN, DICLOFENAC],
    [DICLOFENAC, IBUPROFEN],
    [IBUPROFEN, IBUPROFEN, KETOROLAC],
    [IBUPROFEN, DENOSUMAB, CALCIUM, DICLOFENAC],
    [ALENDRONATE],
    [ALENDRONATE, IBUPROFEN, WARFARIN],
    # route-limited check (transdermal fentanyl only), QTc and blood counts
    [METHADONE, PATCH],
    [PATCH],
    [FENTANYL_IV],
    [RADIUM],
    [RADIUM, IBUPROFEN],
    [METHADONE, DENOSUMAB, CALCIUM, IBUPROFEN],
    # interactions with and without the checks around them
    [WARFARIN, IBUPROFEN],
    [SERTRALINE, TRAMADOL, METHADONE],
    [TRAMADOL, SERTRALINE, WARFARIN, DICLOFENAC],
]
PEOPLE = [
    {},
    {
        "age_years": 70,
        "weight_kg": 80,
        "sex": "male",
        "crcl_ml_min": 45,
        "serum_calcium": "9.0 mg/dL",
        "qtc_ms": 510,
        "platelets": "40",
        "anc": "2.1 10^9/L",
        "hemoglobin": "11.2 g/dL",
        "opioid_tolerant": True,
        "dental_exam_done": True,
    },
    {"egfr": 70, "opioid_tolerant": False, "dental_exam_done": False},
    {"serum_creatinine": "1.6 mg/dL", "age_years": 66, "weight_kg": 80, "sex": "female"},
    {"platelets": "140 10^9/L", "qtc_ms": 420, "conditions": ["hypocalcemia"]},
    {"crcl_ml_min": 25, "serum_calcium": "1.9 mmol/L", "conditions": ["heart_failure", "gi_bleed_history"]},
]


@pytest.mark.parametrize("seed", [None, 5])
def test_shared_check_keys_give_each_patient_checks_findings(tmp_path, seed):
    pop = [(p, meds) for meds in REGIMENS for p in PEOPLE]
    _, want, got = audit_and_compare(tmp_path, pop, seed)
    assert set(got) <= set(want)
    codes = {f[2] for found in want.values() for f in found}
    assert {"monitoring.calcium_vitamin_d_with_denosumab", "monitoring.renal_before_nsaid"} <= codes
    assert any(c.startswith("interaction.") for c in codes)


def test_remembered_results_serve_a_second_audit(tmp_path):
    """The second audit in the process reads per-content results and remembered keys the first
    made, on rows in another order and patients in other combinations."""
    pop = [(p, meds) for meds in REGIMENS for p in PEOPLE]
    audit_and_compare(tmp_path, pop, None)
    (tmp_path / "again").mkdir()
    mixed = [(p, meds + extra) for (p, meds), (_, extra) in zip(pop, reversed(pop), strict=True)]
    audit_and_compare(tmp_path / "again", mixed, 11)


def test_remembered_findings_stay_bounded_and_keep_the_keys_in_use(monkeypatch):
    """However long the input, the store of per-key findings holds at most MAX_RESULTS keys, and a
    key asked for again survives the turnover while keys seen once are let go."""
    monkeypatch.setattr(memo, "MAX_RESULTS", 8)
    store = memo._Store()
    store.keep(("hot",), [])
    for i in range(40):
        store.keep((i,), [])
        assert store.found(("hot",)) == []  # in use: never dropped
        assert len(store.results) + len(store.older) <= 8
    assert store.found((0,)) is None  # seen once, long ago
    assert store.found((39,)) == []
