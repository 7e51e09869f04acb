"""From a medication as sent to an order the rules can check: drug resolved, dose in the drug's
canonical unit, frequency as an interval, daily amount computed.

Everything that cannot be interpreted becomes a finding here, so no order passes unchecked
without saying so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from checker.daily_caps import PER_DAY as _PER_DAY
from checker.daily_caps import line_cap, stated_cap, unread_cap
from checker.daily_caps import unit_factor as _factor
from checker.findings import finding
from checker.frequency import Frequency, parse_frequency
from checker.model import Finding, Medication, Patient
from checker.product_doses import (
    LineDose,
    count_text,
    is_each,
    label_of,
    plan_doses,
    release_classes,
    unknown_part,
)
from checker.sig import Phase, Sig, parse_sig
from formulary import Drug, Formulary
from formulary.resolve import Resolved
from formulary.units import UnitError, dimensionality

_PER_KG = re.compile(r"\s*/\s*kg\s*$", re.IGNORECASE)
_COUNT_DIM = "[dose_form]"
_RATE = re.compile(r"/\s*(?:h|hr|hour|min|minute)$")  # patches and infusions: amount per time


@dataclass(frozen=True, slots=True)
class Order:
    """A medication as the rules see it. Doses are floats in `unit`; None means unknown."""

    index: int
    input: str
    drug: Drug | None
    classes: frozenset[str]
    route: str | None
    unit: str = ""
    dose: float | None = None
    dose_low: float | None = None
    dose_per_kg: float | None = None
    frequency: Frequency | None = None
    prn: bool = False
    daily: float | None = None
    capped: bool = False
    duration_days: float | None = None
    dose_number: int | None = None
    course_doses: int | None = None
    other_doses: tuple[float, ...] = ()
    is_rate: bool = False
    problems: tuple[Finding, ...] = field(default=())
    product: str | None = None  # product id when the order named one ("Norco 10/325", an RxCUI)
    release: str | None = None  # immediate | extended | None (not stated)
    family: str | None = None  # the product line (products.toml row) when the order names one
    part: int = 0  # which active ingredient of the medication this line is (0 for most orders)
    parts: int = 1  # how many active ingredients the medication has
    suggestions: tuple[str, ...] = ()  # for an unknown name: known names it may have meant
    # Derived once (rules read them for every unit of every evaluator):
    line: tuple[int, int] = field(init=False, repr=False)  # unique per order line (index, part)
    drug_id: str | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "line", (self.index, self.part))
        object.__setattr__(self, "drug_id", self.drug.id if self.drug else None)

    @property
    def interval_h(self) -> float | None:
        """The interval the interval rules check: for schedules added up with different intervals,
        the shortest of them (`Frequency.shortest_h`), not their average."""
        f = self.frequency
        return None if f is None else f.shortest_h or f.interval_h

    @property
    def scheduled(self) -> bool:
        return not self.prn


def _top_phase(phases: tuple[Phase, ...]) -> tuple[Phase | None, tuple[Phase, ...]]:
    """The phase the order ends up at: titration targets and maintenance after a bolus."""
    dosed = [p for p in phases if p.dose is not None]
    if not dosed:
        return None, ()
    maintenance = [p for p in dosed if not p.bolus] or dosed
    return maintenance[-1], tuple(p for p in dosed if p is not maintenance[-1])


class _Problems(list[Finding]):
    """Findings about one order's own text (sig, route, unit, frequency), in the order found."""

    def __init__(self, drug: Drug | None, index: int):
        super().__init__()
        self.ids: tuple[str, ...] = (drug.id,) if drug else ()
        self.medication = index

    def add(self, code: str, severity: str, message: str, rec: str = "") -> None:
        self.append(finding(code, code.split(".")[0], severity, self.ids, (self.medication,), message, rec))


@dataclass(frozen=True, slots=True)
class _Amount:
    """A dose converted to the drug's unit: per administration, per kg, and any other phases."""

    value: float | None = None
    low: float | None = None
    per_kg: float | None = None
    per_day: bool = False
    others: tuple[float, ...] = ()
    others_daily: tuple[float, ...] = ()  # the daily amount of each other scheduled phase


