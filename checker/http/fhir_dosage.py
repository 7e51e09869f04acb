"""FHIR R4 Dosage → the dose, unit, frequency, PRN, cap and duration fields of a regimen medication.

Every number is read strictly: a value that is not a finite JSON number in a sane range (NaN,
1e308, 10^400, a string) raises `FhirError` naming the field, so the order becomes an "unchecked"
card instead of a silently wrong interval. Several `dosageInstruction`s are combined the way a
pharmacist reads them: instructions with the same `sequence` (or none) run at the same time and
are summed (1 g in the morning + 500 mg at night = 1.5 g/day, two doses a day); different
sequences are steps (a titration, an escalation) and the heaviest step is what is checked.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from checker.frequency import parse_frequency
from formulary.units import UnitError, conversion_factor

# Hours in one FHIR units-of-time unit (mo = 30 d and a = 365 d, as the CDC MME CQL counts).
PERIOD_HOURS = {"s": 1 / 3600, "min": 1 / 60, "h": 1.0, "d": 24.0, "wk": 168.0, "mo": 720.0, "a": 8760.0}
_DURATION_UNITS = {"s": "s", "sec": "s", "min": "min", "h": "h", "hr": "h", "hour": "h", "hours": "h",
                   "d": "d", "day": "d", "days": "d", "wk": "wk", "week": "wk", "weeks": "wk",
                   "mo": "mo", "month": "mo", "months": "mo", "a": "a", "year": "a",
                   "years": "a"}  # fmt: skip
# RxNorm strength units → our units. MG/HR strengths become ug/h, the unit patches are written in.
STRENGTH_UNITS = {"MG": ("mg", 1.0), "MCG": ("ug", 1.0), "UG": ("ug", 1.0), "G": ("g", 1.0),
                  "UNT": ("IU", 1.0), "IU": ("IU", 1.0), "MEQ": ("mEq", 1.0), "MMOL": ("mmol", 1.0),
                  "KBQ": ("kBq", 1.0), "MBQ": ("MBq", 1.0), "MCI": ("mCi", 1.0),
                  "MG/HR": ("ug/h", 1000.0), "MCG/HR": ("ug/h", 1.0), "MG/ACTUAT": ("mg", 1.0),
                  "MCG/ACTUAT": ("ug", 1.0), "UNT/ACTUAT": ("IU", 1.0)}  # fmt: skip
PER_ML: dict[str, tuple[str, float]] = {
    "MG/ML": ("mg", 1.0), "MCG/ML": ("ug", 1.0), "UNT/ML": ("IU", 1.0), "MEQ/ML": ("mEq", 1.0),
    "KBQ/ML": ("kBq", 1.0), "MBQ/ML": ("MBq", 1.0),
}  # fmt: skip
_COUNT_WORDS = {"tablet", "tablets", "tab", "tabs", "tbl", "capsule", "capsules", "cap", "caps",
                "patch", "patches", "each", "ea", "unit_dose", "dose", "doses", "actuat",
                "actuation", "actuations", "puff", "puffs", "spray", "sprays", "drop", "drops",
                "drp", "lozenge", "film", "suppository", "applicator", "1", ""}  # fmt: skip
_UNIT_WORDS = {"[iu]": "IU", "[iu]/kg": "IU/kg", "[iu]/d": "IU/d", "mcg": "ug", "ml": "mL",
               "[drp]": "drop", "ug/h": "ug/h", "ug/hr": "ug/h", "mcg/h": "ug/h",
               "mcg/hr": "ug/h"}  # fmt: skip
# FHIR EventTiming (`timing.repeat.when`): a meal without saying which is each of three meals.
_EVERY_MEAL = {"C", "AC", "PC"}
_LIMIT = 1e9  # no dose, period or count a prescriber writes comes near this


class FhirError(ValueError):
    """A resource the mapping cannot read; the message is shown to the clinician."""


@dataclass(frozen=True, slots=True)
class Ingredient:
    name: str
    value: float
    unit: str  # RxNorm strength unit, upper case: MG, MG/HR, MG/ML ...


def text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def number(value: Any, where: str, positive: bool = False) -> float | None:
    """A JSON number as a float; None when absent; FhirError naming the field when unusable."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FhirError(f"{where} is not a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise FhirError(f"{where} is not a usable number ({value})")
    if abs(value) > _LIMIT:
        raise FhirError(f"{where} is out of range")
    if positive and value <= 0:
        raise FhirError(f"{where} must be above 0")
    return float(value)


