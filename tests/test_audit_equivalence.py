"""For every patient, the audit gives exactly what `check()` gives on that patient's loadable rows.

The columns and value kinds are generated from the schemas (every field of `MedicationSchema` and
`PatientSchema`), so a field added there is generated here with no edit. Per-field example pools
only make values likelier to mean something; a field without one still gets values of its type.
"""

from __future__ import annotations

import csv
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import fields, validate

import rules
from checker import InvalidRegimen, check
from checker.cli import main
from checker.labs import LABS
from checker.schemas import DoseField, LabField, MedicationSchema, PatientSchema, load_regimen
from formulary import load as load_formulary

F = load_formulary()
MED = MedicationSchema().fields
PAT = {k: v for k, v in PatientSchema().fields.items() if k != "id"}
EXAMPLES = {  # optional: values a clinician would write, mixed with the generic ones of each type
    "drug": sorted({n for d in F.drugs.values() for n in (d.id, d.name, *d.brands[:1])})
    + ["blorfinax", "TYLENOL"],
    "unit": ["mg", "g", "mcg", "ug/h", "IU", "kBq/kg", "mg/kg", "MBq", "tabs", "blorp", "mg/day"],
    "route": ["oral", "po", "iv", "sc", "im", "transdermal", "intranasal", "bogus"],
    "frequency": [
        "q4h",
        "q6h",
        "q8h",
        "q12h",
        "q72h",
        "daily",
        "bid",
        "tid",
        "qhs",
        "weekly",
        "every 4 weeks",
        "once",
    ],
    "sig": [
        "1 g PO q6h PRN pain",
        "5–15 mg orally every 4 h PRN",
        "12 µg/h changed every 72 h",
        "2 tabs po bid",
    ],
    "max_daily_unit": ["mg", "g"],
    "rxcui": ["161", "7052", "999999"],
    "atc": ["N02BE01", "M01AE01", "B01AA03"],
    "conditions": ["bone_metastases", "gi_bleed_history", "alcohol_use", "heart_failure", "made_up"],
    "hepatic_impairment": ["none", "mild", "Child-Pugh B", "severe", "awful"],
    "sex": ["female", "M", "f", "unknown", "X"],
}


def _range(f: fields.Field) -> tuple[float, float]:
    r = next((v for v in f.validators if isinstance(v, validate.Range)), None)
    lo = r.min if r and r.min is not None else 0
    hi = r.max if r and r.max is not None else 10_000
    return float(lo), float(hi)


def values(name: str, f: fields.Field) -> st.SearchStrategy:
    """JSON values for one schema field, by its type (a few out of range, to be refused)."""
    pool = EXAMPLES.get(name)
    if isinstance(f, fields.List):
        return st.lists(st.sampled_from(pool or ["x"]), max_size=3)
    if isinstance(f, fields.Boolean):
        return st.booleans()
    if isinstance(f, fields.Integer):
        lo, hi = _range(f)
        return st.integers(int(lo) - 1, int(min(hi, 30)))
    if isinstance(f, fields.Float):
        lo, hi = _range(f)
        return st.one_of(
            st.integers(int(lo), int(min(hi, 1000))), st.sampled_from([lo - 1, hi * 2, (lo + hi) / 3])
        )
    if isinstance(f, DoseField):
        return st.one_of(
            st.sampled_from([0.5, 1, 4, 15, 55, 300, 1000, 5000]), st.just("5-15"), st.just("ten")
        )
    if isinstance(f, LabField):
        lab = LABS[f.lab]
        return st.builds(
            lambda x, u: f"{x} {u}",
            st.integers(0, int(min(lab.high, 500))),
            st.sampled_from([lab.unit, "bogus"]),
        )
    if isinstance(f, fields.Date):
        return st.sampled_from(["2026-01-05", "2026-13-01"])
    choices = next((v.choices for v in f.validators if isinstance(v, validate.OneOf)), None)
    return st.sampled_from(list(pool or choices or ["a", "b"]))


def record(schema_fields: dict, required: tuple[str, ...] = ()) -> st.SearchStrategy:
    return st.fixed_dictionaries(
        {k: values(k, f) for k, f in schema_fields.items() if k in required},
        optional={k: values(k, f) for k, f in schema_fields.items() if k not in required},
    )


population = st.lists(
    st.tuples(record(PAT), st.lists(record(MED, required=("drug",)), min_size=0, max_size=5)),
    min_size=1,
    max_size=4,
)


