"""Knowledge written for people: a limit's patient band ("when") in words, not as a dict.

The catalogue's summaries end in "(when {'crcl_min': 50.0, 'crcl_max': 60.0})", which suits a
program; the pages say "CrCl ≥ 50 and ≤ 60 mL/min". Bounds keep their exact sense: `_min`/`_max`
inclusive, `_over`/`_below` exclusive (formulary.model.When).
"""

from __future__ import annotations

import ast
import re
from typing import Any

_MEASURES = {
    "age": ("age", "years"),
    "weight": ("weight", "kg"),
    "crcl": ("CrCl", "mL/min"),
    "qtc": ("QTc", "ms"),
    "calcium": ("calcium", "mg/dL"),
    "platelets": ("platelets", "×10⁹/L"),
    "anc": ("ANC", "×10⁹/L"),
    "hemoglobin": ("hemoglobin", "g/dL"),
}
_SIGNS = {"min": "≥", "max": "≤", "over": ">", "below": "<"}
_ORDER = ("min", "over", "max", "below")  # lower bound first: "≥ 30 and < 60"
_WHEN = re.compile(r"\s*\(when (\{.*\})\)\s*$")


def _num(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def describe_when(when: dict[str, Any]) -> str:
    bands: dict[str, list[tuple[int, str]]] = {}
    words: list[str] = []
    for k, v in when.items():
        base, _, bound = k.removesuffix("_kg").rpartition("_")
        if base in _MEASURES and bound in _SIGNS:
            bands.setdefault(base, []).append((_ORDER.index(bound), f"{_SIGNS[bound]} {_num(v)}"))
        elif k == "hepatic":
            words.append("hepatic impairment " + " or ".join(v))
        elif k == "conditions":
            words.append(" or ".join(str(c).replace("_", " ") for c in v))
        elif k == "opioid_tolerant":
            words.append("opioid tolerant" if v else "not opioid tolerant")
        elif k == "pregnant":
            words.append("pregnant" if v else "not pregnant")
        else:
            words.append(f"{k.replace('_', ' ')} {v}")
    phrases = [
        f"{_MEASURES[b][0]} {' and '.join(text for _, text in sorted(parts))} {_MEASURES[b][1]}"
        for b, parts in bands.items()
    ]
    return "; ".join(phrases + words)


def readable_summary(summary: str) -> str:
    """A catalogue summary with its "(when {...})" tail in words."""
    found = _WHEN.search(summary)
    if not found:
        return summary
    try:
        when = ast.literal_eval(found.group(1))
    except (ValueError, SyntaxError):
        return summary
    if not isinstance(when, dict):
        return summary
    return f"{summary[: found.start()]} (when {describe_when(when)})"
