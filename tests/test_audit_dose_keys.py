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
