"""The checking engine: interpret the orders, run every rule evaluator, sort the findings.

Pure: no Flask, no files, no network. Knowledge is loaded once per process and shared.
"""

from __future__ import annotations

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
from rules.mechanism import Evaluator, Memo, run_evaluator

_MEMOS: dict[tuple[int, int], tuple[object, object, Memo]] = {}


def _memo(f: Formulary, k: object) -> Memo:
    """One memo per formulary and knowledge base; holding both keeps their ids (the key) unique."""
    hit = _MEMOS.get((id(f), id(k)))
    if hit is None:
        hit = _MEMOS[(id(f), id(k))] = (f, k, Memo())
    return hit[2]


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
    k = rules_knowledge()
    memo = _memo(f, k)
    built, weight = memo.table("orders"), regimen.patient.weight_kg
    orders = []
    for m in regimen.medications:
        # build_order reads the medication (index included) and the patient's weight only.
        entry = built.get((m, weight))
        if entry is None:
            o = build_order(m, regimen.patient, f)
            problems = (*o.problems, *(() if o.drug else (unrecognized(o),)))
            entry = built[(m, weight)] = (o, order_summary(o), problems)
        orders.append(entry)
    ctx = Context(patient=regimen.patient, orders=[e[0] for e in orders], formulary=f, knowledge=k)
    found: list[Finding] = [x for e in orders for x in e[2]]
    for ev in rules if rules is not None else evaluators():
        found.extend(run_evaluator(ev, ctx, memo))
    unique = {(x.code, x.drugs, x.medications, x.message): x for x in found}
    ordered = tuple(sorted(unique.values(), key=Finding.sort_key))
    return Report(knowledge_version(), ordered, tuple(e[1] for e in orders))