def obj(value: Any, where: str) -> dict[str, Any]:
    """An optional JSON object: {} when absent, FhirError when it is another JSON type."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise FhirError(f"{where} must be a JSON object")
    return value


def array(value: Any, where: str) -> list[dict[str, Any]]:
    """An optional JSON array of objects: [] when absent, FhirError for any other shape."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise FhirError(f"{where} must be a JSON array of objects")
    return value


def codings(concept: Any) -> list[dict[str, Any]]:
    if not isinstance(concept, dict) or not isinstance(concept.get("coding"), list):
        return []
    return [c for c in concept["coding"] if isinstance(c, dict)]


def ucum_unit(quantity: dict[str, Any]) -> tuple[str, bool]:
    """(unit for the checker, is a count) of a FHIR Quantity; UCUM code first, then its unit text.

    UCUM quirks handled: `[iU]`/`[IU]` are IU, `{…}` annotations are counts (`{patch}`, `{tbl}`),
    `mcg` is not UCUM but is what people send for micrograms.
    """
    code = (text(quantity.get("code")) or text(quantity.get("unit")) or "")[:100]
    low = code.lower()
    if low in _UNIT_WORDS:
        return _UNIT_WORDS[low], False
    stripped = re.sub(r"\{[^{}]*\}", "", code).strip()
    if stripped in ("", "1") or re.sub(r"\(s\)$", "", low) in _COUNT_WORDS:
        return "tablet", True
    return re.sub(r"\[i?u\]", "IU", stripped, flags=re.IGNORECASE), False


def hours(value: Any, unit: Any, where: str) -> float | None:
    """A span of time in hours; a number with no unit of time is refused, never assumed to be days."""
    v = number(value, where, positive=True)
    if v is None:
        return None
    u = _DURATION_UNITS.get(unit.lower()) if isinstance(unit, str) else None
    if u is None:
        raise FhirError(f"{where}: {str(unit)[:20]!r} is not a unit of time")
    return v * PERIOD_HOURS[u]


def dose(dosage: dict[str, Any], where: str) -> tuple[float | None, float | None, dict[str, Any] | None]:
    """(low, high, quantity carrying the unit) from the ordered doseAndRate, else the first."""
    rates = array(dosage.get("doseAndRate"), f"{where}.doseAndRate")
    if not rates:
        return None, None, None
    ordered = [
        d for d in rates if not d.get("type") or any(c.get("code") == "ordered" for c in codings(d["type"]))
    ]
    chosen = (ordered or rates)[0]
    at = f"{where}.doseAndRate[{rates.index(chosen)}]"
    if q := obj(chosen.get("doseQuantity"), f"{at}.doseQuantity"):
        return None, number(q.get("value"), f"{at}.doseQuantity.value", positive=True), q
    if r := obj(chosen.get("doseRange"), f"{at}.doseRange"):
        high, low = obj(r.get("high"), f"{at}.doseRange.high"), obj(r.get("low"), f"{at}.doseRange.low")
        hi = number(high.get("value"), f"{at}.doseRange.high.value", positive=True)
        lo = number(low.get("value"), f"{at}.doseRange.low.value", positive=True)
        if hi is not None:
            same = lo is not None and ucum_unit(low) == ucum_unit(high) and lo <= hi
            return (lo if same else None), hi, high
        if lo is not None:
            return None, lo, low
    if q := obj(chosen.get("rateQuantity"), f"{at}.rateQuantity"):
        return None, number(q.get("value"), f"{at}.rateQuantity.value", positive=True), q
    return None, None, None


def strength_amount(value: float, ing: Ingredient) -> tuple[float, str] | None:
    """A count of units (tablets, patches, actuations) times the strength of one."""
    if ing.unit in STRENGTH_UNITS:
        unit, factor = STRENGTH_UNITS[ing.unit]
        return value * ing.value * factor, unit
    return None


