"""A dose as written against the product ordered: counts of tablets, capsules, patches or mL of a
liquid become amounts of each active ingredient ("Norco 10/325, 2 tabs" → hydrocodone 20 mg and
acetaminophen 650 mg per dose); anything that cannot be turned into amounts is a finding.

Separate from `orders` so that building an order line stays about one ingredient.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from checker.sig import Phase
from formulary import Drug, Formulary
from formulary.resolve import Resolved
from formulary.unit_text import COUNT_WORDS

COUNT_UNITS = frozenset(COUNT_WORDS) | {"each", "ea"}


def is_each(unit: str) -> bool:
    """ "each", "ea": a count with no dose form named ("1 po bid")."""
    return unit.strip().lower() in ("each", "ea")


def count_text(dose: float, unit: str | None) -> str:
    """ "2 tab"; "2 (a count, no dose form named)" for a bare "2" or "2 each"."""
    if not unit or is_each(unit):
        return f"{dose:g} (a count, no dose form named)"
    return f"{dose:g} {unit}"


VOLUME_UNITS = frozenset({"ml", "milliliter", "milliliters", "millilitre", "millilitres", "cc"})


@dataclass(frozen=True, slots=True)
class LineDose:
    """The dose one ingredient line gets: amount, lower end of a range, unit and other phases."""

    value: float | None = None
    low: float | None = None
    unit: str | None = None
    others: tuple[Phase, ...] = ()


@dataclass(frozen=True, slots=True)
class Plan:
    lines: tuple[LineDose, ...]
    problem: tuple[str, str, str, str] | None = None  # code, severity, message, recommendation


def _kind(unit: str | None) -> str:
    if not unit:
        return "none"
    u = unit.strip().lower().rstrip(".")
    if u in COUNT_UNITS:
        return "count"
    if u in VOLUME_UNITS:
        return "ml"
    return "amount"


def _scale(others: tuple[Phase, ...], amount: float, unit: str, per_ml: bool) -> tuple[Phase, ...]:
    out = []
    for p in others:
        kind = _kind(p.unit)
        if p.dose is not None and (kind == "count" and not per_ml or kind == "ml" and per_ml):
            low = p.dose_low * amount if p.dose_low is not None else None
            out.append(replace(p, dose=p.dose * amount, dose_low=low, unit=unit))
    return tuple(out)


def _names(res: Resolved) -> str:
    return " + ".join(d.name.split(" (")[0].lower() for d in res.drugs)


def plan_doses(
    res: Resolved,
    dose: float | None,
    low: float | None,
    unit: str | None,
    others: tuple[Phase, ...],
    name: str,
) -> Plan:
    n = len(res.drugs)
    empty = (LineDose(),) * n
    plain = (LineDose(dose, low, unit, others),) * n
    p = res.product
    if dose is None and unit is None and p is not None and p.strengths_known and p.form:
        if all(part.per != "mL" for part in p.parts) and _kind(p.form) == "count":
            # "naproxen 500 mg tablet", "Percocet 5/325" with no dose: read as one unit per dose,
            # as a pharmacist reads it; a lower bound, so it is said, never assumed silently.
            return replace(
                plan_doses(res, 1.0, None, p.form, others, name),
                problem=(
                    "input.count_assumed",
                    "minor",
                    f"{name}: no dose was given; it was checked as one {p.form} per dose. If more are given "
                    "the doses and totals are higher than checked.",
                    f"Give the dose as a number of {p.form}s, e.g. '1 {p.form}' or '2 {p.form}s'.",
                ),
            )
    if dose is None:
        return Plan(plain if n == 1 else empty)
    kind = _kind(unit)
    if p is not None and p.strengths_known:
        per_ml = all(part.per == "mL" for part in p.parts)
        if kind == "count" and not per_ml or kind == "ml" and per_ml or kind == "none" and not per_ml:
            lines = tuple(
                LineDose(
                    dose * part.amount,
                    low * part.amount if low is not None else None,
                    part.unit,
                    _scale(others, part.amount, part.unit, per_ml),
                )
                for part in p.parts
                if part.amount is not None
            )
            note = None
            if kind == "none":
                note = (
                    "input.count_assumed",
                    "info",
                    f"{name}: the dose {dose:g} has no unit and was read as {dose:g} {p.form or 'unit'}(s).",
                    "Give the unit with the dose, e.g. '2 tabs'.",
                )
            return Plan(lines, note)
        if kind in ("count", "ml", "none"):
            return Plan(
                empty,
                (
                    "unit.dose_form",
                    "moderate",
                    f"{name} is ordered as {count_text(dose, unit)}, which does not fit the product "
                    f"({p.form or 'product'}); the dose was not checked.",
                    "Order a number of tablets, capsules or patches, or mL of a liquid.",
                ),
            )
        if n == 1:
            return Plan(plain)
        return Plan(empty, _amount_on_combination(res, dose, unit, name))
    if n == 1:
        return Plan(plain)  # a plain ingredient: the order line says what a count dose lacks
    if kind in ("count", "ml", "none"):
        strengths = ", ".join(sorted({c.name for c in res.choices}))[:200]
        hint = f" (for example {strengths})" if strengths else ""
        return Plan(
            empty,
            (
                "unit.dose_form",
                "moderate",
                f"{name} contains {_names(res)}; without the product strength{hint} a dose of "
                f"{count_text(dose, unit)} cannot be turned into amounts, so it was not checked.",
                "Give the strength with the product, e.g. 'Norco 10/325 mg'.",
            ),
        )
    return Plan(empty, _amount_on_combination(res, dose, unit, name))


def _amount_on_combination(
    res: Resolved, dose: float, unit: str | None, name: str
) -> tuple[str, str, str, str]:
    return (
        "input.product_dose",
        "moderate",
        f"{name} combines {_names(res)}; a dose of {dose:g} {unit} does not say how much of each, so the "
        "dose was not checked.",
        "Order the number of tablets (e.g. '1-2 tabs') of a stated strength, or each ingredient separately.",
    )


def release_classes(drug: Drug, release: str | None, f: Formulary) -> frozenset[str]:
    """The drug's classes, with the product's release deciding long- or short-acting for opioids:
    MS Contin is a long-acting morphine and Percocet a short-acting oxycodone."""
    own = set(drug.classes)
    if release and ("opioid" in own or "opioid" in f.expand_classes(own)):
        if release == "extended":
            own.discard("short_acting_opioid")
            own.add("long_acting_opioid")
        elif drug.id in f.extended_ingredients or "long_acting_opioid" not in own:
            # an IR product of an ingredient that also comes as ER; methadone stays long-acting
            own.discard("long_acting_opioid")
            own.add("short_acting_opioid")
    return f.expand_classes(own)


def label_of(res: Resolved, name: str) -> str:
    """How messages name the medication: the drug's name for one ingredient, else as written."""
    return res.drugs[0].name if len(res.drugs) == 1 else name


def unknown_part(res: Resolved, name: str) -> tuple[str, str, str, str] | None:
    """A combination with an ingredient the formulary does not know: the rest is still checked."""
    if res.unnamed:  # "oxycodone 5-325 mg": a strength with no ingredient named, not guessed
        return (
            "unrecognized.ingredient",
            "moderate",
            f"{name!r} gives more strengths than ingredients: {', '.join(res.unnamed)} belongs to an "
            f"ingredient it does not name, so only {label_of(res, name)} was checked (an acetaminophen "
            "part, for one, would be missing from the day's total).",
            "Name every ingredient, e.g. 'oxycodone-acetaminophen 5-325 mg tablet'.",
        )
    if not res.unknown:
        return None
    return (
        "unrecognized.ingredient",
        "minor",
        f"In {name!r}, {', '.join(map(repr, res.unknown))} is not a drug name the checker knows; only "
        f"{label_of(res, name)} was checked.",
        "Check the spelling of each ingredient.",
    )
