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


def _one_attribute_apart(drug) -> list[dict]:
    """Orders of `drug` that differ from a base order (over its first limit row) in one attribute
    at a time: dose, frequency (interval and daily amount), PRN, duration, dose number, dose per
    kg, route."""
    lim = drug.limits[0]
    kg = 70  # the patients' weight
    per_kg = (lim.max_single_per_kg or 0) * kg or (lim.max_daily_per_kg or 0) * kg / 2
    top = lim.max_single or per_kg or (lim.max_daily or 4) / 2
    base = {"drug": drug.id, "dose": top * 1.5, "unit": drug.dose_unit, "route": lim.routes[0]}
    base["frequency"] = "q6h"
    out = [base, {**base, "dose": top * 0.5}, {**base, "dose": top * 3}]
    out += [{**base, "frequency": f} for f in ("q2h", "q4h", "q8h", "q12h", "daily", "weekly")]
    out += [{**base, "prn": True}, {**base, "duration_days": 3}, {**base, "duration_days": 40}]
    out += [{**base, "dose_number": n} for n in (2, 12)]
    out += [{**base, "dose": top * f / kg, "unit": f"{drug.dose_unit}/kg"} for f in (1.5, 3)]  # per kg
    out += [{**base, "route": r} for r in drug.routes if r != base["route"]][:1]
    return out


@pytest.mark.parametrize(
    "drug_id",  # between them, every kind of limit, alone and with others
    ["acetaminophen", "tramadol", "zoledronic_acid", "ketorolac", "amitriptyline", "radium_223",
     "samarium_153", "enoxaparin"],
)  # fmt: skip
def test_orders_apart_in_one_attribute_keep_their_own_findings(tmp_path, drug_id):
    """Dose runs are shared by orders alike in what check_doses reads for the drug's kinds of limit
    (`dose_plan._order_read`): orders one attribute apart, alone and beside the base order, must
    each get check()'s findings, not those of an order that differs only in that attribute."""
    from formulary import load

    orders = _one_attribute_apart(load().drugs[drug_id])
    pop = [
        (who, meds)
        for who in ({"weight_kg": 70, "crcl_ml_min": 20}, {"crcl_ml_min": 20})  # renal rows; weight or not
        for meds in [[o] for o in orders] + [[orders[0], o] for o in orders]
    ]
    res, order = audit(tmp_path, pop)
    assert actual(res) == {p: found for p, found in expected(pop, order).items() if found}
    assert res.findings["code"].str.startswith("dose.").any()
