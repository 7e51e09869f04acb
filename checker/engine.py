"""The checking engine: interpret the orders, run every rule evaluator, sort the findings.

Pure: no Flask, no files, no network. Knowledge is loaded once per process and shared.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import cache

from checker.findings import finding
from checker.model import Finding, Regimen, Report
from checker.orders import Order, build_orders
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
    meant = f" Did you mean {' or '.join(repr(s) for s in o.suggestions)}?" if o.suggestions else ""
    return finding(
        "unrecognized.drug",
        "unrecognized",
        "minor",
        (),
        (o.index,),
        f"{o.input!r} is not a drug name the checker knows{hint}; its dose and interactions were not "
        f"checked.{meant}",
        "Check the spelling, or give an RxCUI or ATC code; review this medication by hand.",
        {"suggestions": list(o.suggestions)} if o.suggestions else None,
    )


def order_summary(o: Order | Sequence[Order]) -> dict:
    """A medication as read: its drug, dose and interval and, per active ingredient, the amount
    per dose and per day (`ingredients`), so a combination product's parts are visible."""
    lines = (o,) if isinstance(o, Order) else tuple(o)
    first = lines[0]
    known = [x for x in lines if x.drug]
    out: dict = {"index": first.index, "input": first.input}
    out["drug"] = "/".join(x.drug_id for x in known) if known else None
    if first.product:
        out["product"] = first.product
    if first.release:
        out["release"] = first.release
    if first.drug and first.route:
        out["route"] = first.route
    amounts = [(x, qty(x.dose, x.unit) if x.dose is not None else None, _daily_text(x)) for x in known]
    if len(lines) == 1 and amounts:
        _, amount, daily = amounts[0]
        if amount is not None:
            out["dose"] = amount
        if daily is not None:
            out["daily_dose"] = daily
    if first.interval_h is not None:
        text = num(first.interval_h)
        out["interval_h"] = float(text) if "." in text else int(text)
    if first.prn:
        out["prn"] = True
    if known:
        out["ingredients"] = [{"drug": x.drug_id, "amount": a, "daily": d} for x, a, d in amounts]
    return out


def _daily_text(o: Order) -> str | None:
    if o.is_rate and o.dose is not None:
        return qty(o.dose, o.unit)
    if o.daily is not None and (o.interval_h is None or o.interval_h <= 24):
        return qty(o.daily, o.unit, "/day")  # a weekly or monthly dose has no daily figure
    return None


def run(regimen: Regimen, f: Formulary | None = None, rules: tuple[Evaluator, ...] | None = None) -> Report:
    """Check a validated regimen. `f` and `rules` exist so tests and hosts can swap knowledge."""
    f = f or load_formulary()
    per_med = [build_orders(m, regimen.patient, f) for m in regimen.medications]
    orders = [line for lines in per_med for line in lines]
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
    return Report(knowledge_version(), ordered, tuple(order_summary(lines) for lines in per_med))
