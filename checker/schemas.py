"""The regimen's input schema: the one gate every adapter (library, HTTP, CDS Hooks, audit) uses.

It checks types and ranges and names each bad field; meaning (is this a drug, a unit, a
frequency we know?) is the engine's job, reported as findings, never as a rejected request.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Any

import orjson
from marshmallow import RAISE, Schema, ValidationError, fields, post_load, pre_load, validate

from checker.errors import InvalidRegimen, flatten_errors
from checker.labs import parse_lab
from checker.model import Medication, Patient, Regimen

MAX_MEDICATIONS = 200
HEPATIC = {
    "none": "none",
    "mild": "mild",
    "moderate": "moderate",
    "severe": "severe",
    "child-pugh a": "mild",
    "child-pugh b": "moderate",
    "child-pugh c": "severe",
    "child pugh a": "mild",
    "child pugh b": "moderate",
    "child pugh c": "severe",
    "a": "mild",
    "b": "moderate",
    "c": "severe",
}
_RANGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:-|–|—|to)\s*(\d+(?:\.\d+)?)\s*$")


class Strict(Schema):
    class Meta:
        unknown = RAISE


class FiniteFloat(fields.Float):
    """A float that refuses NaN/inf and booleans (JSON true is not a dose)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> float:
        if isinstance(value, bool):
            raise ValidationError("Not a valid number.")
        out = super()._deserialize(value, attr, data, **kwargs)
        if out is None or not math.isfinite(out):
            raise ValidationError("Not a finite number.")
        return out


class DoseField(fields.Field):
    """A dose: a number, or a range string "5-15" whose top is checked."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> tuple[float | None, float]:  # noqa: E501
        if isinstance(value, bool):
            raise ValidationError("Dose must be a number or a range like '5-15'.")
        if isinstance(value, int | float):
            low, high = None, float(value)
        elif isinstance(value, str) and (m := _RANGE.match(value)):
            low, high = float(m.group(1)), float(m.group(2))
            if low > high:
                raise ValidationError("Range must be low-high, e.g. '5-15'.")
        elif isinstance(value, str):
            try:
                low, high = None, float(value.strip())
            except ValueError:
                raise ValidationError("Dose must be a number or a range like '5-15'.") from None
        else:
            raise ValidationError("Dose must be a number or a range like '5-15'.")
        if not math.isfinite(high) or high <= 0 or (low is not None and low < 0):
            raise ValidationError("Dose must be a positive finite number.")
        return low, high


class LabField(fields.Field):
    """A lab with its unit ("141 umol/L"), normalised to the lab's canonical unit."""

    def __init__(self, lab: str, **kwargs: Any):
        self.lab = lab
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> float:
        try:
            return parse_lab(self.lab, value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None


def _text(maximum: int = 200, **kw: Any) -> fields.String:
    return fields.String(validate=validate.Length(min=1, max=maximum), **kw)


class PatientSchema(Strict):
    id = fields.String(validate=validate.Length(max=200), allow_none=True)
    age_years = FiniteFloat(validate=validate.Range(0, 130), allow_none=True)
    weight_kg = FiniteFloat(validate=validate.Range(0.2, 500, min_inclusive=True), allow_none=True)
    sex = fields.String(
        validate=validate.OneOf(["male", "female", "m", "f", "other", "unknown"]), allow_none=True
    )
    crcl_ml_min = FiniteFloat(validate=validate.Range(0, 400), allow_none=True)
    serum_creatinine = LabField("serum_creatinine", allow_none=True)
    egfr = FiniteFloat(validate=validate.Range(0, 400), allow_none=True)
    hepatic_impairment = fields.String(allow_none=True)
    qtc_ms = FiniteFloat(validate=validate.Range(200, 900), allow_none=True)
    serum_calcium = LabField("serum_calcium", allow_none=True)
    albumin = LabField("albumin", allow_none=True)
    platelets = LabField("platelets", allow_none=True)
    anc = LabField("anc", allow_none=True)
    hemoglobin = LabField("hemoglobin", allow_none=True)
    opioid_tolerant = fields.Boolean(allow_none=True)
    dental_exam_done = fields.Boolean(allow_none=True)
    pregnant = fields.Boolean(allow_none=True)
    conditions = fields.List(_text(), validate=validate.Length(max=100), load_default=list)

    @pre_load
    def _hepatic(self, data: Any, **_: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("hepatic_impairment"), str):
            level = HEPATIC.get(data["hepatic_impairment"].strip().lower())
            if level is None:
                raise ValidationError(
                    "Must be none, mild, moderate, severe or Child-Pugh A/B/C.", "hepatic_impairment"
                )
            data = {**data, "hepatic_impairment": level}
        return data

    @post_load
    def _build(self, d: dict[str, Any], **_: Any) -> Patient:
        sex = {"m": "male", "f": "female"}.get(d.get("sex") or "", d.get("sex"))
        renamed = {
            "serum_creatinine": "serum_creatinine_mg_dl",
            "serum_calcium": "serum_calcium_mg_dl",
            "albumin": "albumin_g_dl",
            "platelets": "platelets_10e9_l",
            "anc": "anc_10e9_l",
            "hemoglobin": "hemoglobin_g_dl",
        }
        kw = {renamed.get(k, k): v for k, v in d.items()}
        kw["sex"] = sex
        kw["conditions"] = tuple(d.get("conditions") or ())
        return Patient(**kw)


class MedicationSchema(Strict):
    drug = _text(allow_none=True)
    rxcui = fields.String(validate=validate.Regexp(r"^\d{1,10}$"), allow_none=True)
    atc = fields.String(validate=validate.Regexp(r"^[A-Za-z]\d\d[A-Za-z]{0,2}\d{0,2}$"), allow_none=True)
    dose = DoseField(allow_none=True)
    unit = _text(50, allow_none=True)
    route = _text(50, allow_none=True)
    frequency = _text(100, allow_none=True)
    prn = fields.Boolean(allow_none=True)
    max_daily_dose = FiniteFloat(validate=validate.Range(0, min_inclusive=False), allow_none=True)
    max_daily_unit = _text(50, allow_none=True)
    duration_days = FiniteFloat(validate=validate.Range(0, 36500), allow_none=True)
    dose_number = fields.Integer(validate=validate.Range(1, 10000), allow_none=True, strict=True)
    start_date = fields.Date(allow_none=True)
    sig = fields.String(validate=validate.Length(max=500), allow_none=True)

    @post_load
    def _check(self, d: dict[str, Any], **_: Any) -> dict[str, Any]:
        if not (d.get("drug") or d.get("rxcui") or d.get("atc")):
            raise ValidationError("Give the drug by name, rxcui or atc.", "drug")
        return d


class RegimenSchema(Strict):
    """The regimen. `load` first tries the per-distinct-medication cache (see `_fast`)."""

    patient = fields.Nested(PatientSchema, load_default=lambda: Patient())
    medications = fields.List(
        fields.Nested(MedicationSchema), required=True, validate=validate.Length(max=MAX_MEDICATIONS)
    )

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
    return _PATIENT.load(_thaw(frozen))


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
