"""The safety layer no condition switches off: opioid-naive patients, implausible doses and a
missing naloxone offer.

The CDC MME thresholds drop to info with cancer (the guideline excludes cancer pain); none of
these read the patient's conditions, so cancer cannot silence them. Knowledge: rules/data/safety.toml.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from checker.findings import finding, source_block
from checker.model import Finding
from checker.quantities import num, qty
from formulary import Source
from rules.context import Context
from rules.mechanism import Evaluator, Input, OrderView, Unit
from rules.model import Knowledge
from rules.opioids import factor_amount, factor_for
from rules.safety_data import Cited, LongActing, safety

MAJOR_FACTOR = 2.0  # at or above twice the label's top starting dose the start is "far above" it


def _source(row: Cited) -> dict[str, Any]:
    out = source_block(safety(), row.source, row.verified)
    if row.quote:
        out["quote"], out["location"] = row.quote, row.location
    return out


# --- opioid-naive patients --------------------------------------------------------------------


def naive_units(ctx: Context) -> Iterator[Unit]:
    """One unit per opioid order."""
    for o in ctx.orders:
        if o.drug_id and "opioid" in o.classes:
            yield Unit("opioid_naive", (o,))


def _long_acting(o: OrderView, la: LongActing) -> bool:
    """Long-acting by class, route or the product named in the order ("MS Contin", "morphine ER":
    until the order states its release); an as-needed order is not an ER/LA regimen (their
    labels exclude as-needed use), so PRN oxycodone is judged as the immediate-release product."""
    if o.prn:
        return False
    return bool(la.classes & o.classes) or o.route in la.routes or bool(la.names.search(o.input))


def evaluate_naive(inp: Input) -> Iterator[Finding]:
    s, (o,) = safety(), inp.orders
    tolerant = inp.ctx.patient.opioid_tolerant
    if tolerant:
        return
    route, dose, name = o.route, o.dose, o.drug.name
    la = s.long_acting
    if _long_acting(o, la) and route not in la.except_routes:
        if tolerant is False:
            yield finding("opioid_naive.long_acting", "condition", la.severity, (o.drug.id,), (o.index,),
                          la.message.format(drug=name), la.recommendation, {"opioid_tolerant": False},
                          _source(la), rule="opioid_naive.long_acting")  # fmt: skip
        else:
            yield finding(
                "monitoring.opioid_tolerance_unknown", "monitoring", la.unknown_severity, (o.drug.id,),
                (o.index,),
                f"{name} is an extended-release/long-acting opioid and the patient's opioid tolerance is "
                "not recorded.",
                "Record whether the patient is opioid tolerant (at least 60 mg/day oral morphine or "
                "equivalent for a week or more); if not, use the opioid-naive starting dose.",
                {"missing": ["opioid tolerance"]}, _source(la), rule="monitoring.opioid_tolerance_unknown",
            )  # fmt: skip
    start = s.naive_start.get((o.drug.id, route))
    if start is None or dose is None or dose <= start.max_single * (1 + 1e-9):
        return
    a, b = qty(dose, o.unit), qty(start.max_single, o.unit)
    evidence = {"actual": a, "limit": b, "route": route}
    if tolerant is None and route in la.except_routes and la.classes & o.classes:
        return  # the patch's own required check (checks.toml) already asks for tolerance
    if tolerant is None:
        yield finding(
            "monitoring.opioid_naive_start.unknown", "monitoring", "moderate", (o.drug.id,), (o.index,),
            f"{name} {a} {route} is above the opioid-naive starting dose ({b}), and the patient's opioid "
            "tolerance is not recorded.",
            "Record whether the patient is opioid tolerant; if not, start at or below the labelled "
            "starting dose.",
            {**evidence, "missing": ["opioid tolerance"]}, _source(start), rule="opioid_naive.start",
        )  # fmt: skip
        return
    far = dose >= start.max_single * MAJOR_FACTOR * (1 - 1e-9)
    yield finding(
        "opioid_naive.start", "dose_single", "major" if far else "moderate", (o.drug.id,), (o.index,),
        f"{name} {a} {route} in a patient who is not opioid tolerant is "
        f"{'far ' if far else ''}above the labelled starting dose ({b}).",
        f"Start at {b} or less and titrate by response; reserve higher doses for opioid-tolerant patients.",
        evidence, _source(start), rule="opioid_naive.start",
    )  # fmt: skip


OPIOID_NAIVE = Evaluator(
    "opioid_naive",
    naive_units,
    evaluate_naive,
    reads=("drug", "route", "dose", "unit", "classes", "prn", "input"),
    facts=("patient.opioid_tolerant",),
)  # fmt: skip


# --- implausible doses ------------------------------------------------------------------------


def ceiling_units(ctx: Context) -> Iterator[Unit]:
    """One unit per order of a drug with a plausibility ceiling on its route."""
    ceilings = safety().ceilings
    for o in ctx.orders:
        if (o.drug_id, o.route) in ceilings:
            yield Unit("ceiling", (o,))


def evaluate_ceiling(inp: Input) -> Iterator[Finding]:
    (o,) = inp.orders
    c = safety().ceilings[(o.drug.id, o.route)]
    doses = [d for d in (o.dose, *o.other_doses) if d is not None]
    if not doses or max(doses) <= c.max_single * (1 + 1e-9):
        return
    a, unit = qty(max(doses), o.unit), o.unit
    yield finding(
        "unit.implausible_dose", "unit", "major", (o.drug.id,), (o.index,),
        f"{o.drug.name} {a} {o.route} is above {qty(c.max_single, unit)}, several times the highest "
        f"labelled dose ({c.highest_labelled}): most likely a unit or decimal error.",
        "Check the unit and the decimal point with the prescriber before anything is given.",
        {"actual": a, "limit": qty(c.max_single, unit), "highest_labelled": c.highest_labelled},
        _source(c), rule=f"unit.implausible_dose.{c.drug}",
    )  # fmt: skip


PLAUSIBILITY = Evaluator(
    "plausibility",
    ceiling_units,
    evaluate_ceiling,
    reads=("drug", "route", "dose", "other_doses", "unit"),
)


# --- naloxone ---------------------------------------------------------------------------------


def naloxone_units(ctx: Context) -> Iterator[Unit]:
    """The regimen's opioid orders, when no opioid antagonist is ordered; whether a benzodiazepine
    (or another class that calls for naloxone) is ordered is part of the unit's item."""
    nx = safety().naloxone
    opioids, other = [], False
    for o in ctx.orders:
        if nx.antidote_classes & o.classes:
            return
        if "opioid" in o.classes and o.drug_id:
            opioids.append(o)
        other = other or bool(nx.with_classes & o.classes)
    if opioids:
        yield Unit(("naloxone", other), tuple(opioids))


