"""Interpreting the audit's rows once per distinct value, with the regimen schema's own fields.

A million rows hold a few thousand distinct orders. Each distinct cell text is validated once by
the very marshmallow field `load_regimen` uses, each distinct order tuple becomes one
`Medication` and one `Order` (via `build_order`, whose unit, sig and frequency parsers are
cached per distinct string), and rows point at them by integer codes.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np
import pandas as pd
from marshmallow import ValidationError

from checker.errors import flatten_errors
from checker.model import Medication, Patient
from checker.orders import Order, build_order
from checker.schemas import MedicationSchema, PatientSchema, RegimenSchema
from formulary import Formulary

MED_FIELDS: tuple[str, ...] = tuple(MedicationSchema().fields)
PATIENT_FIELDS: tuple[str, ...] = tuple(f for f in PatientSchema().fields if f != "id")
_MED = MedicationSchema()
_PATIENT = PatientSchema()
_REGIMEN = RegimenSchema()
_INT = re.compile(r"^[+-]?\d+(?:\.0*)?$")


def _messages(messages: Any, name: str) -> str:
    flat = flatten_errors(messages, name) if not isinstance(messages, list) else {name: messages}
    return "; ".join(f"{k}: {' '.join(v)}" for k, v in flat.items())


class CellCache:
    """One schema field's verdict per distinct cell text: (value, None) or (None, message)."""

    def __init__(self, schema: Any):
        self.schema = schema
        self.seen: dict[tuple[str, str], tuple[Any, str | None]] = {}

    def __call__(self, name: str, text: str) -> tuple[Any, str | None]:
        hit = self.seen.get((name, text))
        if hit is None:
            hit = self.seen[(name, text)] = self._check(name, text)
        return hit

    def _check(self, name: str, text: str) -> tuple[Any, str | None]:
        value: Any = text
        if name == "dose_number" and _INT.match(text):  # CSV has no integer type: "3" and "3.0" are 3
            value = int(float(text))
        elif name == "conditions":
            value = [c.strip() for c in text.split(";") if c.strip()]
        elif name == "hepatic_impairment":
            try:
                value = PatientSchema._hepatic(self.schema, {name: text})[name]
            except ValidationError as exc:
                return None, _messages(exc.messages, name)
        try:
            return self.schema.fields[name].deserialize(value), None
        except ValidationError as exc:
            return None, _messages(exc.messages, name)


def cell_codes(col: pd.Series) -> tuple[np.ndarray, list[str | None]]:
    """Integer codes per row and the distinct trimmed values (None for an empty cell)."""
    codes, uniques = pd.factorize(col.fillna(""), use_na_sentinel=False)
    canon: dict[str | None, int] = {}
    remap = np.fromiter(
        (canon.setdefault(str(u).strip() or None, len(canon)) for u in uniques),
        dtype=np.int64,
        count=len(uniques),
    )
    return remap[codes] if len(codes) else codes.astype(np.int64), list(canon)


def combine_codes(parts: list[tuple[np.ndarray, int]], n: int) -> np.ndarray:
    """One code per distinct combination of several coded columns (mixed radix, re-densified)."""
    key = np.zeros(n, dtype=np.int64)
    span = 1
    for codes, size in parts:
        if span * max(size, 1) >= 1 << 62:
            key, uniq = pd.factorize(key)
            span = len(uniq)
        key = key * max(size, 1) + codes
        span *= max(size, 1)
    return pd.factorize(key)[0].astype(np.int64)


@dataclass
class Distinct:
    """The distinct order tuples of a batch: per code, the Medication or why the row was refused."""

    meds: list[Medication | None]
    errors: list[str | None]


def distinct_orders(rows: pd.DataFrame) -> tuple[np.ndarray, Distinct]:
    """Code each row by its order tuple and validate each distinct tuple once."""
    present = [f for f in MED_FIELDS if f in rows.columns]
    coded = [(f, *cell_codes(rows[f])) for f in present]
    oid = combine_codes([(c, len(v)) for _, c, v in coded], len(rows))
    if not len(rows):
        return oid, Distinct([], [])
    _, first = np.unique(oid, return_index=True)
    cache = CellCache(_MED)
    meds: list[Medication | None] = []
    errors: list[str | None] = []
    for at in first:
        cells = {f: values[codes[at]] for f, codes, values in coded}
        med, error = _medication({k: v for k, v in cells.items() if v is not None}, cache)
        meds.append(med)
        errors.append(error)
    return oid, Distinct(meds, errors)


def _medication(cells: dict[str, str], cache: CellCache) -> tuple[Medication | None, str | None]:
    parsed, problems = {}, []
    for name, text in cells.items():
        value, error = cache(name, text)
        if error:
            problems.append(error)
        else:
            parsed[name] = value
    if problems:
        return None, "; ".join(problems)
    try:
        parsed = MedicationSchema._check(_MED, parsed)
        regimen = RegimenSchema._build(_REGIMEN, {"medications": [parsed]})
    except ValidationError as exc:
        return None, _messages(exc.messages, "drug")
    return regimen.medications[0], None


_REFUSED = Order(index=0, input="", drug=None, classes=frozenset(), route=None)  # never joined to a row


@dataclass
class Variants:
    """Interpreted orders: one per distinct tuple, plus one per (tuple, weight) for per-kg doses."""

    orders: list[Order]
    per_kg: np.ndarray  # bool per variant: its dose depends on the patient's weight
    rows: dict = field(default_factory=dict, repr=False)  # row_order's cache, per (variant, index, type)


