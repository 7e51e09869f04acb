"""The checking engine: interpret the orders, run every rule evaluator, sort the findings.

Pure: no Flask, no files, no network. Knowledge is loaded once per process and shared.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from checker.findings import finding
from checker.model import Finding, Medication, Patient, Regimen, Report
from checker.orders import Order, build_orders
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


def order_summary(o: Order | Sequence[Order]) -> dict[str, Any]:
    """A medication as read: its drug, dose and interval and, per active ingredient, the amount
    per dose and per day (`ingredients`), so a combination product's parts are visible."""
    lines = (o,) if isinstance(o, Order) else tuple(o)
    first = lines[0]
    known = [x for x in lines if x.drug]
    out: dict[str, Any] = {"index": first.index, "input": first.input}
    out["drug"] = "/".join(x.drug.id for x in known if x.drug) if known else None
    if first.product:
        out["product"] = first.product
    if first.family:
        out["product_line"] = first.family  # "tramadol_er" for Ultram ER: whose scoped dose rows apply
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


_WEIGHTLESS = Patient()


def _per_kg(m: Medication) -> bool:
    """Could the order be dosed per kg (so that building it reads the weight)? Any "kg" in its text."""
    return any("kg" in t.lower() for t in (m.unit, m.sig, m.max_daily_unit) if t)


def run(regimen: Regimen, f: Formulary | None = None, rules: tuple[Evaluator, ...] | None = None) -> Report:
    """Check a validated regimen. `f` and `rules` exist so tests and hosts can swap knowledge."""
    f = f or load_formulary()
    k = rules_knowledge()
    memo = _memo(f, k)
    built, weight = memo.table("orders"), regimen.patient.weight_kg
    per_med = []
    for m in regimen.medications:
        # build_orders reads the medication (index included) and, for a per-kg dose, the weight.
        mk = (m, weight if _per_kg(m) else None)
        entry = built.get(mk)
        if entry is None:
            lines = build_orders(m, regimen.patient if mk[1] is not None else _WEIGHTLESS, f)
            problems = tuple(x for o in lines for x in (*o.problems, *(() if o.drug else (unrecognized(o),))))
            entry = built[mk] = (lines, order_summary(lines), problems)
        per_med.append(entry)
    orders = [line for e in per_med for line in e[0]]
    ctx = Context(patient=regimen.patient, orders=orders, formulary=f, knowledge=k)
    found: list[Finding] = [x for e in per_med for x in e[2]]
    for ev in rules if rules is not None else evaluators():
        found.extend(run_evaluator(ev, ctx, memo))
    memo.regimen_done()
    unique = {(x.code, x.drugs, x.medications, x.message): x for x in found}
    ordered = tuple(sorted(unique.values(), key=Finding.sort_key))
    return Report(knowledge_version(), ordered, tuple(e[1] for e in per_med))
