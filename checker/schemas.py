"""The regimen's input schema: the one gate every adapter (library, HTTP, CDS Hooks, audit) uses.

It checks types and ranges and names each bad field; meaning (is this a drug, a unit, a
frequency we know?) is the engine's job, reported as findings, never as a rejected request.

Everything a client sends is bounded here (see `checker.fields`): text by the MAX_* lengths below
(a unit by `MAX_UNIT_LENGTH`, a lab string by `MAX_LAB_LENGTH`), the medications and conditions
lists by count, numbers to finite floats (a dose, maximum daily dose and duration above zero).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import orjson
from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate

from checker.errors import InvalidRegimen, flatten_errors, safe_key
from checker.fields import (
    BoundedDate,
    BoundedList,
    Count,
    DoseField,
    FiniteFloat,
    FlagField,
    HepaticField,
    LabField,
    MeasureField,
    SexField,
    Text,
    UnitText,
)
from checker.model import Medication, Patient, Regimen
from formulary.unit_text import MAX_UNIT_LENGTH

__all__ = ["DoseField", "LabField", "MedicationSchema", "PatientSchema", "RegimenSchema",
           "load_patient_fields", "load_regimen"]  # fmt: skip

MAX_MEDICATIONS = 200
MAX_CONDITIONS = 100
# Text limits (characters), generous for what each field holds; the OpenAPI document shows them.
MAX_ID, MAX_DRUG, MAX_SIG, MAX_ROUTE, MAX_FREQUENCY, MAX_CONDITION = 200, 200, 500, 50, 100, 200


class Strict(Schema):
    class Meta:
        unknown = RAISE


class PatientSchema(Strict):
    id = Text(MAX_ID, minimum=0, allow_none=True)
    age_years = MeasureField("year", validate=validate.Range(0, 130), allow_none=True)
    weight_kg = MeasureField("kg", validate=validate.Range(0.2, 500, min_inclusive=True), allow_none=True)
    sex = SexField(allow_none=True)
    crcl_ml_min = MeasureField("mL/min", validate=validate.Range(0, 400), allow_none=True)
    serum_creatinine = LabField("serum_creatinine", allow_none=True)
    egfr = MeasureField("mL/min", validate=validate.Range(0, 400), allow_none=True)
    hepatic_impairment = HepaticField(allow_none=True)
    qtc_ms = MeasureField("ms", validate=validate.Range(200, 900), allow_none=True)
    serum_calcium = LabField("serum_calcium", allow_none=True)
    albumin = LabField("albumin", allow_none=True)
    platelets = LabField("platelets", allow_none=True)
    anc = LabField("anc", allow_none=True)
    hemoglobin = LabField("hemoglobin", allow_none=True)
    opioid_tolerant = FlagField(allow_none=True)
    dental_exam_done = FlagField(allow_none=True)
    pregnant = FlagField(allow_none=True)
    conditions = BoundedList(Text(MAX_CONDITION), MAX_CONDITIONS, load_default=list)

    def _hepatic(self, data: Any, **_: Any) -> Any:
        """`hepatic_impairment` read to none/mild/moderate/severe (the field does this itself; kept
        for callers that read one cell at a time)."""
        if isinstance(data, dict) and data.get("hepatic_impairment") is not None:
            try:
                level = self.fields["hepatic_impairment"].deserialize(data["hepatic_impairment"])
            except ValidationError as exc:
                raise ValidationError(exc.messages, "hepatic_impairment") from None
            data = {**data, "hepatic_impairment": level}
        return data

    @post_load
    def _build(self, d: dict[str, Any], **_: Any) -> Patient:
        return _patient_from(d)


_RENAMED = {
    "serum_creatinine": "serum_creatinine_mg_dl",
    "serum_calcium": "serum_calcium_mg_dl",
    "albumin": "albumin_g_dl",
    "platelets": "platelets_10e9_l",
    "anc": "anc_10e9_l",
    "hemoglobin": "hemoglobin_g_dl",
}


def _patient_from(d: dict[str, Any]) -> Patient:
    """A Patient from validated field values (any subset of them)."""
    kw = {_RENAMED.get(k, k): v for k, v in d.items()}
    kw["conditions"] = tuple(d.get("conditions") or ())
    return Patient(**kw)


# Each distinct (field, value) read once: a batch repeats ages, sexes and conditions across patients.
_FIELDS: dict[tuple[str, type, Any], tuple[bool, Any]] = {}


def load_patient_fields(raw: dict[str, Any]) -> tuple[Patient, dict[str, list[str]]]:
    """The Patient of the fields that can be read, and the errors of those that cannot, by field
    name (the input's own names: "sex", "serum_creatinine"; an unknown name is an error too).

    For the batch audit and FHIR: one unreadable field (a sex of "?") costs that fact alone, not
    every fact of the patient, and is reported for that field."""
    if not isinstance(raw, dict):
        return Patient(), {"patient": ["Expected an object of patient fields."]}
    good: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for name, value in raw.items():
        field = _PATIENT.fields.get(name) if isinstance(name, str) else None
        if field is None:
            errors[safe_key(name)] = ["Unknown field."]
            continue
        key = (name, type(value), tuple(value) if type(value) is list else value)  # True == 1 == 1.0
        try:
            ok, out = _FIELDS[key]
        except (KeyError, TypeError):  # TypeError: a value that cannot be a key (a dict, a nested list)
            try:
                ok, out = True, field.deserialize(value)
            except ValidationError as exc:
                ok, out = False, flatten_errors(exc.messages, name).get(name) or [str(exc.messages)]
            if len(_FIELDS) >= 50_000:  # a batch of ever-new values: start over now and then
                _FIELDS.clear()
            try:
                _FIELDS[key] = (ok, out)
            except TypeError:
                pass
        if ok:
            good[name] = out
        else:
            errors[name] = list(out)
    return _patient_from({k: v for k, v in good.items() if not (k == "conditions" and v is None)}), errors


class MedicationSchema(Strict):
    drug = Text(MAX_DRUG, allow_none=True)
    rxcui = Text(10, validate=validate.Regexp(r"^[0-9]{1,10}$"), allow_none=True)
    atc = Text(7, validate=validate.Regexp(r"^[A-Za-z][0-9]{2}[A-Za-z]{0,2}[0-9]{0,2}$"), allow_none=True)
    dose = DoseField(allow_none=True)
    unit = UnitText(MAX_UNIT_LENGTH, allow_none=True)
    route = Text(MAX_ROUTE, allow_none=True)
    frequency = Text(MAX_FREQUENCY, allow_none=True)
    prn = FlagField(allow_none=True)
    max_daily_dose = FiniteFloat(validate=validate.Range(0, min_inclusive=False), allow_none=True)
    max_daily_unit = UnitText(MAX_UNIT_LENGTH, allow_none=True)
    duration_days = FiniteFloat(validate=validate.Range(0, 36500, min_inclusive=False), allow_none=True)
    dose_number = Count(validate=validate.Range(1, 10000), allow_none=True)
    start_date = BoundedDate(allow_none=True)
    sig = Text(MAX_SIG, minimum=0, allow_none=True)

    @post_load
    def _check(self, d: dict[str, Any], **_: Any) -> dict[str, Any]:
        if not (d.get("drug") or d.get("rxcui") or d.get("atc")):
            raise ValidationError("Give the drug by name, rxcui or atc.", "drug")
        return d


class RegimenSchema(Strict):
    """The regimen. `load` first tries the per-distinct-medication cache (see `_fast`)."""

    patient = fields.Nested(PatientSchema, load_default=lambda: Patient())
    medications = BoundedList(fields.Nested(MedicationSchema), MAX_MEDICATIONS, required=True)

    def load(self, data: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(data, dict) and not args and not kwargs:
            try:
                return _fast(data)
            except (ValidationError, TypeError, KeyError):
                pass  # the full schema below reports every error with its path
        return super().load(data, *args, **kwargs)

    @post_load
    def _build(self, d: dict[str, Any], **_: Any) -> Regimen:
        meds = []
        for i, m in enumerate(d["medications"]):
            low, high = m.pop("dose", None) or (None, None)
            start = m.pop("start_date", None)
            meds.append(
                Medication(
                    index=i, dose=high, dose_low=low, start_date=start.isoformat() if start else None, **m
                )
            )
        patient = d.get("patient")
        return Regimen(
            patient=patient if isinstance(patient, Patient) else Patient(), medications=tuple(meds)
        )


_SCHEMA = RegimenSchema()
_MEDICATION = MedicationSchema()
_PATIENT = PatientSchema()


def _freeze(value: Any) -> Any:
    """A hashable twin of a JSON value, or TypeError for anything else (then no caching)."""
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("__list__", *(_freeze(v) for v in value))
    hash(value)
    return (type(value).__name__, value)


def _key(value: Any) -> Any:
    """The cache key of a JSON value: its canonical JSON bytes (keys sorted, 1 and 1.0 and true
    kept apart), made in C. NaN and the infinities become `null` in JSON, so a key holding a null
    is rebuilt as the typed tuple of `_freeze` instead, which keeps them apart from a real null."""
    key = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    return key if b"null" not in key else _freeze(value)


def _thaw(value: Any) -> Any:
    if isinstance(value, bytes):
        return orjson.loads(value)
    if isinstance(value, tuple) and value and value[0] == "__list__":
        return [_thaw(v) for v in value[1:]]
    if isinstance(value, tuple) and (not value or isinstance(value[0], tuple)):
        return {k: _thaw(v) for k, v in value}
    return value[1]


@lru_cache(maxsize=8192)
def _medication(frozen: Any) -> dict[str, Any]:
    return _MEDICATION.load(_thaw(frozen))


@lru_cache(maxsize=1024)
def _patient(frozen: Any) -> Patient:
    """Field by field, each distinct value read once (`load_patient_fields`): patients differ in
    a field or two. Any error falls back to the full schema, which reports it with its path."""
    patient, errors = load_patient_fields(_thaw(frozen))
    if errors:
        raise ValidationError(errors)
    return patient


def _fast(data: dict[str, Any]) -> Regimen:
    """Validate each medication and the patient once per distinct content (order entry re-sends
    the same orders on every change); any doubt falls back to the full schema."""
    if not set(data) <= {"patient", "medications"}:
        raise ValidationError("unknown top-level field")
    meds, patient = data["medications"], data.get("patient")
    if not isinstance(meds, list) or len(meds) > MAX_MEDICATIONS:
        raise ValidationError("medications")
    if patient is not None and not isinstance(patient, dict):
        raise ValidationError("patient")
    loaded = [dict(_medication(_key(m))) if isinstance(m, dict) else None for m in meds]
    if any(m is None for m in loaded):
        raise ValidationError("medication")
    return _SCHEMA._build({"medications": loaded, "patient": _patient(_key(patient or {}))})


def load_regimen(data: Any) -> Regimen:
    """Validate a JSON-like regimen; raise InvalidRegimen with dotted field paths."""
    if not isinstance(data, dict):
        raise InvalidRegimen({"regimen": ["Expected a JSON object with 'medications'."]})
    try:
        return _SCHEMA.load(data)
    except ValidationError as exc:
        raise InvalidRegimen(flatten_errors(exc.messages)) from None
