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

from .arrays import radix_key

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


@dataclass
class Distinct:
    """The distinct order tuples of a batch: per code, the Medication or why the row was refused."""

    meds: list[Medication | None]
    errors: list[str | None]


def distinct_orders(rows: pd.DataFrame) -> tuple[np.ndarray, Distinct]:
    """Code each row by its order tuple and validate each distinct tuple once.

    Verdicts are kept across calls (`_ORDERS`), so the chunks of a streamed file, which share most
    of their order tuples, validate only the tuples they are the first to hold. Validation is a
    pure function of the cells, and a `Medication` is frozen, so sharing one is safe."""
    present = [f for f in MED_FIELDS if f in rows.columns]
    coded = [(f, *cell_codes(rows[f])) for f in present]
    key = radix_key(*[c for _, c, _ in coded]) if coded else np.zeros(len(rows), dtype=np.int64)
    oid = pd.factorize(key)[0].astype(np.int64)  # numbered as first seen
    if not len(rows):
        return oid, Distinct([], [])
    _, first = np.unique(oid, return_index=True)
    if len(_ORDERS) > MAX_ORDERS:  # bounded: a file of ever-new orders starts over now and then
        _ORDERS.clear()
        _MED_CELLS.seen.clear()
    meds: list[Medication | None] = []
    errors: list[str | None] = []
    for at in first.tolist():
        key = tuple((f, values[codes[at]]) for f, codes, values in coded if values[codes[at]] is not None)
        hit = _ORDERS.get(key)
        if hit is None:
            hit = _ORDERS[key] = _medication(dict(key), _MED_CELLS)
        meds.append(hit[0])
        errors.append(hit[1])
    return oid, Distinct(meds, errors)


MAX_ORDERS = 100_000  # distinct order tuples remembered (a few hundred bytes each, plus the Medication)
_ORDERS: dict[tuple[tuple[str, str], ...], tuple[Medication | None, str | None]] = {}
_MED_CELLS = CellCache(_MED)


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


_BASE: dict[int, tuple[Medication, Formulary, Order]] = {}  # id(Medication) -> it, the formulary, its Order


def _base_order(m: Medication, f: Formulary) -> Order:
    """`build_order(m, Patient(), f)`, once per Medication: `distinct_orders` hands every partition
    the same (frozen) Medication for the same cells, so later partitions interpret only new ones.
    The entry holds the Medication, so its id is not reused while the entry lives."""
    hit = _BASE.get(id(m))
    if hit is None or hit[0] is not m or hit[1] is not f:
        if len(_BASE) > MAX_ORDERS:
            _BASE.clear()
        hit = _BASE[id(m)] = (m, f, build_order(m, Patient(), f))
    return hit[2]


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
    base = [_base_order(m, f) if m else _REFUSED for m in distinct.meds]
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
    """An Order from its slot values, set through the slots' own descriptors: what the frozen
    dataclass's __init__ stores, at about half the cost of object.__setattr__ per slot."""
    made = _NEW(Order)
    for put, value in zip(_SETTERS, vals, strict=True):
        put(made, value)
    return made


_ORDER_SLOTS = tuple(f.name for f in fields(Order))
_SETTERS = tuple(Order.__dict__[name].__set__ for name in _ORDER_SLOTS)  # member descriptors (slots=True)
_NEW = object.__new__
_AT_INDEX, _AT_PER_KG, _AT_PROBLEMS = (_ORDER_SLOTS.index(k) for k in ("index", "dose_per_kg", "problems"))


@dataclass
class Patients:
    """Patient facts by id, from the patients CSV; an invalid row is reported and not used.

    Loading validates each distinct cell text once per column (factorised codes, no per-row
    Python), so a 200k-row patients file costs about what its distinct values cost. A `Patient`
    is assembled only when the audit asks for it (`at`; `get` by id), from per-row attribute
    columns, so the patients the orders never mention cost nothing."""

    table: pd.DataFrame  # index patient_id: weight (float), error (str or None), copies (int)
    # Per Patient attribute a file column sets: its slot number and its value per table row,
    # exactly as PatientSchema._build sets it (the default where the cell is empty).
    columns: list[tuple[int, list[Any]]] = field(default_factory=list, repr=False)

    def usable_rows(self, pids: pd.Index) -> np.ndarray:
        """Per id, its table row, or -1 when the file has none or refused it (hashed in one go: the
        audit looks up a partition's patients at once, so no per-id dict is built for the file)."""
        at = self.table.index.get_indexer(pids) if len(self.table) else np.full(len(pids), -1, dtype=np.int64)
        found = at >= 0
        at[found] = np.where(self.table["error"].isna().to_numpy()[at[found]], at[found], -1)
        return at

    def get(self, pid: str) -> Patient:
        return self.at(int(self.usable_rows(pd.Index([pid], dtype=object))[0]), pid)

    def at(self, at: int, pid: str) -> Patient:
        """The Patient of table row `at` (from `usable_rows`; -1: not in the file), with id `pid`."""
        if at < 0:
            return Patient(id=pid)
        vals = list(PATIENT_DEFAULTS)
        vals[_AT_ID] = pid
        for k, col in self.columns:
            vals[k] = col[at]
        return _make_patient(vals)


