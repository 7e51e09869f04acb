"""Lab values with units ("1.6 mg/dL", "141 umol/L", "2.25 mmol/L", "140 10^9/L") to one scale each.

Molar conversions are substance-specific, so each lab names its own factors instead of asking
pint for a molar mass it does not have.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from formulary.units import UnitError, conversion_factor


@dataclass(frozen=True)
class Lab:
    """A lab field: its canonical unit, and per-dimension factors for the other accepted forms."""

    field: str
    unit: str
    molar_factor: float | None = None  # canonical units per mmol/L
    low: float = 0.0
    high: float = float("inf")
    bare_min: float = 0.0  # a number without a unit below this could be SI: refused, not guessed
    si_unit: str | None = None  # where a bare number too large for `unit` probably is (said in the error)


# Creatinine: 1 mg/dL = 88.42 umol/L. Calcium: 1 mmol/L = 4.008 mg/dL. Haemoglobin: 1 mmol/L
# (Fe4 monomer basis) = 1.611 g/dL.
# The lower bounds refuse values no living patient has: a serum creatinine of 0 estimated a CrCl of
# about 580 mL/min (Cockcroft-Gault), and every renal band passed in silence.
LABS = {
    "serum_creatinine": Lab("serum_creatinine", "mg/dL", molar_factor=1000 / 88.42, low=0.1, high=30,
                            si_unit="umol/L"),
    # A bare 2.3 is a normal calcium in mmol/L and a lethal one in mg/dL: read as mg/dL it raised a
    # false "hypocalcaemia, contraindicated" and hid hypercalcaemia (3.2 mmol/L read as 3.2 mg/dL).
    # Below 5 (20 mg/dL in mmol/L, 5 mg/dL critical) a number without its unit is refused.
    "serum_calcium": Lab("serum_calcium", "mg/dL", molar_factor=4.008, low=1.0, high=25, bare_min=5.0),
    "albumin": Lab("albumin", "g/dL", low=0.5, high=10, si_unit="g/L"),
    "platelets": Lab("platelets", "10^9/L", high=5000),
    "anc": Lab("anc", "10^9/L", high=500),
    "hemoglobin": Lab("hemoglobin", "g/dL", molar_factor=1.611, low=1.0, high=30, si_unit="g/L"),
}

MAX_LAB_LENGTH = 64  # "2.25 mmol/L", "140 x 10^9/L": a lab string is short; longer is refused unread


@lru_cache(maxsize=4096)
def split_value(text: str) -> tuple[float, str] | None:
    """("141", "umol/L") from "141 umol/L", by walking the text once: no backtracking regex (a
    lab string padded with 40,000 spaces took 19 s through the old pattern). Cached per distinct
    text: patients differ, their lab spellings repeat."""
    s = text.strip()
    i = 0
    while i < len(s) and (s[i].isascii() and s[i].isdigit() or s[i] == "."):
        i += 1
    number = s[:i]
    if not number or number.count(".") > 1 or number == ".":
        return None
    rest = s[i:].lstrip()
    if rest[:1] in ("x", "X", "×", "*") and rest[1:].lstrip()[:1].isdigit():
        rest = rest[1:].lstrip()  # "140 x 10^9/L": the multiplication sign before the scale
    return float(number), rest


def parse_lab(name: str, value: object) -> float:
    """Return the lab in its canonical unit; a bare number is taken as already canonical."""
    lab = LABS[name]
    if isinstance(value, bool):
        raise ValueError("expected a number or a value with its unit")
    if isinstance(value, int | float):
        try:
            number, unit = float(value), ""
        except OverflowError:
            raise ValueError("the number is too large") from None
    elif isinstance(value, str) and len(value) <= MAX_LAB_LENGTH and (parts := split_value(value)):
        number, unit = parts
    else:
        raise ValueError(f"expected a value with its unit, e.g. '1.2 {lab.unit}'")
    if not math.isfinite(number):
        raise ValueError("the number is not finite")
    if not unit and number < lab.bare_min:
        raise ValueError(
            f"{number:g} has no unit and could be mmol/L or {lab.unit}: give it, e.g. '{number:g} mmol/L'"
        )
    if not unit:
        result = number
    else:
        try:
            result = number * conversion_factor(unit, lab.unit)
        except UnitError:
            if lab.molar_factor is None:
                raise ValueError(f"unit {unit!r} is not a {lab.unit} unit") from None
            try:
                result = number * conversion_factor(unit, "mmol/L") * lab.molar_factor
            except UnitError:
                raise ValueError(f"unit {unit!r} cannot be read as {lab.unit} or mmol/L") from None
    if not (math.isfinite(result) and lab.low <= result <= lab.high):
        if not unit and lab.si_unit and _plausible(name, f"{number:g} {lab.si_unit}"):
            # a bare 124 is no creatinine in mg/dL, and a usual one in umol/L: say so, do not guess
            said = f"{number:g} {lab.si_unit}"
            raise ValueError(f"{number:g} has no unit and is not plausible in {lab.unit}; send it with "
                             f"its unit (for example '{said}')")  # fmt: skip
        raise ValueError(f"{result:g} {lab.unit} is outside the plausible range")
    return result


def _plausible(name: str, text: str) -> bool:
    try:
        parse_lab(name, text)
    except ValueError:
        return False
    return True
