"""Dose limits from the formulary: single, daily (summed per ingredient), interval, duration,
course and weight-based, each in its general and patient-specific (age, weight, renal,
hepatic) form.

For each kind of limit and each order (or ingredient total), only the strictest limit that
applies and is exceeded is reported; when a stricter limit might apply but the patient data it
needs is missing, that is reported as a `monitoring` finding instead of passing silently.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from checker.findings import finding, source_block
from checker.model import SEVERITY_RANK, Finding
from checker.orders import Order
from checker.quantities import num, qty
from formulary import DoseLimit, Drug
from formulary.model import LIMIT_FIELDS
from rules.context import Context, RuleContext
from rules.limit_scope import (
    product_fits,
    product_unknown,
    release_fits,
    release_unknown,
    replaced_lines,
    scope,
)
from rules.mechanism import Evaluator, Input, Unit, when_facts

EPS = 1e-9
# A dose ten times its limit or more is most likely a unit or decimal slip, whatever the row's own
# grade: it is at least major, and says so. medcheck's threshold, not a label's (the same tenfold slip
# the plausibility ceilings of rules/data/safety.toml are sized to catch); docs/report.md states it.
FAR_ABOVE = 10.0


@dataclass(frozen=True)
class Kind:
    attr: str
    category: str
    code: str
    per_order: bool
    label: str
    higher_is_worse: bool = True


KINDS = (
    Kind("max_single", "dose_single", "dose.single_max", True, "max single"),
    Kind("max_single_per_kg", "weight_based", "dose.single_per_kg_max", True, "max single"),
    Kind("max_daily", "dose_daily", "dose.daily_max", False, "max daily"),
    Kind("max_daily_per_kg", "weight_based", "dose.daily_per_kg_max", False, "max daily"),
    Kind("min_interval_h", "frequency", "dose.interval_min", True, "min interval", higher_is_worse=False),
    Kind("max_duration_days", "duration", "dose.duration_max", True, "max duration"),
    Kind("course_max_doses", "course", "dose.course_max", True, "course max"),
)
assert {k.attr for k in KINDS} == set(LIMIT_FIELDS)


def describe(lim: DoseLimit, unit: str) -> list[str]:
    """Each limit a row sets, as text: ["max single 1 g", "max daily 4 g/day", ...]."""
    return [
        f"{k.label} {render(k, getattr(lim, k.attr), unit)}"
        for k in KINDS
        if getattr(lim, k.attr) is not None
    ]


def _actual(kind: Kind, orders: list[Order], ctx: RuleContext) -> float | None:
    """The figure a limit of this kind is compared with, for one order or an ingredient total."""
    o = orders[0]
    match kind.attr:
        case "max_single":
            values = [v for v in (o.dose, *o.other_doses) if v is not None]
            return max(values) if values else None
        case "max_single_per_kg":
            if o.dose_per_kg is not None:
                return o.dose_per_kg
            w = ctx.patient.weight_kg
            return o.dose / w if o.dose is not None and w else None
        case "min_interval_h":
            return o.interval_h
        case "max_duration_days":
            return o.duration_days
        case "course_max_doses":
            values = [v for v in (o.dose_number, o.course_doses) if v is not None]
            return float(max(values)) if values else None
        case "max_daily":
            dailies = [x.daily for x in orders if x.daily is not None]
            return sum(dailies) if dailies else None
        case "max_daily_per_kg":
            dailies = [x.daily for x in orders if x.daily is not None]
            w = ctx.patient.weight_kg
            return sum(dailies) / w if dailies and w else None
    return None


def _exceeds(kind: Kind, actual: float, limit: float, tolerance: float = 0.0) -> bool:
    margin = max(EPS, tolerance)
    return actual > limit * (1 + margin) if kind.higher_is_worse else actual < limit * (1 - margin)


def _strictest(kind: Kind, limits: list[DoseLimit]) -> DoseLimit:
    """The limit to report: the most severe one exceeded, and of those the strictest.

    Tiered limits (selenium: EU 255 ug at minor, US 400 ug at moderate) must report the tier
    that says what to do, not merely the lowest number."""
    sign = 1 if kind.higher_is_worse else -1
    return min(limits, key=lambda lim: (SEVERITY_RANK[lim.severity], sign * getattr(lim, kind.attr)))


def render(kind: Kind, value: float, unit: str) -> str:
    """A limit or an actual figure as people read it: "4 g/day", "55 kBq/kg", "every 6 h"."""
    match kind.attr:
        case "max_single":
            return qty(value, unit)
        case "max_single_per_kg":
            return qty(value, unit, "/kg")
        case "max_daily":
            return qty(value, unit, "/day")
        case "max_daily_per_kg":
            return qty(value, unit, "/kg/day")
        case "min_interval_h":
            return f"every {num(value)} h"
        case "max_duration_days":
            return f"{num(value)} days"
        case _:
            return f"{num(value)} doses"


def _message(kind: Kind, drug: Drug, orders: list[Order], actual: str, limit: str, lim: DoseLimit) -> str:
    who = _who(lim)
    match kind.attr:
        case "max_daily" | "max_daily_per_kg":
            n = len(orders)
            prn = " (PRN orders counted at their most frequent use)" if any(o.prn for o in orders) else ""  # noqa: E501
            across = f" across {n} orders" if n > 1 else ""
            return f"{drug.name} totals {actual}{across}{prn}; the limit{who} is {limit}."
        case "min_interval_h":
            return f"{drug.name} is ordered {actual}; the shortest labelled interval{who} is {limit}."  # noqa: E501
        case "max_duration_days":
            return f"{drug.name} is ordered for {actual}; the limit{who} is {limit}."
        case "course_max_doses":
            return f"This is dose {actual.split()[0]} of {drug.name}; the course limit{who} is {limit}."  # noqa: E501
        case _:
            return f"A single {drug.name} dose of {actual} exceeds the limit{who} of {limit}."


def _who(lim: DoseLimit) -> str:
    w = lim.when
    parts = []
    if w.age_min is not None:
        parts.append(f"aged {num(w.age_min)} or over")
    if w.age_over is not None:
        parts.append(f"over {num(w.age_over)} years")
    if w.weight_below is not None:
        parts.append(f"under {num(w.weight_below)} kg")
    if w.uses_crcl:
        parts.append(w.crcl_band())
    if w.hepatic:
        parts.append(f"{'/'.join(w.hepatic)} hepatic impairment")
    if w.conditions:
        parts.append(" or ".join(c.replace("_", " ") for c in w.conditions))
    if w.opioid_tolerant is False:
        parts.append("opioid-non-tolerant patients")
    if products := scope(lim):
        return f" for {products} in {', '.join(parts)}" if parts else f" for {products}"
    return f" for {', '.join(parts)}" if parts else ""


def _in_band(o: Order, lim: DoseLimit) -> bool:
    """Is the order of the regimen the row is written for (by its single dose)?

    An order without a readable dose is judged against the lowest band's rows; an unnumbered
    dose as a first dose."""
    if lim.dose_number_min is not None and (o.dose_number or 1) < lim.dose_number_min:
        return False
    if lim.single_above is None and lim.single_upto is None:
        return True
    if o.dose is None:
        return lim.single_above is None
    return (lim.single_above is None or o.dose > lim.single_above * (1 + EPS)) and (
        lim.single_upto is None or o.dose <= lim.single_upto * (1 + EPS)
    )


def _groups(
    kind: Kind,
    orders: list[Order],
    lim: DoseLimit,
    plain: str | None = None,
    replaced: frozenset[str] = frozenset(),
) -> list[list[Order]]:
    mine = [o for o in orders
            if o.route in lim.routes and _in_band(o, lim) and release_fits(o, lim, plain)
            and product_fits(o, lim, plain, replaced)]  # fmt: skip
    if not mine:
        return []
    return [[o] for o in mine] if kind.per_order else [mine]


_BY_KIND: dict[int, tuple] = {}
ByKind = tuple[tuple[Kind, tuple[DoseLimit, ...], dict[int, frozenset[str]]], ...]


def _by_kind(limits: tuple[DoseLimit, ...]) -> ByKind:
    """The drug's limit rows per kind, only for kinds it has (most drugs have one or two), each
    with the product lines a more specific row takes it over for (`replaced_lines`).

    Keyed by the identity of the (immutable, long-lived) limits tuple: hashing it costs more
    than the look-up saves."""
    if (hit := _BY_KIND.get(id(limits))) is not None and hit[0] is limits:
        return hit[1]
    out = []
    for kind in KINDS:
        rows = tuple(lim for lim in limits if getattr(lim, kind.attr) is not None)
        if rows:
            out.append((kind, rows, replaced_lines(rows)))
    _BY_KIND[id(limits)] = (limits, tuple(out))
    return tuple(out)


def _evaluate(
    kind: Kind,
    drug: Drug,
    orders: list[Order],
    limits: Sequence[DoseLimit],
    ctx: RuleContext,
    replaced: dict[int, frozenset[str]] | None = None,
) -> Iterator[Finding]:
    subjects: dict[tuple[int, ...], tuple[list[Order], list[DoseLimit]]] = {}
    replaced = replaced or {}
    for lim in limits:
        for group in _groups(kind, orders, lim, drug.plain_release, replaced.get(id(lim), frozenset())):
            subjects.setdefault(tuple(o.index for o in group), (group, []))[1].append(lim)
    for group, mine in subjects.values():
        actual = _actual(kind, group, ctx)
        if actual is None:
            yield from _missing_weight(kind, drug, group, mine, ctx)
            continue
        exceeded = [lim for lim in mine if _exceeds(kind, actual, getattr(lim, kind.attr), lim.tolerance)]
        if not exceeded:
            continue
        known = [lim for lim in exceeded if not release_unknown(group, lim, drug.plain_release)
                 and not product_unknown(group, lim)]  # fmt: skip
        if not known:  # only a row for a release or product the order does not name (OxyContin or IR?)
            applying = [lim for lim in exceeded if ctx.matches(lim.when) is not False]
            if applying:
                yield _which_release(kind, drug, group, actual, _strictest(kind, applying), ctx)
            continue
        exceeded = known
        broken = [lim for lim in exceeded if ctx.matches(lim.when)]
        if broken:
            yield _finding(kind, drug, group, actual, _strictest(kind, broken), ctx, broken)
            continue
        unknown = [lim for lim in exceeded if ctx.matches(lim.when) is None]
        if unknown:
            yield _unknown(kind, drug, group, actual, _strictest(kind, unknown), ctx)


def _finding(
    kind: Kind,
    drug: Drug,
    group: list[Order],
    actual: float,
    lim: DoseLimit,
    ctx: RuleContext,
    broken: Sequence[DoseLimit] = (),
) -> Finding:
    unit = group[0].unit
    a, b = render(kind, actual, unit), render(kind, getattr(lim, kind.attr), unit)
    evidence: dict[str, Any] = {"actual": a, "limit": b}
    # `lim` is the most severe limit broken (it sets the severity and the advice); a stricter one
    # also broken (a risk-adjusted ceiling graded lower, a lower tier) is named beside it.
    severity = lim.severity
    pick = min if kind.higher_is_worse else max
    tighter = pick(broken, key=lambda x: getattr(x, kind.attr), default=lim)
    if getattr(tighter, kind.attr) != getattr(lim, kind.attr):
        also = render(kind, getattr(tighter, kind.attr), unit)
        evidence["also_exceeds"] = {"limit": also, "severity": tighter.severity}
    if kind.attr in ("max_daily", "max_daily_per_kg"):
        evidence["orders"] = [
            {
                "medication": o.index,
                "daily": qty(o.daily, o.unit, "/day"),
                "prn": o.prn,
                **({"capped": True} if o.capped else {}),
            }
            for o in group
            if o.daily is not None
        ]
    if lim.when.uses_crcl:
        evidence.update(ctx.renal.evidence())
    times = actual / limit if kind.higher_is_worse and (limit := getattr(lim, kind.attr)) else 0.0
    far = times >= FAR_ABOVE and SEVERITY_RANK[severity] > SEVERITY_RANK["major"]
    if far:  # 50,000 mg of vitamin D3 (2 billion units a day) was a moderate "above 10,000 IU/day"
        severity, evidence["times_limit"] = "major", round(times, 1)
    code = kind.code + (f".{lim.category}" if lim.category and lim.category != kind.category else "")  # noqa: E501
    message = _message(kind, drug, group, a, b, lim)
    if "also_exceeds" in evidence:
        message += f" It is also above {evidence['also_exceeds']['limit']}{_who(tighter)}."
    if lim.when.uses_crcl:
        message += ctx.renal.note()  # says when the band was judged on an estimate or on eGFR
    if far:
        message += f" That is {num(times)} times the limit: look for a unit or decimal error first."
    return finding(
        code,
        lim.category or kind.category,
        severity,
        (drug.id,),
        [o.index for o in group],
        message,
        lim.recommendation,
        evidence,
        source_block(ctx.formulary, lim.source, lim.verified, lim),
        rule=rule_id(drug, lim),
    )


def _unknown(
    kind: Kind, drug: Drug, group: list[Order], actual: float, lim: DoseLimit, ctx: RuleContext
) -> Finding:
    unit = group[0].unit
    a, b = render(kind, actual, unit), render(kind, getattr(lim, kind.attr), unit)
    missing = ctx.missing_for(lim.when)
    needed = " and ".join(missing)
    # Risk modifiers (hepatic state, conditions) are often simply unrecorded: say so, quietly.
    quiet = set(missing) <= {"hepatic function", "conditions"}
    return finding(
        f"monitoring.{kind.code}.unknown",
        "monitoring",
        "info" if quiet else "moderate",
        (drug.id,),
        [o.index for o in group],
        f"{drug.name} at {a} exceeds the limit{_who(lim)} ({b}), and the patient's {needed} is not known.",
        f"Record {needed} to confirm the dose is safe. {lim.recommendation}".strip(),
        {"actual": a, "limit": b, "missing": ctx.missing_for(lim.when)},
        source_block(ctx.formulary, lim.source, lim.verified, lim),
        rule=rule_id(drug, lim),
    )


def _which_release(
    kind: Kind, drug: Drug, group: list[Order], actual: float, lim: DoseLimit, ctx: RuleContext
) -> Finding:
    """A row for extended-release products broken by an order that does not say which release it
    is: plain "oxycodone 10 mg q4h" is usual for IR oxycodone and an overdose for OxyContin. Or a row
    for one product line broken by an order of that release that does not name its line:
    "hydrocodone ER 20 mg q12h" suits Zohydro ER and is twice the dosing of Hysingla ER."""
    unit = group[0].unit
    a, b = render(kind, actual, unit), render(kind, getattr(lim, kind.attr), unit)
    if release_unknown(group, lim, drug.plain_release):
        missing, said = "release", "whether the product is immediate- or extended-release"
        ask = "Name the product or its release (IR or ER) to have the order checked."
    else:
        missing, said = "product", "which product it is"
        ask = "Name the product (brand or RxNorm product) to have the order checked."
    return finding(
        f"monitoring.{kind.code}.{missing}_unknown",
        "monitoring",
        "info",
        (drug.id,),
        [o.index for o in group],
        f"{_message(kind, drug, group, a, b, lim)} The order does not say {said}, so this was not judged.",
        f"{ask} {lim.recommendation}".strip(),
        {"actual": a, "limit": b, "missing": [missing], "release": lim.release,
         **({"products": list(lim.products)} if lim.products else {})},  # fmt: skip
        source_block(ctx.formulary, lim.source, lim.verified, lim),
        rule=rule_id(drug, lim),
    )


def _missing_weight(
    kind: Kind, drug: Drug, group: list[Order], limits: list[DoseLimit], ctx: RuleContext
) -> Iterator[Finding]:
    """Per-kg limit with an absolute dose (or the reverse) and no weight: say it was not checked."""
    if not limits:
        return
    o = group[0]
    needs = (kind.attr.endswith("per_kg") and o.dose is not None) or (
        not kind.attr.endswith("per_kg")
        and kind.attr in ("max_single", "max_daily")
        and o.dose is None
        and o.dose_per_kg is not None
    )  # and only then is the weight read (the unit declares it exactly in these cases)
    if needs and ctx.patient.weight_kg is None and any(ctx.matches(lim.when) is not False for lim in limits):
        lim = limits[0]
        # A row for patients the regimen may not be about (children, when age is unknown too) only
        # informs; one that applies, or whose only unknown is the weight itself, asks for it.
        applies = any(ctx.matches(x.when) is True or set(ctx.missing_for(x.when)) <= {"weight"}
                      for x in limits)  # fmt: skip
        yield finding(
            f"monitoring.weight_unknown.{kind.attr}",
            "monitoring",
            "moderate" if applies else "info",
            (drug.id,),
            [x.index for x in group],
            f"{drug.name} has a limit of {render(kind, getattr(lim, kind.attr), o.unit)} "
            "but the patient's weight is not known, so the dose could not be checked against it.",
            "Record the patient's weight.",
            {"missing": ["weight"]},
            source_block(ctx.formulary, lim.source, lim.verified, lim),
            rule=rule_id(drug, lim),
        )


def _combined_course(drug: Drug, orders: list[Order], ctx: RuleContext) -> Iterator[Finding]:
    """A course limit counts every order of the drug ("5 days in all, IV, IM and oral combined").

    Reported only when each order is within the limit on its own (that case is already a
    finding) but together they exceed it. Without start dates the orders are taken to run one
    after another, and the message says so."""
    timed = [o for o in orders if o.duration_days is not None]
    if len(timed) < 2:
        return
    routes = {o.route for o in timed}
    applying = [
        (lim.max_duration_days, lim)
        for lim in drug.limits
        if lim.max_duration_days is not None and routes & set(lim.routes) and ctx.matches(lim.when)
    ]
    if not applying:
        return
    limit, lim = min(applying, key=lambda x: x[0])
    days = [(o, o.duration_days) for o in timed if o.duration_days is not None]
    total = sum(d for _, d in days)
    if total <= limit * (1 + EPS) or any(d > limit * (1 + EPS) for _, d in days):
        return
    parts = ", ".join(f"{o.route} {num(d)} days" for o, d in days)
    yield finding(
        "dose.duration_max.combined",
        "duration",
        lim.severity,
        (drug.id,),
        [o.index for o in timed],
        f"{drug.name} orders add up to {num(total)} days ({parts}), taken as consecutive; "
        f"the limit is {num(limit)} days in all.",
        lim.recommendation,
        {"actual": f"{num(total)} days", "limit": f"{num(limit)} days"},
        source_block(ctx.formulary, lim.source, lim.verified, lim),
        rule=rule_id(drug, lim),
    )


def rule_id(drug: Drug, lim: DoseLimit) -> str:
    """The public id of a dose-limit row: "dose.<drug>.<n>", n its place among the drug's limits."""
    return f"dose.{drug.id}.{next(i for i, x in enumerate(drug.limits) if x is lim)}"