def text(value: object) -> str:
    """The CSV cell a spreadsheet export holds for a JSON value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ";".join(value)
    return str(value)


def loads(med: dict) -> bool:
    try:
        load_regimen({"medications": [med]})
    except InvalidRegimen:
        return False
    return True


def usable(patient: dict) -> dict:
    """The patient fields `check()` accepts one by one: what the audit uses of the patient."""
    out = {}
    for k, v in patient.items():
        try:
            load_regimen({"patient": {k: v}, "medications": []})
        except InvalidRegimen:
            continue
        out[k] = v
    return out


def audit(tmp_path, pop) -> dict:
    meds, pats = tmp_path / "m.csv", tmp_path / "p.csv"
    with open(meds, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["patient_id", *MED])
        for i, (_, orders) in enumerate(pop):
            for m in orders:
                w.writerow([f"p{i}", *(text(m[k]) if k in m else "" for k in MED)])
    with open(pats, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["patient_id", *PAT])
        for i, (p, _) in enumerate(pop):
            w.writerow([f"p{i}", *(text(p[k]) if k in p else "" for k in PAT)])
    out = tmp_path / "r.json"
    assert main(["audit", str(meds), "--patients", str(pats), "-o", str(out)]) == 0
    return json.loads(out.read_text())


def compare(tmp_path, pop) -> None:
    doc = audit(tmp_path, pop)
    by_pid = {p["patient_id"]: p for p in doc["patients"]}
    row = 0
    for i, (patient, orders) in enumerate(pop):
        rows = list(range(row + 1, row + 1 + len(orders)))
        row += len(orders)
        kept = [(r, m) for r, m in zip(rows, orders, strict=True) if loads(m)]
        if not orders:
            assert f"p{i}" not in by_pid
            continue
        want = check({"patient": {"id": f"p{i}", **usable(patient)}, "medications": [m for _, m in kept]})
        expected = [
            (
                f.code,
                f.severity,
                list(f.drugs),
                f.message,
                list(f.medications),
                [kept[j][0] for j in f.medications],
            )
            for f in want.findings
        ]
        got = [
            (f["code"], f["severity"], f["drugs"], f["message"], f["medications"], f["rows"])
            for f in by_pid[f"p{i}"]["findings"]
            if f["category"] != "input"
        ]
        assert got == [e for e in expected if e[0].split(".")[0] != "input"], f"p{i}"
        refused = sorted(
            f["rows"][0] for f in by_pid[f"p{i}"]["findings"] if f["code"] == "input.row_invalid"
        )
        assert refused == [r for r, m in zip(rows, orders, strict=True) if not loads(m)]
        bad_fields = {k for k in patient if k not in usable(patient)}
        reported = [f for f in by_pid[f"p{i}"]["findings"] if f["code"] == "input.patient_invalid"]
        assert len(reported) == len(bad_fields)


SETTINGS = settings(
    max_examples=int(os.environ.get("AUDIT_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@SETTINGS
@given(pop=population)
def test_audit_equals_check_per_patient(tmp_path, pop):
    compare(tmp_path, pop)


def test_every_schema_field_is_a_generated_column():
    assert set(MedicationSchema().fields) <= set(MED) and set(PatientSchema().fields) - {"id"} <= set(PAT)


def test_one_bad_patient_field_keeps_the_others(tmp_path):
    pop = [
        (
            {"weight_kg": "heavy", "age_years": 90, "crcl_ml_min": 20},
            [{"drug": "ketorolac", "dose": 30, "unit": "mg", "route": "iv", "frequency": "q6h"}],
        )
    ]
    compare(tmp_path, pop)
    [p] = audit(tmp_path, pop)["patients"]
    codes = [f["code"] for f in p["findings"]]
    assert codes.count("input.patient_invalid") == 1 and any(c.startswith("renal") for c in codes), codes


@pytest.mark.parametrize("kind", ["patient_only", "per_kg"])
def test_a_new_evaluator_needs_no_audit_change(tmp_path, monkeypatch, kind):
    """An evaluator added to the registry reaches the audit as it reaches check(): one that reads
    only patient facts (so patients whose rows were all refused get it too), one that reads per-kg
    doses."""
    import checker.engine
    from checker.findings import finding
    from rules.mechanism import Evaluator, Unit

    def old(inp):
        if inp.ctx.patient.age_years and inp.ctx.patient.age_years > 80:
            yield finding("monitoring.test_old", "monitoring", "info", (), (), "Older than 80.", "")

    def per_kg(inp):
        for i, o in enumerate(inp.orders):
            if o.dose_per_kg is not None and o.dose_per_kg > 1:
                yield finding(
                    "dose.test_per_kg", "weight_based", "minor", (), (i,), f"{o.dose_per_kg:g}/kg", ""
                )

    extra = (
        Evaluator("test_old", lambda ctx: [Unit("patient")], old, facts=("patient.age_years",))
        if kind == "patient_only"
        else Evaluator("test_per_kg", lambda ctx: [Unit("orders", tuple(ctx.orders))], per_kg,
                       reads=("dose_per_kg",))
    )  # fmt: skip
    base = rules.evaluators()
    monkeypatch.setattr(checker.engine, "evaluators", lambda: (*base, extra))
    pop = [
        (
            {"age_years": 85, "weight_kg": 50},
            [{"drug": "acetaminophen", "dose": 1, "unit": "g", "frequency": "q6h"}],
        ),
        ({"age_years": 90}, [{"drug": "aspirin", "dose": "ten"}]),  # every row refused
        (
            {"weight_kg": 20},
            [
                {"drug": "radium-223", "dose": 55, "unit": "kBq/kg", "route": "iv"},
                {"drug": "morphine", "dose": 30, "unit": "mg"},
            ],
        ),
    ]
    compare(tmp_path, pop)
    codes = {f["code"] for p in audit(tmp_path, pop)["patients"] for f in p["findings"]}
    assert ("monitoring.test_old" if kind == "patient_only" else "dose.test_per_kg") in codes