def mme_per_day(o: OrderView, k: Knowledge, sources: Mapping[str, Source]) -> tuple[float | None, str | None]:
    """An order's MME/day and the table its factor comes from (None when it cannot be converted)."""
    factor = factor_for(o, k)
    if factor is None:
        return None, None
    counted = factor_amount(o, factor)
    if counted is None:
        return None, None
    return counted[0] * factor.factor, sources[factor.source].label


def evaluate_naloxone(inp: Input) -> Iterator[Finding]:
    (_, with_other), nx = inp.item, safety().naloxone
    total = 0.0
    for o in inp.orders:
        mme, _ = mme_per_day(o, inp.knowledge, inp.knowledge.sources)
        total += mme or 0.0
    total = round(total, 1)
    if total < nx.mme and not with_other:
        return
    why = f"{num(total)} MME/day" if total >= nx.mme else "an opioid with a benzodiazepine"
    yield finding(
        "monitoring.naloxone", "monitoring", nx.severity, [o.drug_id for o in inp.orders if o.drug_id],
        [o.index for o in inp.orders],
        f"No naloxone is ordered for a patient on {why}.",
        "Offer naloxone (e.g. nasal spray) and teach the patient and carers when to use it.",
        {"mme_per_day": num(total), "with_benzodiazepine": with_other}, _source(nx),
        rule="monitoring.naloxone",
    )  # fmt: skip


NALOXONE = Evaluator(
    "naloxone",
    naloxone_units,
    evaluate_naloxone,
    reads=("drug", "route", "dose", "daily", "unit", "is_rate"),
)
