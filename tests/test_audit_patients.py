"""The audit's patients file: validated per distinct cell, yet the same Patient and error as the schema."""

from __future__ import annotations

import pandas as pd
import pytest
from marshmallow import ValidationError

from checker.audit.normalize import load_patients
from checker.cli import main
from checker.model import Patient
from checker.schemas import PatientSchema

ROWS = [
    {
        "patient_id": "p1",
        "age_years": "81",
        "weight_kg": " 52 ",
        "sex": "f",
        "conditions": "ckd; heart failure",
    },
    {"patient_id": " p2 ", "age_years": "abc", "weight_kg": "0.1", "sex": "m", "conditions": ""},
    {"patient_id": "p3", "age_years": "", "weight_kg": "", "sex": "", "conditions": ";"},
    {"patient_id": "p4", "age_years": "40", "weight_kg": "70", "sex": "x", "conditions": ""},
    {"patient_id": "p1", "age_years": "20", "weight_kg": "90", "sex": "male", "conditions": ""},
    {"patient_id": "", "age_years": "30", "weight_kg": "60", "sex": "", "conditions": ""},
    {"patient_id": "p5", "age_years": "55", "weight_kg": "80", "sex": "male", "conditions": ""},
]


def _schema(row: dict[str, str]):
    """What validating the row on its own gives: the Patient, or None when it is refused."""
    data = {k: v.strip() for k, v in row.items() if k != "patient_id" and v.strip()}
    if "conditions" in data:
        data["conditions"] = [c.strip() for c in data["conditions"].split(";") if c.strip()]
    try:
        return PatientSchema().load({"id": row["patient_id"].strip(), **data})
    except ValidationError:
        return None


def test_patients_match_the_schema_row_by_row():
    pats = load_patients(pd.DataFrame(ROWS, dtype=str))
    t = pats.table
    assert list(t.index) == ["p1", "p2", "p3", "p4", "p5"]
    assert list(t["copies"]) == [2, 1, 1, 1, 1]
    firsts = {r["patient_id"].strip(): r for r in reversed(ROWS) if r["patient_id"].strip()}
    for pid, row in firsts.items():
        expected = _schema(row)
        assert (t.at[pid, "error"] is None) == (expected is not None), pid
        assert pats.get(pid) == (expected or Patient(id=pid)), pid
    assert t.at["p2", "error"].startswith("age_years: ") and "; weight_kg: " in t.at["p2", "error"]
    assert t.at["p1", "weight"] == 52.0 and pd.isna(t.at["p2", "weight"]) and pd.isna(t.at["p3", "weight"])


def test_only_invalid_patient_rows_are_reported(capsys, tmp_path):
    """A valid patient row next to an invalid one is not reported as invalid (no "nan" error)."""
    meds = tmp_path / "meds.csv"
    meds.write_text(
        "patient_id,drug,dose,unit,route,frequency\n"
        + "".join(f"{p},warfarin,5,mg,oral,daily\n" for p in ("a", "b", "c"))
    )
    pats = tmp_path / "pats.csv"
    pats.write_text("patient_id,age_years\na,70\nb,abc\nc,\n")
    assert main(["audit", str(meds), "--patients", str(pats)]) == 0
    out = capsys.readouterr().out
    invalid = [line for line in out.splitlines() if "input.patient_invalid" in line]
    assert len(invalid) == 1 and invalid[0].startswith("b,")


@pytest.mark.parametrize("pid", ["x" * 201])
def test_an_overlong_id_is_refused_as_the_schema_refuses_it(pid):
    pats = load_patients(pd.DataFrame([{"patient_id": pid, "age_years": "50"}], dtype=str))
    assert pats.table.at[pid, "error"].startswith("id: ")
    assert pats.get(pid).age_years is None
