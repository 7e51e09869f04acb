"""The checking engine: interpret the orders, run every rule evaluator, sort the findings.

Pure: no Flask, no files, no network. Knowledge is loaded once per process and shared.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import cache

from checker.findings import finding
from checker.model import Finding, Regimen, Report
from checker.orders import Order, build_order
from checker.quantities import num, qty
from formulary import KNOWLEDGE_RELEASE, Formulary
from formulary import load as load_formulary
from rules import evaluators, knowledge_digest
from rules.context import Context
from rules.knowledge import knowledge as rules_knowledge

Evaluator = Callable[[Context], Iterable[Finding]]


@cache
def knowledge_version() -> str:
    f = load_formulary()
    return f"{KNOWLEDGE_RELEASE}+{_digest(f)[:8]}"


def _digest(f: Formulary) -> str:
    import hashlib

    return hashlib.sha256((f.digest + knowledge_digest()).encode()).hexdigest()


def unrecognized(o: Order) -> Finding:
    hint = f" (class: {', '.join(sorted(o.classes))})" if o.classes else ""
    return finding(
        "unrecognized.drug",
        "unrecognized",
        "moderate",
        (),
        (o.index,),
        f"{o.input!r} is not in the formulary{hint}; its dose and interactions were not checked.",
        "Check the spelling, or give an RxCUI or ATC code; review this medication by hand.",
    )


def order_summary(o: Order) -> dict:
    out: dict = {"index": o.index, "input": o.input, "drug": o.drug_id}
    if o.drug and o.route:
        out["route"] = o.route
    if o.dose is not None:
        out["dose"] = qty(o.dose, o.unit)
    if o.is_rate and o.dose is not None:
        out["daily_dose"] = qty(o.dose, o.unit)
    elif o.daily is not None and (o.interval_h is None or o.interval_h <= 24):
        out["daily_dose"] = qty(o.daily, o.unit, "/day")  # a weekly or monthly dose has no daily figure
    if o.interval_h is not None:
        out["interval_h"] = float(num(o.interval_h)) if "." in num(o.interval_h) else int(num(o.interval_h))  # noqa: E501
    if o.prn:
        out["prn"] = True
    return out


def run(regimen: Regimen, f: Formulary | None = None, rules: tuple[Evaluator, ...] | None = None) -> Report:
    """Check a validated regimen. `f` and `rules` exist so tests and hosts can swap knowledge."""
    f = f or load_formulary()
    orders = [build_order(m, regimen.patient, f) for m in regimen.medications]
    ctx = Context(patient=regimen.patient, orders=orders, formulary=f, knowledge=rules_knowledge())
    found: list[Finding] = []
    for o in orders:
        found.extend(o.problems)
        if o.drug is None:
            found.append(unrecognized(o))
    for evaluate in rules if rules is not None else evaluators():
        found.extend(evaluate(ctx))
    unique = {(x.code, x.drugs, x.medications, x.message): x for x in found}
    ordered = tuple(sorted(unique.values(), key=Finding.sort_key))
    return Report(knowledge_version(), ordered, tuple(order_summary(o) for o in orders))