def _code_mismatch(f: Formulary, med: Medication, res: Resolved) -> tuple[str, str, str, str] | None:
    """A code and a name that name different drugs: the code is checked (it is what an order-entry
    system dispenses), but every check may be about the wrong drug, so it is said. A name that names
    fewer ingredients than the code ("oxycodone" on a Percocet code) is an abbreviation, not a clash."""
    if not (med.rxcui or med.atc) or not med.drug or med.drug.strip().isdigit():
        return None
    by_name = f.resolve(med.drug)
    if by_name is None:
        return None
    named, coded = {d.id for d in by_name.drugs}, {d.id for d in res.drugs}
    if named <= coded:
        return None
    code = f"RxCUI {med.rxcui}" if med.rxcui else f"ATC {med.atc}"
    return (
        "input.code_mismatch",
        "major",
        f"The name {med.drug!r} ({', '.join(sorted(named))}) and {code} ({', '.join(sorted(coded))}) do not "
        "name the same drug; it was checked as the code says, so its checks may be about the wrong drug.",
        "Confirm which drug is meant and correct the name or the code before this order is given.",
    )


def build_orders(med: Medication, patient: Patient, f: Formulary) -> tuple[Order, ...]:
    """One order line per active ingredient, all with the medication's index: "Norco 10/325 1-2 tabs
    q4h" is a hydrocodone and an acetaminophen line, each with its amount per dose, so daily limits,
    MME, interactions and duplication see every ingredient; a plain order is one line."""
    res = f.resolve(med.drug, med.rxcui, med.atc)
    name = med.drug or (f"rxcui {med.rxcui}" if med.rxcui else f"atc {med.atc}")
    sig = parse_sig(med.sig) if med.sig else None
    top, others = _top_phase(sig.phases) if sig else (None, ())
    lead = _Problems(res.drugs[0] if res and len(res.drugs) == 1 else None, med.index)
    _sig_problems(med, sig, name, lead)
    frequency = parse_frequency(med.frequency) if med.frequency else (top.frequency if top else None)
    prn = bool(med.prn) if med.prn is not None else bool(sig and sig.prn or frequency and frequency.prn)
    route_text = med.route or (top.route if top else None)
    if res is None:
        classes = f.classes_for_atc(med.atc) if med.atc else frozenset()
        hints = tuple(f.suggest(med.drug)) if med.drug else ()
        return (Order(med.index, name, None, classes, f.route(route_text), prn=prn, frequency=frequency,
                      problems=tuple(lead), suggestions=hints),)  # fmt: skip
    lead.ids = tuple(d.id for d in res.drugs)
    if note := unknown_part(res, name):
        lead.add(*note)
    if note := _code_mismatch(f, med, res):
        lead.add(*note)
    if route_text is None and res.route:
        route_text = res.route
    dose = med.dose if med.dose is not None else (top.dose if top else None)
    dose_low = med.dose_low if med.dose is not None else (top.dose_low if top else None)
    unit = med.unit or (top.unit if top else None)
    plan = plan_doses(res, dose, dose_low, unit, others, name)
    if plan.problem:
        lead.add(*plan.problem)
    if med.frequency and frequency is None:
        lead.add(
            "input.frequency_unknown",
            "moderate",
            f"Frequency {med.frequency!r} for {label_of(res, name)} is not understood; the daily total "
            "counts one dose.",
            "Use a standard frequency such as q6h, bid or weekly.",
        )
    lines = []
    for i, drug in enumerate(res.drugs):
        problems = lead if i == 0 else _Problems(drug, med.index)
        problems.ids = lead.ids
        lines.append(_line(med, patient, f, drug, i, plan.lines[i], route_text, frequency, prn, sig, res,
                           problems, name))  # fmt: skip
    return tuple(lines)


def build_order(med: Medication, patient: Patient, f: Formulary) -> Order:
    """The first ingredient line only, for callers with one line per medication (the batch audit);
    a combination product says so on that line rather than pass its other ingredients silently."""
    lines = build_orders(med, patient, f)
    first = lines[0]
    if len(lines) == 1:
        return first
    rest = ", ".join(o.drug.name for o in lines[1:] if o.drug)
    note = _Problems(first.drug, med.index)
    note.ids = tuple(o.drug_id for o in lines if o.drug_id)
    note.add(
        "input.combination_partial",
        "moderate",
        f"{first.input} also contains {rest}; only its {first.drug.name if first.drug else 'first'} part "
        "was checked here.",
        "Check the regimen with `check()` / POST /v1/check, which sums every ingredient.",
    )
    return replace(first, problems=(*first.problems, *note))


