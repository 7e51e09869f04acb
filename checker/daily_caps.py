"""A PRN order's stated daily cap, as an amount of each ingredient.

"Norco 5/325, 1-2 tabs q4-6h PRN, max 8 tabs/day" caps acetaminophen at 8 × 325 mg = 2.6 g/day
and hydrocodone at 40 mg/day; "max 4 g/day" on plain acetaminophen is already an amount. A cap
that cannot be turned into an amount of the line's ingredient is said, never dropped: without it
the daily total counts every PRN dose at its most frequent use, which may be far above what the
prescriber allowed, or (when the cap was meant to be lower than the schedule) hide nothing.

Separate from `orders` so that building an order line stays about one ingredient.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from checker.model import Medication
from checker.product_doses import COUNT_UNITS, VOLUME_UNITS
from checker.sig import Sig
from formulary import Drug
from formulary.resolve import Resolved
from formulary.units import UnitError, conversion_factor, dimensionality

PER_DAY = re.compile(r"\s*/\s*(?:day|d|24\s*h)\s*$", re.IGNORECASE)


def unit_factor(unit: str, drug: Drug, target: str) -> float:
    """Factor from `unit` to the drug's `target` unit, bridging IU and mass where the drug says how."""
    try:
        return conversion_factor(unit, target)
    except UnitError:
        if drug.iu_per_ug is None:
            raise
    if dimensionality(target) == "[international_unit]":
        return conversion_factor(unit, "ug") * drug.iu_per_ug
    return conversion_factor(unit, "ug") / drug.iu_per_ug * conversion_factor("ug", target)


@dataclass(frozen=True, slots=True)
class Stated:
    """The cap as written: amount, unit (None when none was given) and the field it came from."""

    amount: float
    unit: str | None
    field: str  # "max_daily_unit" or "sig"


def stated_cap(med: Medication, sig: Sig | None) -> Stated | None:
    if med.max_daily_dose is not None:
        return Stated(med.max_daily_dose, med.max_daily_unit or med.unit, "max_daily_unit")
    if sig and sig.max_daily:
        amount, unit = sig.max_daily
        return Stated(amount, unit or None, "sig")
    return None


def _kind(unit: str) -> str:
    u = unit.strip().lower().rstrip(".")
    if u in COUNT_UNITS or u in ("tablet(s)", "capsule(s)"):
        return "count"
    if u in VOLUME_UNITS:
        return "ml"
    return "amount"


def line_cap(cap: Stated, res: Resolved, part: int, drug: Drug, target: str) -> float | str:
    """The cap in the line's unit, or why it could not be read (a phrase for the finding)."""
    if not cap.unit:
        return "it gives no unit"
    unit = PER_DAY.sub("", cap.unit)
    kind = _kind(unit)
    if kind in ("count", "ml"):
        p = res.product
        if p is None or not p.strengths_known:
            return f"a cap in {unit} needs the product's strength, and the order does not name one"
        per_ml = all(x.per == "mL" for x in p.parts)
        if per_ml != (kind == "ml"):
            return f"{p.form or 'the product'} is not measured in {unit}"
        own = p.parts[part] if part < len(p.parts) else None
        if own is None or own.amount is None:
            return "the product does not give this ingredient's strength"
        try:
            return cap.amount * own.amount * unit_factor(own.unit, drug, target)
        except UnitError:
            return f"the strength in {own.unit} is not a {target} amount"
    if len(res.drugs) > 1:
        return f"a cap in {unit} on a combination product does not say which ingredient it is for"
    try:
        return cap.amount * unit_factor(unit, drug, target)
    except UnitError:
        return f"{cap.unit!r} is not a unit of {drug.name} amounts ({target})"


def unread_cap(
    med: Medication, cap: Stated, why: str, label: str, has_total: bool
) -> tuple[str, str, str, str]:
    """The finding for a cap that could not be read, naming the field it came from. At least
    moderate when the order has a daily total the cap may have meant to lower."""
    written = f"{cap.amount:g} {cap.unit or ''}".strip()
    if cap.field == "max_daily_unit":
        where = f"max_daily_dose/max_daily_unit ({written})"
    else:
        where = f"the sig ({med.sig!r})"
    return (
        "input.max_daily_unreadable",
        "moderate" if has_total else "info",
        f"The daily cap of {label} in {where} was not applied: {why}. The daily total counts every dose "
        "at its most frequent use.",
        "State the cap in tablets of a named product strength, or in the ingredient's unit (e.g. 3 g/day).",
    )