def interpret(
    oid: np.ndarray, distinct: Distinct, weight: np.ndarray, f: Formulary
) -> tuple[np.ndarray, Variants]:  # noqa: E501
    """Variant code per row. Only per-kg doses depend on the patient (weight); the rest is shared."""
    base = [build_order(m, Patient(), f) if m else _REFUSED for m in distinct.meds]
    per_kg = np.array(
        [o is not None and o.drug is not None and o.dose is None and o.dose_per_kg is not None for o in base],
        dtype=bool,
    )
    vid = oid.copy()
    orders: list[Order] = list(base)  # type: ignore[arg-type]
    flags = list(per_kg)
    pick = per_kg[oid] & ~np.isnan(weight) if len(oid) else np.zeros(0, dtype=bool)
    if pick.any():
        pairs = pd.DataFrame({"oid": oid[pick], "w": weight[pick]})
        code, uniq = pd.factorize(pd.MultiIndex.from_frame(pairs))
        for o, w in uniq:
            orders.append(build_order(distinct.meds[o], Patient(weight_kg=float(w)), f))
            flags.append(True)
        vid[pick] = len(base) + code
    return vid, Variants(orders, np.array(flags, dtype=bool))


def row_order(v: Variants, vid: int, index: int, weight: float) -> Order:
    """The order exactly as `build_order` makes it for this row's index and patient weight.

    Equal to `replace(v.orders[vid], index=..., ...)`, built slot by slot (dataclasses.replace
    re-runs __init__); orders are immutable, so one per (variant, index) is shared by every row
    whose dose does not depend on the patient's weight."""
    o = v.orders[vid]
    index = int(index)  # a plain int, as check() has it: JSON evidence must not turn it into text
    k = (vid, index)
    hit = v.rows.get(k)
    if hit is None:
        vals = [getattr(o, name) for name in _ORDER_SLOTS]
        vals[_AT_INDEX] = index
        if o.problems:
            vals[_AT_PROBLEMS] = tuple(replace(p, medications=(index,)) for p in o.problems)
        hit = v.rows[k] = (_make(vals), vals)
    if not v.per_kg[vid] and o.dose is not None and weight and not math.isnan(weight):
        vals = hit[1].copy()
        vals[_AT_PER_KG] = o.dose / weight
        return _make(vals)
    return hit[0]


def _make(vals: list) -> Order:
    made = object.__new__(Order)
    for name, value in zip(_ORDER_SLOTS, vals, strict=True):
        object.__setattr__(made, name, value)
    return made


_ORDER_SLOTS = tuple(f.name for f in fields(Order))
_AT_INDEX, _AT_PER_KG, _AT_PROBLEMS = (_ORDER_SLOTS.index(k) for k in ("index", "dose_per_kg", "problems"))


@dataclass
class Patients:
    """Patient facts by id, from the patients CSV; an invalid row is reported and not used."""

    table: pd.DataFrame  # index patient_id: patient (Patient), weight (float), error, copies

    def __post_init__(self) -> None:
        self._by_id = {
            k: p for k, p in zip(self.table.index, self.table["patient"], strict=True) if p is not None
        }

    def get(self, pid: str) -> Patient:
        return self._by_id.get(pid) or Patient(id=pid)

    def weights(self, pids: pd.Series) -> np.ndarray:
        if self.table.empty:
            return np.full(len(pids), np.nan)
        return pids.map(self.table["weight"]).to_numpy(dtype=float, na_value=np.nan)


def no_patients() -> Patients:
    return Patients(
        pd.DataFrame(
            {
                "patient": pd.Series([], dtype=object),
                "weight": pd.Series([], dtype=float),
                "error": pd.Series([], dtype=object),
                "copies": pd.Series([], dtype=int),
            }
        )
    )


def load_patients(rows: pd.DataFrame) -> Patients:
    """Validate each patient row with the regimen's PatientSchema fields (cached per cell text)."""
    if rows.empty:
        return no_patients()
    rows = rows.assign(patient_id=rows["patient_id"].fillna("").str.strip())
    rows = rows[rows["patient_id"] != ""]
    copies = rows.groupby("patient_id", sort=False).size()
    rows = rows.drop_duplicates("patient_id", keep="first")
    fields = [f for f in PATIENT_FIELDS if f in rows.columns]
    cache = CellCache(_PATIENT)
    records = []
    for rec in rows[["patient_id", *fields]].itertuples(index=False, name=None):
        records.append(_patient(rec[0], dict(zip(fields, rec[1:], strict=True)), cache))
    table = pd.DataFrame(records, columns=["patient_id", "patient", "weight", "error"]).set_index(
        "patient_id"
    )
    table["copies"] = copies.reindex(table.index).to_numpy()
    return Patients(table)


def _patient(
    pid: str, cells: dict[str, Any], cache: CellCache
) -> tuple[str, Patient | None, float, str | None]:
    parsed: dict[str, Any] = {}
    problems = []
    id_value, id_error = cache("id", pid)
    if id_error:
        problems.append(id_error)
    for name, text in cells.items():
        text = "" if text is None or (isinstance(text, float) and math.isnan(text)) else str(text).strip()
        if not text:
            continue
        value, error = cache(name, text)
        if error:
            problems.append(error)
        else:
            parsed[name] = value
    if problems:
        return pid, None, math.nan, "; ".join(problems)
    patient = PatientSchema._build(_PATIENT, {"id": id_value, **parsed})
    return pid, patient, patient.weight_kg if patient.weight_kg is not None else math.nan, None