_FACTS: dict[tuple[str, bool], tuple[str, ...]] = {}


def _drug_facts(drug: Drug, per_kg_dose: bool) -> tuple[str, ...]:
    """The patient facts a drug's limits read: whatever their bands name, and the weight where a
    per-kg limit meets a dose or a per-kg dose meets a limit (to compare, or to say it is missing).
    Reading the weight only then lets a unit's findings be shared by patients of any weight."""
    hit = _FACTS.get((drug.id, per_kg_dose))
    if hit is None:
        names: list[str] = []
        for lim in drug.limits:
            names += [n for n in when_facts(lim.when) if n not in names]
        per_kg_limit = any(lim.max_single_per_kg or lim.max_daily_per_kg for lim in drug.limits)
        if (per_kg_limit or per_kg_dose) and "patient.weight_kg" not in names:
            names.append("patient.weight_kg")
        hit = _FACTS[(drug.id, per_kg_dose)] = tuple(names)
    return hit


def dose_units(ctx: Context) -> Iterator[Unit]:
    """One unit per drug: all of the patient's orders of it (daily totals are per ingredient)."""
    drugs = ctx.formulary.drugs
    for drug_id, orders in sorted(ctx.by_drug.items()):
        drug = drugs[drug_id]
        if drug.limits:
            per_kg_dose = any(o.dose_per_kg is not None for o in orders)
            yield Unit(drug_id, tuple(orders), _drug_facts(drug, per_kg_dose))


