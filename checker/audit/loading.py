"""CSV cells to the values `check()` builds: through the very same schemas, once per distinct input.

A million rows hold a few thousand distinct orders, so each distinct row tuple is loaded once by
`load_regimen` (the loader `check()` uses) and rows share the frozen `Medication`. A patient is
loaded field by field (`checker.schemas.load_patient_fields`), so one unreadable field is
reported for that field and the patient's other facts are still used.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from marshmallow import fields

from checker.errors import InvalidRegimen
from checker.model import Medication
from checker.schemas import MedicationSchema, PatientSchema, load_regimen

MED_FIELDS: tuple[str, ...] = tuple(MedicationSchema().fields)
PATIENT_FIELDS: tuple[str, ...] = tuple(PatientSchema().fields)
LIST_FIELDS = frozenset(k for k, f in PatientSchema().fields.items() if isinstance(f, fields.List))
_INT = re.compile(r"^[+-]?\d{1,18}(?:\.0*)?$")  # longer: left as text, for the schema to refuse
_INT_FIELDS = frozenset(k for k, f in MedicationSchema().fields.items() if isinstance(f, fields.Integer))
MAX_MEMO = 100_000


_SAID_FOR = {"gender": "sex"}  # a column name a spelling test would not bring to its field


def unread_columns(columns: Iterable[str], fields_read: Iterable[str], close_only: bool) -> str | None:
    """The note for header columns no field reads ("age" for `age_years`), naming the field each
    one probably meant, or None. `close_only`: name only columns like a field (a medications file
    carries its other columns through on purpose; a patients file has no use for them)."""
    known, said = tuple(fields_read), []
    columns = tuple(columns)
    for c in columns:
        if c in known or c == "patient_id":
            continue
        near = [k for k in known if k == _SAID_FOR.get(c) or (len(c) > 2 and k.startswith(c))]
        near = near or [k for k in known if c in k.split("_")]
        near = sorted(near, key=len)[:1] or difflib.get_close_matches(c, known, n=1, cutoff=0.75)
        if near and near[0] not in columns:
            said.append(f"{c} (did you mean {near[0]}?)")
        elif not close_only:
            said.append(c)
    return ", ".join(said) or None


# What database and spreadsheet exports write in an empty cell (pandas reads the same as missing):
# a warfarin row whose dose says "NULL" is an order without a dose, not a row to reject. Not "none":
# it is a value ("hepatic_impairment: none").
MISSING_CELLS = frozenset({"null", "n/a", "na", "#n/a", "nan", "-"})


def missing_cell(text: str) -> bool:
    return not text or (len(text) <= 4 and text.strip().lower() in MISSING_CELLS)


def json_value(name: str, text: str) -> Any:
    """A CSV cell as the JSON value a client would send: CSV has no integer or list type."""
    if name in _INT_FIELDS and _INT.match(text):
        return int(text.partition(".")[0])
    if name in LIST_FIELDS:
        return [c.strip() for c in text.split(";") if c.strip()]
    return text


_MEDS: dict[tuple[str, ...], tuple[Medication | None, str | None, list[Medication]]] = {}


def medication(columns: tuple[str, ...], cells: tuple[str, ...]) -> tuple[Medication | None, str | None]:
    """The row's `Medication` (index 0), or why the schema refused it: once per distinct row."""
    hit = _MEDS.get(cells)
    if hit is None:
        if len(_MEDS) >= MAX_MEMO:  # a file of ever-new orders: start over now and then
            _MEDS.clear()
        data = {k: json_value(k, v) for k, v in zip(columns, cells, strict=True) if not missing_cell(v)}
        try:
            m = load_regimen({"medications": [data]}).medications[0]
            hit = (m, None, [m])
        except InvalidRegimen as exc:
            hit = (None, _reason(exc.errors, "medications.0."), [])
        _MEDS[cells] = hit
    return hit[0], hit[1]


def at_index(cells: tuple[str, ...], m: Medication, index: int) -> Medication:
    """`m` as the `index`-th medication of a regimen: made once per distinct row and index."""
    made = _MEDS[cells][2] if cells in _MEDS else [m]
    while len(made) <= index:
        made.append(replace(m, index=len(made)))
    return made[index]


def _reason(errors: dict[str, list[str]], prefix: str) -> str:
    return "; ".join(f"{k.removeprefix(prefix)}: {' '.join(v)}" for k, v in errors.items())
