"""Lab values with units ("1.6 mg/dL", "141 umol/L", "2.25 mmol/L", "140 10^9/L") to one scale each.

Molar conversions are substance-specific, so each lab names its own factors instead of asking
pint for a molar mass it does not have.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from formulary.units import UnitError, conversion_factor


@dataclass(frozen=True)
class Lab:
    """A lab field: its canonical unit, and per-dimension factors for the other accepted forms."""

    field: str
    unit: str
    molar_factor: float | None = None  # canonical units per mmol/L
    low: float = 0.0
    high: float = float("inf")


# Creatinine: 1 mg/dL = 88.42 umol/L. Calcium: 1 mmol/L = 4.008 mg/dL. Haemoglobin: 1 mmol/L
# (Fe4 monomer basis) = 1.611 g/dL.
LABS = {
    "serum_creatinine": Lab("serum_creatinine", "mg/dL", molar_factor=1000 / 88.42, high=30),
    "serum_calcium": Lab("serum_calcium", "mg/dL", molar_factor=4.008, high=25),
    "albumin": Lab("albumin", "g/dL", high=10),
    "platelets": Lab("platelets", "10^9/L", high=5000),
    "anc": Lab("anc", "10^9/L", high=500),
    "hemoglobin": Lab("hemoglobin", "g/dL", molar_factor=1.611, high=30),
}

_VALUE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(?:x|×|\*)?\s*(.*?)\s*$")


def parse_lab(name: str, value: object) -> float:
    """Return the lab in its canonical unit; a bare number is taken as already canonical."""
    lab = LABS[name]
    if isinstance(value, bool):
        raise ValueError("expected a number or a value with its unit")
    if isinstance(value, int | float):
        number, unit = float(value), ""
    elif isinstance(value, str) and (m := _VALUE.match(value)):
        number, unit = float(m.group(1)), m.group(2)
    else:
        raise ValueError(f"expected a value with its unit, e.g. '1.2 {lab.unit}'")
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
    if not (lab.low <= result <= lab.high):
        raise ValueError(f"{result:g} {lab.unit} is outside the plausible range")
    return result