def _line(med: Medication, patient: Patient, f: Formulary, drug: Drug, part: int, dose: LineDose,
          route_text: str | None, frequency: Frequency | None, prn: bool, sig: Sig | None, res: Resolved,
          problems: _Problems, name: str) -> Order:  # fmt: skip
    checkable = bool(drug.limits) or "opioid" in drug.classes
    injection = res.product is not None and res.product.form == "injection"
    route = _route(drug, route_text, f, problems, checkable, injection)
    target = drug.unit_for(route)
    if dose.unit and _RATE.search(dose.unit) and not _RATE.search(target):
        target = dose.unit  # a patch strength of a drug dosed in mg elsewhere (buprenorphine µg/h)
    is_rate = bool(_RATE.search(target))
    amount = _amount(dose.value, dose.low, dose.unit, drug, target, is_rate, patient, dose.others, problems,
                     checkable)  # fmt: skip
    if amount.per_day and frequency is None:
        frequency = parse_frequency("daily")
    if part == 0 and amount.value is not None and frequency is None and not med.frequency and not is_rate:
        problems.add(  # the daily limits were checked on an assumption that may under-count
            "input.frequency_missing",
            "minor" if checkable else "info",
            f"No frequency given for {label_of(res, name)}; the daily total counts one dose.",
        )
    daily, capped = _daily(amount.value, frequency, is_rate)
    if daily is not None and amount.others_daily and med.dose is None and med.frequency is None:
        # a taper's or a titration's heaviest day, not its last step: "1.5 g q4h x 1 day, then
        # 500 mg q6h" is 9 g on the first day (the daily total read 2 g/day)
        daily = max(daily, *amount.others_daily)
    course = sig.course_doses if sig else None
    every = frequency.interval_h if frequency else None
    if daily is not None and amount.value is not None and course and every and every * course <= 24:
        # "2 mg IV q5min x3": three doses in a quarter of an hour, not 288 a day (a titration or
        # loading order counted as if repeated all day made a 1,728 MME/day false alarm)
        daily, capped = min(daily, amount.value * course), True
    if (stated := stated_cap(med, sig)) is not None:
        cap = line_cap(stated, res, part, drug, target)
        if isinstance(cap, str):
            if part == 0:
                problems.add(*unread_cap(med, stated, cap, label_of(res, name), daily is not None))
        elif daily is not None and cap < daily:
            daily, capped = cap, True
    duration = med.duration_days if med.duration_days is not None else (sig.duration_days if sig else None)
    release = res.product.release if res.product else res.release
    if sig and sig.release and release != sig.release:
        if release is None:
            release = sig.release  # "morphine" with "30 mg q12h ER": the sig names the release
        elif part == 0:
            problems.add(
                "input.release_conflict",
                "moderate",
                f"The sig for {label_of(res, name)} says {sig.release}-release, but the product ordered is "
                f"{release}-release; it was checked as {release}-release.",
                "Confirm which product is meant and correct the order.",
            )
    return Order(
        index=med.index,
        input=name,
        drug=drug,
        classes=release_classes(drug, release or drug.plain_release, f),  # plain "oxycodone" is IR
        route=route,
        unit=target,
        dose=amount.value,
        dose_low=amount.low,
        dose_per_kg=amount.per_kg,
        frequency=frequency,
        prn=prn,
        daily=daily,
        capped=capped,
        duration_days=duration,
        dose_number=med.dose_number,
        course_doses=sig.course_doses if sig else None,
        other_doses=amount.others,
        is_rate=is_rate,
        problems=tuple(problems),
        product=(res.product.id or None) if res.product else None,
        release=release,
        family=res.family,
        part=part,
        parts=len(res.drugs),
    )


