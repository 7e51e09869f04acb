"""Dose runs are shared by patients alike in what check_doses reads: CrCl only as printed (three
decimals) and only under a CrCl row, unknown facts only those the drug's rows test. Patients that
differ just beyond that must still get `check()`'s own findings each."""

from __future__ import annotations

import pytest

from tests.test_audit_equivalence import actual, audit, expected

GABA = {"drug": "gabapentin", "dose": 800, "unit": "mg", "route": "oral", "frequency": "tid"}
TRAM = {"drug": "tramadol", "dose": 100, "unit": "mg", "route": "oral", "frequency": "q6h"}
ZOL = {"drug": "zoledronic acid", "dose": 4, "unit": "mg", "route": "iv", "frequency": "every 4 weeks"}


@pytest.mark.parametrize("seed", [None, 11])
def test_crcl_and_unknowns(tmp_path, seed):
    people = [
        {"crcl_ml_min": 25.0001},
        {"crcl_ml_min": 25.0004},
        {"crcl_ml_min": 25.0006},
        {"crcl_ml_min": 45},
        {"crcl_ml_min": 90},
        {},
        {"serum_creatinine": "1.6 mg/dL", "age_years": 80, "weight_kg": 52.5, "sex": "female"},
        {"serum_creatinine": "1.6 mg/dL", "age_years": 80, "weight_kg": 52.5, "sex": "male"},
        {"serum_creatinine": "141 umol/L", "age_years": 66, "weight_kg": 45, "sex": "f", "qtc_ms": 510},
        {"crcl_ml_min": 25, "qtc_ms": 510, "platelets": "40", "hepatic_impairment": "severe"},
        {"crcl_ml_min": 25, "pregnant": True},
    ]
    pop = [(p, [GABA, TRAM, ZOL]) for p in people]
    res, order = audit(tmp_path, pop, seed)
    assert actual(res) == expected(pop, order)
    assert res.findings["message"].str.contains("CrCl estimated").any()


APAP_PO = {"drug": "acetaminophen", "dose": 1500, "unit": "mg", "route": "oral", "frequency": "q4h"}
APAP_IV = {"drug": "paracetamol", "dose": 1000, "unit": "mg", "route": "iv", "frequency": "q6h"}


@pytest.mark.parametrize("seed", [None, 5])
def test_weight_only_where_a_per_kg_row_can_apply(tmp_path, seed):
    """Acetaminophen's per-kg row is IV and under 50 kg: oral orders, and IV orders for patients of
    50 kg or more, share runs across weights; IV under 50 kg (or weight unknown) must not."""
    weights = [None, 38.0, 38.5, 49.99, 50.0, 62.0, 95.5]
    regimens = ([APAP_PO], [APAP_IV], [APAP_PO, APAP_IV])
    pop = [({"weight_kg": w} if w else {}, meds) for w in weights for meds in regimens]
    res, order = audit(tmp_path, pop, seed)
    assert actual(res) == expected(pop, order)
    assert res.findings["code"].str.startswith("dose.single_per_kg_max").any()


def test_measured_crcl_differs_only_in_json_evidence(tmp_path):
    """In CSV the measured CrCl is not printed: patients alike but for it share a run; check() still
    agrees on every message (an estimated CrCl is printed and keeps its own run)."""
    people = [{"crcl_ml_min": c} for c in (20, 21.5, 29.9, 31, 45, 59)] + [
        {"serum_creatinine": "2.4 mg/dL", "age_years": a, "weight_kg": 60, "sex": "male"}
        for a in (70, 71, 88)
    ]
    pop = [(p, [GABA, TRAM]) for p in people]
    res, order = audit(tmp_path, pop)
    assert actual(res) == expected(pop, order)