def frequency_text(interval_h: float, period_unit: str = "h") -> str:
    """An interval in words the engine's frequency parser reads ("q6h", "q72h", "every 4 weeks").

    Written in the order's own period unit where it divides evenly, so a 72-hour patch reads
    "q72h" and a 4-weekly infusion "every 4 weeks".
    """

    def whole(x: float) -> bool:
        return abs(x - round(x)) < 1e-9

    coarse = ((168.0, "weeks"), (24.0, "days")) if period_unit in ("wk", "mo", "a") else ((24.0, "days"),)
    for span, name in coarse if period_unit not in ("h", "min", "s") else ():
        if interval_h >= span and whole(interval_h / span):
            n = round(interval_h / span)
            return f"every {n} {name}" if n > 1 else {"weeks": "weekly", "days": "daily"}[name]
    if interval_h >= 1 and whole(interval_h):
        return f"q{round(interval_h)}h"
    if whole(interval_h * 60) and interval_h * 60 >= 1:
        return f"every {round(interval_h * 60)} min"
    return f"every {interval_h:.4g} h"


def _when_count(rep: dict[str, Any]) -> int:
    when = rep.get("when")
    if not isinstance(when, list):
        return 0
    return sum(3 if w in _EVERY_MEAL else 1 for w in when if isinstance(w, str))


def _code_frequency(code: Any) -> str | None:
    """timing.code as a CodeableConcept (its code, then its text) or, sent as a bare string, itself."""
    if isinstance(code, str):
        return text(code[:100])
    for c in codings(code):
        if word := text(c.get("code")):
            return word[:100]
    said = text(code.get("text")) if isinstance(code, dict) else None
    return said[:100] if said else None


def timing(dosage: dict[str, Any], where: str = "dosageInstruction[0]") -> dict[str, Any]:
    """frequency / duration_days from Timing. The shortest interval the order allows is kept."""
    t = obj(dosage.get("timing"), f"{where}.timing")
    rep = obj(t.get("repeat"), f"{where}.timing.repeat")
    at = f"{where}.timing.repeat"
    out: dict[str, Any] = {}
    freq = number(rep.get("frequencyMax"), f"{at}.frequencyMax", positive=True) or number(
        rep.get("frequency"), f"{at}.frequency", positive=True
    )
    if freq is None and isinstance(rep.get("timeOfDay"), list) and rep["timeOfDay"]:
        freq = float(len(rep["timeOfDay"]))
    if (meals := _when_count(rep)) and not rep.get("period"):
        freq = max(freq or 0.0, float(meals))
    period_h = hours(rep.get("period"), rep.get("periodUnit"), f"{at}.period")
    number(rep.get("periodMax"), f"{at}.periodMax", positive=True)  # validated; the shorter period wins
    count = number(rep.get("count"), f"{at}.count", positive=True)
    interval = None
    if freq:
        interval = (period_h if period_h else 24.0) / freq
        out["frequency"] = frequency_text(interval, str(rep.get("periodUnit") or "d"))
    elif count == 1:
        out["frequency"] = "once"
    elif word := _code_frequency(t.get("code")):
        out["frequency"] = word.lower()
    b = obj(rep.get("boundsDuration"), f"{at}.boundsDuration")
    if b:
        span = hours(b.get("value"), b.get("code") or b.get("unit"), f"{at}.boundsDuration")
        if span:
            out["duration_days"] = span / 24.0
    elif count and count > 1 and interval:
        out["duration_days"] = count * interval / 24.0
    return out


def prn(dosage: dict[str, Any]) -> bool | None:
    if isinstance(dosage.get("asNeededBoolean"), bool):
        return dosage["asNeededBoolean"]
    if isinstance(dosage.get("asNeededCodeableConcept"), dict):
        return True
    return None