def no_patients() -> Patients:
    return Patients(
        pd.DataFrame(
            {
                "weight": pd.Series([], dtype=float),
                "error": pd.Series([], dtype=object),
                "copies": pd.Series([], dtype=int),
            },
            index=pd.Index([], dtype=object, name="patient_id"),
        )
    )


def load_patients(rows: pd.DataFrame) -> Patients:
    """Validate the patients file with the regimen's PatientSchema fields, once per distinct cell.

    Each column is factorised; each distinct trimmed text goes through the very marshmallow field
    `load_regimen` uses (CellCache) and the rows take its verdict by code. A row's error lists its
    cells' errors in field order, id first, as validating that row on its own would."""
    if rows.empty:
        return no_patients()
    rows = rows.assign(patient_id=rows["patient_id"].fillna("").astype(str).str.strip())
    rows = rows[rows["patient_id"] != ""]
    # Most files hold each id once: then the ids need no factorising, no first-row pick and no
    # copy (`is_unique` is one pass over them).
    ids = pd.Index(rows["patient_id"], name="patient_id")
    if ids.is_unique:
        copies = np.ones(len(ids), dtype=np.int64)
        rows = rows.reset_index(drop=True)
    else:
        code, _ = pd.factorize(rows["patient_id"])  # codes in order of first appearance
        _, first = np.unique(code, return_index=True)
        copies = np.bincount(code, minlength=len(first))
        rows = rows.iloc[first].reset_index(drop=True)  # the first row of each id, in file order
        ids = pd.Index(rows["patient_id"], name="patient_id")
    pids = rows["patient_id"]
    n = len(rows)
    cache = CellCache(_PATIENT)
    error = np.full(n, None, dtype=object)
    # `id` is a String of at most 200 characters, so only a longer id can be refused: only those
    # (each distinct, the rows being unique by id) are put to the field.
    long = (pids.str.len() > 200).to_numpy()
    if long.any():
        error[long] = [cache("id", str(pid))[1] for pid in pids[long]]
    weight = np.full(n, np.nan)
    columns: list[tuple[int, list[Any]]] = []
    for name in (f for f in PATIENT_FIELDS if f in rows.columns):
        codes, texts = cell_codes(rows[name])
        verdicts = [(None, None) if t is None else cache(name, t) for t in texts]
        why = np.array([e for _, e in verdicts], dtype=object)
        if any(e is not None for _, e in verdicts):  # most columns hold no bad cell: no pass per row
            _join_errors(error, why[codes])
        attrs = [
            {} if t is None or e is not None else _attributes(name, v)
            for t, (v, e) in zip(texts, verdicts, strict=True)
        ]
        for slot in sorted({k for a in attrs for k in a}, key=PATIENT_SLOTS.index):
            at = PATIENT_SLOTS.index(slot)
            per_code = np.empty(len(attrs), dtype=object)  # filled one by one: values may be tuples
            for i, a in enumerate(attrs):
                per_code[i] = a.get(slot, PATIENT_DEFAULTS[at])
            columns.append((at, per_code[codes].tolist()))
            if slot == "weight_kg":
                weight = np.array([np.nan if x is None else x for x in per_code], dtype=float)[codes]
    weight[pd.notna(error)] = np.nan
    table = pd.DataFrame({"weight": weight, "error": pd.Series(error, dtype=object), "copies": copies})
    table.index = ids
    # The ids' hash table, which every look-up of a partition's patients uses (`usable_rows`), is
    # built here, once: built on first use, each forked audit worker would build its own.
    table.index.get_indexer(table.index[:1])
    return Patients(table, columns)


def _join_errors(error: np.ndarray, more: np.ndarray) -> None:
    """Append `more` (a message or None per row) to each row's error, `; `-separated, in place."""
    has = pd.notna(more)
    first = has & pd.isna(error)
    also = has & ~first
    error[first] = more[first]
    error[also] = error[also] + "; " + more[also]


_DEFAULT_PATIENT = Patient()
PATIENT_SLOTS = tuple(f.name for f in fields(Patient))
PATIENT_DEFAULTS = tuple(getattr(_DEFAULT_PATIENT, k) for k in PATIENT_SLOTS)
_PATIENT_SETTERS = tuple(Patient.__dict__[k].__set__ for k in PATIENT_SLOTS)  # member descriptors
_AT_ID = PATIENT_SLOTS.index("id")


def _make_patient(vals: list[Any]) -> Patient:
    """A Patient from its slot values, as its frozen dataclass __init__ stores them (see `_make`):
    the audit makes one per patient, so the per-slot cost counts."""
    made = _NEW(Patient)
    for put, value in zip(_PATIENT_SETTERS, vals, strict=True):
        put(made, value)
    return made


def _attributes(name: str, value: Any) -> dict[str, Any]:
    """The Patient attributes one validated field value sets, by `PatientSchema._build` itself.

    `_build` maps each field on its own (renames, sex letters, conditions as a tuple), so a row's
    Patient is the union of its fields' attributes."""
    one = PatientSchema._build(_PATIENT, {name: value})
    return {k: getattr(one, k) for k in PATIENT_SLOTS if getattr(one, k) != getattr(_DEFAULT_PATIENT, k)}
