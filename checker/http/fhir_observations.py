"""Prefetched Patient, Observations and Conditions → the patient fields of a regimen, each number in
its unit, and the problem list as `conditions`.

A lab value is read only together with its UCUM unit and converted from it (CrCl in mL/h or mL/s,
eGFR per 1.73 m², QTc in s, weight in [lb_av]); a value without a unit, or in a unit of the wrong
kind, is refused with a reason the CDS service shows as a card. A number is never taken on trust.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from marshmallow import ValidationError

from checker.fields import measure_unit, unit_factor
from checker.http.fhir_dosage import FhirError, codings, number, text
from checker.schemas import MAX_CONDITIONS

LOINC = "http://loinc.org"

# LOINC codes read from prefetch Observations → patient field, and the kind of value.
LOINC_FIELDS: dict[str, tuple[str, str]] = {
    "29463-7": ("weight_kg", "kg"), "3141-9": ("weight_kg", "kg"),
    "2160-0": ("serum_creatinine", "lab"), "14682-9": ("serum_creatinine", "lab"),
    "2164-2": ("crcl_ml_min", "flow"),
    "33914-3": ("egfr", "flow"), "62238-1": ("egfr", "flow"), "98979-8": ("egfr", "flow"),
    "48642-3": ("egfr", "flow"), "48643-1": ("egfr", "flow"),
    "17861-6": ("serum_calcium", "lab"), "2000-8": ("serum_calcium", "lab"),
    "777-3": ("platelets", "lab"), "26515-7": ("platelets", "lab"),
    "751-8": ("anc", "lab"), "718-7": ("hemoglobin", "lab"), "1751-7": ("albumin", "lab"),
    "8636-3": ("qtc_ms", "ms"),
}  # fmt: skip
_COUNT_PER_VOLUME = {"10*3/ul": "10^9/L", "10*9/l": "10^9/L", "10^3/ul": "10^9/L", "k/ul": "10^9/L",
                     "10^9/l": "10^9/L", "/nl": "10^9/L", "10*3/mm3": "10^9/L"}  # fmt: skip
# The unit each patient field is converted to from the Observation's UCUM code (by pint, as the
# fields of the regimen schema convert "154 lb"); "lab" values keep their unit for the lab parser.
_CANONICAL = {"kg": "kg", "ms": "ms", "flow": "mL/min"}


def age_years(birth_date: str, today: date) -> float | None:
    """Completed years; a birthDate of year or year-month only is taken at its middle."""
    m = re.fullmatch(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?", birth_date.strip()[:20])
    if not m:
        return None
    year, month, day = int(m[1]), int(m[2] or 7), int(m[3] or (15 if m[2] else 1))
    try:
        born = date(year, month, day)
    except ValueError:
        return None
    years = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    return float(years) if years >= 0 else None


def observation_value(obs: dict[str, Any], kind: str) -> Any:
    """The value of an Observation in the unit its patient field takes; ValueError saying why not."""
    q = obs.get("valueQuantity")
    if not isinstance(q, dict):
        raise ValueError("no valueQuantity")
    try:
        value = number(q.get("value"), "valueQuantity.value")
    except FhirError as exc:
        raise ValueError(str(exc)) from None
    if value is None:
        raise ValueError("valueQuantity has no value")
    code = (text(q.get("code")) or text(q.get("unit")) or "")[:40]
    if not code:
        raise ValueError(f"the value {value:g} has no unit")
    if kind in _CANONICAL:
        try:
            return value * unit_factor(measure_unit(code), _CANONICAL[kind])
        except ValidationError as exc:
            raise ValueError(" ".join(exc.messages)) from None
    low = code.lower().replace(" ", "")
    return f"{value:g} {_COUNT_PER_VOLUME.get(low, code)}"


def _observation_time(obs: dict[str, Any]) -> str:
    raw = obs.get("effectivePeriod")
    period: dict[str, Any] = raw if isinstance(raw, dict) else {}
    for value in (obs.get("effectiveDateTime"), obs.get("effectiveInstant"), period.get("end"),
                  period.get("start"), obs.get("issued")):  # fmt: skip
        if isinstance(value, str):
            return value
    return ""


def patient_fields(
    resources: list[dict[str, Any]], patient_id: str | None, today: date
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """(patient fields, refused fields with reasons) from prefetched resources; latest value wins."""
    out: dict[str, Any] = {"id": patient_id} if patient_id else {}
    latest: dict[str, tuple[str, Any, str | None]] = {}
    conditions: dict[str, None] = {}  # in the order listed, once each
    for res in resources:
        kind = res.get("resourceType")
        if kind == "Patient":
            birth = res.get("birthDate")
            if isinstance(birth, str) and (age := age_years(birth, today)) is not None:
                out["age_years"] = age
            if res.get("gender") in ("male", "female", "other", "unknown"):
                out["sex"] = res["gender"]
        elif kind == "Observation" and res.get("status") not in ("entered-in-error", "cancelled"):
            for c in codings(res.get("code")):
                if c.get("system") == LOINC and (spec := LOINC_FIELDS.get(str(c.get("code")))):
                    try:
                        value, error = observation_value(res, spec[1]), None
                    except ValueError as exc:
                        value, error = None, f"LOINC {c.get('code')}: {exc}"
                    when = _observation_time(res)
                    if spec[0] not in latest or when > latest[spec[0]][0]:
                        latest[spec[0]] = (when, value, error)
                    break
        elif kind == "Condition" and _current(res) and (name := condition_name(res)):
            conditions.setdefault(name, None)
    refused = {f: [error] for f, (_, _, error) in latest.items() if error}
    out.update({f: value for f, (_, value, error) in latest.items() if not error})
    if conditions:
        out["conditions"] = _within_limit(list(conditions))
    return out, refused


def _within_limit(names: list[str]) -> list[str]:
    """A problem list longer than a regimen takes (MAX_CONDITIONS): the names the vocabulary
    understands first, then others as listed, so a GI bleed on entry 150 of a long list still
    reaches the rules instead of the whole list being refused."""
    if len(names) <= MAX_CONDITIONS:
        return names
    from formulary import load
    from formulary.keys import key

    known = load().conditions
    understood = [n for n in names if key(n) in known]
    return (understood + [n for n in names if key(n) not in known])[:MAX_CONDITIONS]


# A Condition no longer true, or never true, is not the patient's: every other status counts
# (a suspected or unconfirmed diagnosis still deserves its caution).
_PAST = frozenset({"inactive", "resolved", "remission"})
_NOT_SO = frozenset({"refuted", "entered-in-error"})
_SEMANTIC_TAG = re.compile(r"\s*\((?:disorder|finding|situation|morphologic abnormality)\)\s*$", re.I)


def _current(res: dict[str, Any]) -> bool:
    clinical = {str(c.get("code")) for c in codings(res.get("clinicalStatus"))}
    verified = {str(c.get("code")) for c in codings(res.get("verificationStatus"))}
    return not (clinical & _PAST) and not (verified & _NOT_SO)


def condition_name(res: dict[str, Any]) -> str | None:
    """The condition as the problem list names it (`code.text`, else a coding's display, else its
    code): the engine matches it against its vocabulary and reports any name it does not know."""
    concept = res.get("code")
    said = concept.get("text") if isinstance(concept, dict) else None
    for c in codings(concept):
        coded = f"{c.get('system', 'code')} {c['code']}" if c.get("code") else None
        said = said or c.get("display") or coded
    if not isinstance(said, str) or not said.strip():
        return None
    return _SEMANTIC_TAG.sub("", said.strip())[:200]