def max_daily(dosage: dict[str, Any], strength: Ingredient | None, where: str) -> dict[str, Any]:
    """maxDosePerPeriod (a Ratio in R4, a list of them in R5) as a daily cap in the dose's unit."""
    ratios = dosage.get("maxDosePerPeriod")
    ratio = ratios[0] if isinstance(ratios, list) and ratios else ratios
    at = f"{where}.maxDosePerPeriod"
    ratio = obj(ratio, at)
    num = obj(ratio.get("numerator"), f"{at}.numerator")
    den = obj(ratio.get("denominator"), f"{at}.denominator")
    if not (num and den):
        return {}
    value = number(num.get("value"), f"{at}.numerator.value", positive=True)
    span = hours(den.get("value"), den.get("code") or den.get("unit"), f"{at}.denominator")
    if not value or not span:
        return {}
    unit, count = ucum_unit(num)
    if count and strength and (amt := strength_amount(value, strength)):
        value, unit = amt
    # A count with no strength from the coding ("8 tablets" of "Norco 5/325" named in text) is
    # passed on as tablets: the checker reads it against the product it resolves, or says why not.
    return {"max_daily_dose": value * 24.0 / span, "max_daily_unit": unit}


# --- several dosageInstructions ------------------------------------------------------------------


def _top(dose_value: Any) -> float:
    return float(str(dose_value).rsplit("-", 1)[-1]) if isinstance(dose_value, str) else float(dose_value)


def combine(steps: list[tuple[int | None, dict[str, Any]]], where: str) -> dict[str, Any]:
    """One medication from the per-instruction medications of one ingredient, keyed by `sequence`.

    Same sequence: concurrent, summed. Different sequences: steps, the heaviest checked. The
    result carries the largest single dose, the most frequent combined schedule, and the exact
    daily total as the order's cap (so dose x doses a day cannot overstate it).
    """
    meds = [m for _, m in steps]
    if all("dose" not in m for m in meds) and all(m.get("sig") for m in meds):
        groups: dict[int | None, list[str]] = {}
        for seq, m in steps:
            groups.setdefault(seq, []).append(m["sig"])
        first = {k: v for k, v in meds[0].items() if k not in ("sig", "frequency")}
        return {**first, "sig": " then ".join(" and ".join(g) for g in groups.values())[:500]}
    if any("dose" not in m or "unit" not in m for m in meds):
        raise FhirError(f"{where}: one of several instructions gives no dose the others can be added to")
    unit = meds[0]["unit"]
    by_seq: dict[int | None, list[tuple[float, float, float | None]]] = {}
    for seq, m in steps:
        try:
            amount = _top(m["dose"]) * (1.0 if m["unit"] == unit else conversion_factor(m["unit"], unit))
        except (UnitError, ValueError):
            raise FhirError(f"{where}: doses in {unit} and {m['unit']} cannot be added") from None
        freq = parse_frequency(m["frequency"]) if m.get("frequency") else None
        if m.get("frequency") and freq is None:
            raise FhirError(f"{where}: timing {m['frequency']!r} is not understood")
        per_day = freq.doses_per_day if freq else 1.0
        cap = m.get("max_daily_dose") if m.get("max_daily_unit") == unit else None
        by_seq.setdefault(seq, []).append((amount, per_day, cap))
    single = max(a for g in by_seq.values() for a, _, _ in g)
    per_day = max(sum(n for _, n, _ in g) for g in by_seq.values())
    daily = max(sum(min(a * n, c) if c else a * n for a, n, c in g) for g in by_seq.values())
    dropped = ("dose", "frequency", "duration_days", "max_daily_dose", "max_daily_unit", "prn")
    out = {k: v for k, v in meds[0].items() if k not in dropped}
    out.update(dose=single, unit=unit, frequency=frequency_text(24.0 / per_day), max_daily_dose=daily,
               max_daily_unit=unit)  # fmt: skip
    if all(m.get("prn") for m in meds):
        out["prn"] = True
    if all("duration_days" in m for m in meds) and len(by_seq) == len(steps):
        out["duration_days"] = sum(m["duration_days"] for m in meds)
    elif (known := [m["duration_days"] for m in meds if "duration_days" in m]) and len(by_seq) == 1:
        out["duration_days"] = max(known)
    return out