def _sig_problems(med: Medication, sig: Sig | None, name: str, problems: _Problems) -> None:
    if sig and not sig.understood:
        problems.add(
            "input.sig_unparsed",
            "moderate",
            f"The sig {med.sig!r} for {name} gave no dose that could be read.",
            "Send the dose, unit and frequency as separate fields.",
        )
    elif sig and sig.dose_unparsed:
        problems.add(
            "input.sig_dose_unclear",
            "moderate",
            f"The dose of {name} was not fully checked: in the sig {med.sig!r} these words were not "
            f"understood and could change the dose or frequency: {', '.join(sig.dose_unparsed)}.",
            "Send the dose, unit and frequency as separate fields, or rewrite the sig.",
        )
    elif sig and sig.unparsed:
        problems.add(
            "input.sig_partial",
            "info",
            f"In the sig for {name}, these words were not understood: {', '.join(sig.unparsed)}.",
            "Check that the order says what was meant.",
        )


def _route(
    drug: Drug,
    route_text: str | None,
    f: Formulary,
    problems: _Problems,
    checkable: bool = True,
    injection: bool = False,
) -> str | None:
    """The canonical route; a missing or unknown one falls back to the drug's first (for a product
    named as an injection, its first parenteral route), and says so.

    A drug with no listed routes (reference-only) has nothing a route could change: no finding.
    """
    route = f.route(route_text) if route_text else None
    if not drug.routes:  # a reference-only drug lists no routes: there is no route rule to apply
        return route
    if route_text and route is None and (either := _either_route(drug, route_text, f)):
        route, others = either
        problems.add(
            "input.route_either",
            "minor",
            f"Route {route_text!r} lets {drug.name} be given {' or '.join((route, *others))}; it was "
            f"checked as {route}{', the parenteral route,' if route in _PARENTERAL else ''} and not "
            f"against the {'/'.join(others)} limits.",
            "Order each route separately, or confirm the doses suit both.",
        )
        return route
    if route_text and route is None:
        problems.add(  # a route decides limits and opioid equivalence: more than minor where they differ
            "input.route_unknown",
            "moderate" if checkable and len(drug.routes) > 1 else "minor",
            f"Route {route_text!r} for {drug.name} is not recognised; limits for "
            f"{drug.routes[0] if drug.routes else 'any'} route were applied.",
            "Give one route the checker knows (oral, iv, sc, im, transdermal …).",
        )
    if route is None and injection and route_text is None:
        parenteral = [r for r in _PARENTERAL if r in drug.routes]
        if parenteral:  # "morphine 2 mg/mL injection" is not the oral solution of that strength
            problems.add(
                "input.route_assumed",
                "minor" if checkable else "info",
                f"No route given for {drug.name}, ordered as an injection; its dose limits and opioid "
                f"load were judged for the {parenteral[0]} route.",
                "Give the route: limits and opioid equivalence differ between iv, im and sc.",
            )
            return parenteral[0]
    if route is None and drug.routes:
        if route_text is None and len(drug.routes) > 1 and checkable:
            # An opioid's limits and MME factor differ by route (IV hydromorphone is about five times
            # oral): assuming one could change the dose judged, so it is more than info.
            opioid = "opioid" in drug.classes
            problems.add(
                "input.route_assumed",
                "minor" if opioid else "info",
                f"No route given for {drug.name}; its dose limits and opioid load were judged for the "
                f"{drug.routes[0]} route."
                if opioid
                else f"No route given for {drug.name}; checked as {drug.routes[0]}.",
                "Give the route: an opioid's limits and equivalence differ by route." if opioid else "",
            )
        return drug.routes[0]
    if route not in drug.routes:
        problems.add(
            "input.route_unlabelled",
            "moderate" if checkable else "info",
            f"{drug.name} has no labelled {route} route"
            f"{f' (written {route_text!r})' if route_text and route_text.strip().lower() != route else ''}; "
            "its dose limits could not be applied.",
            "Confirm the route and product.",
        )
    return route


_PARENTERAL = ("iv", "im", "sc")