class _AsElement:
    """An order of a salt written by salt weight, seen as its element (calcium carbonate 1,250 mg
    as 500 mg calcium): the limits are elemental."""

    __slots__ = ("_order", "_f", "dose", "other_doses", "daily")

    def __init__(self, order: Any, fraction: float):
        self._order, self._f = order, fraction
        self.dose = order.dose * fraction if order.dose is not None else None
        self.other_doses = tuple(d * fraction for d in order.other_doses)
        self.daily = order.daily * fraction if order.daily is not None else None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._order, name)


def _as_element(drug: Drug, orders: list[Any]) -> tuple[list[Any], list[dict[str, Any]]]:
    """Orders of a salt whose single dose is above any elemental dose, converted; and what was done."""
    from rules.safety_data import safety

    salt = safety().salts.get(drug.id)
    if salt is None:
        return orders, []
    out: list[Any] = []
    notes: list[dict[str, Any]] = []
    for o in orders:
        if o.dose is not None and o.dose > salt.read_as_salt_above:
            e = _AsElement(o, salt.fraction)
            notes.append({"medication": o.index, "ordered": qty(o.dose, o.unit, f" {salt.salt}"),
                          "elemental": qty(o.dose * salt.fraction, o.unit, f" {salt.element}"),
                          "fraction": salt.fraction})  # fmt: skip
            out.append(e)
        else:
            out.append(o)
    return out, notes


def evaluate_doses(inp: Input) -> Iterator[Finding]:
    drug = inp.formulary.drugs[inp.item]
    orders, converted = _as_element(drug, list(inp.orders))
    found: list[Finding] = []
    for kind, limits, replaced in _by_kind(drug.limits):
        found.extend(_evaluate(kind, drug, orders, limits, inp.ctx, replaced))
    if len(orders) > 1:
        found.extend(_combined_course(drug, orders, inp.ctx))
    if not converted:
        yield from found
        return
    said = "; ".join(f"{n['ordered']} read as {n['elemental']}" for n in converted)
    for x in found:
        yield replace(x, message=f"{x.message} (Salt weight converted to elemental: {said}.)",
                      evidence={**x.evidence, "salt_converted": converted})  # fmt: skip


DOSE = Evaluator(
    "dose",
    dose_units,
    evaluate_doses,
    reads=("route", "unit", "dose", "other_doses", "dose_per_kg", "interval_h", "duration_days",
           "dose_number", "course_doses", "daily", "prn", "capped", "release", "family"),  # fmt: skip
)
