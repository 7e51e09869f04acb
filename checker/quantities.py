"""Formatting numbers with units for messages and evidence ("8 g/day", "55 kBq/kg")."""

from __future__ import annotations

import re

_UP = {"mg": (1000.0, "g"), "ug": (1000.0, "mg"), "kBq": (1000.0, "MBq"), "MBq": (1000.0, "GBq")}


def num(value: float) -> str:
    """Up to three decimals, no trailing zeros: 4.0 → '4', 3.333333 → '3.333'; from 1000 whole
    numbers (50,000 IU a week is '7143 IU/day', not '7142.857')."""
    if abs(value) >= 1000:
        return f"{value:.0f}"
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def qty(value: float, unit: str, per: str = "") -> str:
    """Render a quantity, moving to the next unit up for round large numbers (4000 mg → 4 g)."""
    while unit in _UP and abs(value) >= _UP[unit][0]:
        factor, bigger = _UP[unit]
        value, unit = value / factor, bigger
    unit = unit.replace("ug", "µg") if unit.startswith("ug") else unit
    return f"{num(value)} {unit}{per}"


_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_DECIMAL_COMMA = re.compile(r"(?<![\d.,])(\d{1,6}),(\d{1,2})(?![\d,])")


def decimal_commas(text: str) -> str:
    """Commas in numbers as people write them: three digits after are thousands ("1,000 mg"), one
    or two are decimals ("0,5 mg", "2,5" as European systems and semicolon-separated files write
    them; read as "5" they were ten times the dose)."""
    return _DECIMAL_COMMA.sub(r"\1.\2", _THOUSANDS.sub("", text))