def _either_route(drug: Drug, text: str, f: Formulary) -> tuple[str, tuple[str, ...]] | None:
    """ "PO/IV", "IV or PO": a route to be chosen at the bedside. Checked as the parenteral route
    among them the drug is labelled for (IV morphine is three times oral in MME): the stronger
    reading, said so in a finding. None when the text is not two or more known routes."""
    parts = [f.route(p) for p in re.split(r"\s*(?:/|,|\bor\b)\s*", text.strip(), flags=re.IGNORECASE) if p]
    routes = tuple(dict.fromkeys(r for r in parts if r))
    if len(parts) < 2 or len(routes) != len(parts) or len(routes) < 2:
        return None
    labelled = [r for r in routes if r in drug.routes]
    chosen = next((r for r in _PARENTERAL if r in labelled), labelled[0] if labelled else None)
    if chosen is None:
        return None
    return chosen, tuple(r for r in routes if r != chosen)


def _amount(
    dose: float | None,
    low: float | None,
    unit: str | None,
    drug: Drug,
    target: str,
    is_rate: bool,
    patient: Patient,
    others: tuple[Phase, ...],
    problems: _Problems,
    checkable: bool = True,
) -> _Amount:
    """Convert the dose once to the drug's unit; a unit that will not convert is a finding."""
    if dose is None:
        if drug.limits:  # minor, not info: the limits were not checked (a CDS info card, not a warning)
            problems.add(
                "input.dose_missing",
                "minor",
                f"No dose was given for {drug.name}, so its dose limits were not checked.",
                "Send the dose and unit (or a sig) to have the dose checked.",
            )
        return _Amount()
    if not unit:
        problems.add(
            "unit.missing",
            "moderate" if checkable else "info",
            f"{drug.name} dose {dose:g} has no unit, so it was not checked.",
            f"Give the unit, e.g. {target}.",
        )
        return _Amount()
    u, per_kg, per_day = unit, False, False
    if _PER_KG.search(u):
        per_kg, u = True, _PER_KG.sub("", u)
    if not is_rate and _PER_DAY.search(u):
        per_day, u = True, _PER_DAY.sub("", u)
    try:
        factor = _factor(u, drug, target)
    except UnitError:
        if _is_count(u):
            problems.add(
                "unit.dose_form",
                "moderate" if checkable else "info",
                f"{drug.name} is ordered as {count_text(dose, unit)}; without the strength per "
                f"{'unit' if is_each(u) else u} the dose cannot be checked.",
                f"Order {drug.name} in {target}, or give the product strength.",
            )
        else:
            problems.add(
                "unit.wrong_kind",
                "major" if checkable else "info",
                f"{drug.name} is dosed in {target}; {unit!r} is "
                f"{'not a unit of that kind' if _is_unit(u) else 'not a unit the checker knows'}, "
                "so the dose was not checked.",
                f"Re-enter the dose in {target}{_per_kg_hint(drug, target)}.",
            )
        return _Amount(per_day=per_day)
    weight = patient.weight_kg
    value: float | None
    value_per_kg: float | None
    if per_kg:
        value_per_kg = dose * factor
        value = value_per_kg * weight if weight else None
    else:
        value = dose * factor
        value_per_kg = None  # per kg of an absolute dose: the dose rules divide by the weight they read
    if low is not None:
        low = low * factor * (weight if per_kg and weight else 1)
    converted, daily = [], []
    for p in others:
        if p.dose is not None and p.unit and not _PER_KG.search(p.unit):
            try:
                converted.append(p.dose * _factor(p.unit, drug, target))
            except UnitError:
                continue
            if p.frequency is not None and not p.bolus:
                daily.append(converted[-1] * p.frequency.doses_per_day)
    return _Amount(value, low, value_per_kg, per_day, tuple(converted), tuple(daily))


def _per_kg_hint(drug: Drug, target: str) -> str:
    return f" or {target}/kg" if any(lim.max_single_per_kg for lim in drug.limits) else ""


def _is_unit(unit: str) -> bool:
    try:
        dimensionality(unit)
        return True
    except UnitError:
        return False


def _is_count(unit: str) -> bool:
    try:
        return dimensionality(unit) == _COUNT_DIM
    except UnitError:
        return False


def _daily(value: float | None, frequency: Frequency | None, is_rate: bool) -> tuple[float | None, bool]:  # noqa: E501
    if value is None or is_rate:
        return None, False
    return value * (frequency.doses_per_day if frequency else 1.0), False
