"""Patient-context cautions (renal, hepatic, age, condition, labs) and required checks.

A caution fires only when the patient is known to fall under it; when the facts are missing
the matching required check says what is needed and why, so nothing passes silently and
nothing is assumed normal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from checker.findings import finding, source_block
from checker.model import Finding
from checker.orders import Order
from checker.quantities import num
from rules.context import Context
from rules.mechanism import ContextView, Evaluator, Input, Unit, when_facts
from rules.model import Caution


def _selected(keys: frozenset[str], routes: tuple[str, ...], ctx: Context, but: frozenset[str] = frozenset()
              ) -> list[Order]:  # fmt: skip
    """The orders a caution or check covers. An order whose route is not known (a vocabulary drug
    ordered with no route: "naproxen 500 mg bid") is covered by a rule limited to some routes: it
    may well be given by one of them, and a caution missed is worse than one said in excess."""
    tags = ctx.tags
    return [
        o
        for o in ctx.orders
        if keys & tags[o.line]
        and not but & tags[o.line]
        and (not routes or o.route is None or o.route in routes)
    ]


def _dose_number_fits(c: Caution, o: Order) -> bool:
    n = o.dose_number or 1  # an unnumbered dose is judged as a first dose: the stricter thresholds
    return (c.dose_number_max is None or n <= c.dose_number_max) and (
        c.dose_number_min is None or n >= c.dose_number_min
    )


def _evidence(c: Caution, ctx: ContextView) -> dict[str, Any]:
    p, w = ctx.patient, c.when
    ev: dict[str, Any] = {}
    if w.uses_crcl:
        ev.update(ctx.renal.evidence())
    if w.age_min is not None or w.age_over is not None or w.age_below is not None:
        ev["age_years"] = num(p.age_years) if p.age_years is not None else None
    if w.hepatic:
        ev["hepatic_impairment"] = p.hepatic_impairment
    if w.conditions:
        ev["conditions"] = sorted(set(w.conditions) & ctx.conditions)
    labs = (
        ("qtc_ms", lambda: p.qtc_ms, (w.qtc_min, w.qtc_max, w.qtc_over, w.qtc_below)),
        ("serum_calcium_mg_dl", lambda: ctx.corrected_calcium, (w.calcium_below, w.calcium_over)),
        ("platelets_10e9_l", lambda: p.platelets_10e9_l, (w.platelets_below,)),
        ("anc_10e9_l", lambda: p.anc_10e9_l, (w.anc_below,)),
        ("hemoglobin_g_dl", lambda: p.hemoglobin_g_dl, (w.hemoglobin_below,)),
    )
    for name, read, bounds in labs:
        if any(b is not None for b in bounds):
            value = read()
            ev[name] = num(value) if value is not None else None
    if w.calcium_below is not None or w.calcium_over is not None:
        # Without albumin the figure is the measured total: say so, a card must not pass it as corrected
        known = p.albumin_g_dl is not None
        ev["calcium_basis"] = "albumin-corrected" if known else "uncorrected (albumin unknown)"
    return ev


def _renal_text(c: Caution, ctx: ContextView) -> str:
    """The caution's message naming the renal measure it was judged on, and how it was had."""
    if not c.when.uses_crcl:
        return c.message
    r, placeholder = ctx.renal, "CrCl {crcl_ml_min} mL/min"
    said = r.phrase + (", estimated by Cockcroft-Gault" if r.estimated else "")
    if placeholder in c.message:
        egfr_note = " eGFR was used: CrCl was neither given nor estimable." if r.measure == "eGFR" else ""
        return c.message.replace(placeholder, said) + egfr_note
    return c.message + r.note()


def caution_units(ctx: Context) -> Iterator[Unit]:
    """One unit per caution the patient is known to fall under: the orders it selects."""
    index = ctx.knowledge.cautions_by_key
    candidates = {id(c): c for o in ctx.orders for t in ctx.tags[o.line] for c in index.get(t, ())}
    for c in candidates.values():  # the report sorts findings; no order needed here
        if ctx.matches(c.when) is not True:  # unknown facts are checks.toml's business
            continue
        orders = tuple(
            o
            for o in _selected(c.keys, c.routes, ctx, c.except_keys)
            if (c.prn is None or o.prn == c.prn) and _dose_number_fits(c, o)
        )
        if orders:
            yield Unit(c, orders, _facts_of(c, partial(when_facts, c.when)))


def evaluate_caution(inp: Input) -> Iterator[Finding]:
    c, ctx, orders = inp.item, inp.ctx, inp.orders
    if ctx.matches(c.when) is not True:
        return
    names = ", ".join(sorted({o.name for o in orders}))
    ev = _evidence(c, ctx)
    values = {k: v for k, v in ev.items() if not isinstance(v, list)}
    message = _renal_text(c, ctx).format(drug=names, **values)
    yield finding(
        f"{c.category}.{c.id}",
        c.category,
        c.severity,
        [o.drug_id for o in orders if o.drug_id],
        [o.index for o in orders],
        message,
        c.recommendation,
        ev,
        source_block(inp.knowledge, c.source, c.verified, c),
        rule=f"{c.category}.{c.id}",
    )


# The patient facts each kind of required check reads.
NEEDS: dict[str, tuple[str, ...]] = {
    "renal_function": ("renal",),
    "serum_calcium": ("patient.serum_calcium_mg_dl",),
    "blood_counts": ("patient.platelets_10e9_l", "patient.anc_10e9_l", "patient.hemoglobin_g_dl"),
    "qtc": ("patient.qtc_ms",),
    "opioid_tolerant": ("patient.opioid_tolerant",),
    "dental_exam_done": ("patient.dental_exam_done",),
    "weight": ("patient.weight_kg",),
    "age": ("patient.age_years",),
    "hepatic_function": ("patient.hepatic_impairment",),
}


def _missing(need: str, ctx: ContextView) -> list[str]:
    p = ctx.patient
    match need:
        case "renal_function":
            known = ctx.renal.known  # the same decision the renal bands use
            return [] if known else ["renal function (CrCl, eGFR or serum creatinine with age, weight, sex)"]
        case "serum_calcium":
            return [] if p.serum_calcium_mg_dl is not None else ["serum calcium"]
        case "blood_counts":
            counts = (
                ("platelet count", p.platelets_10e9_l),
                ("ANC", p.anc_10e9_l),
                ("haemoglobin", p.hemoglobin_g_dl),
            )
            return [name for name, v in counts if v is None]
        case "qtc":
            return [] if p.qtc_ms is not None else ["QTc"]
        case "opioid_tolerant":
            return [] if p.opioid_tolerant is not None else ["opioid tolerance"]
        case "dental_exam_done":
            if p.dental_exam_done is True:
                return []
            return [
                "dental examination (recorded as not done)"
                if p.dental_exam_done is False
                else "dental examination (not documented)"
            ]
        case "weight":
            return [] if p.weight_kg is not None else ["body weight"]
        case "age":
            return [] if p.age_years is not None else ["age"]
        case "hepatic_function":
            return [] if p.hepatic_impairment is not None else ["hepatic function"]
    return []


def check_units(ctx: Context) -> Iterator[Unit]:
    """One unit per required check whose drugs are ordered; which of its companion drugs
    (`with_drugs`) the regimen holds is part of the unit's item."""
    present = frozenset().union(*ctx.tags.values())  # a check none of whose keys is here selects nothing
    for rc in ctx.knowledge.checks:
        if not rc.keys & present:
            continue
        orders = tuple(_selected(rc.keys, rc.routes, ctx))
        if not orders:
            continue
        absent = tuple(sel for sel in rc.with_drugs if sel.key not in present)
        yield Unit((rc, absent), orders, _check_facts(rc))


_FACTS: dict[int, tuple[Any, tuple[str, ...]]] = {}


def _facts_of(rule: Any, build: Callable[[], tuple[str, ...]]) -> tuple[str, ...]:
    """A rule row's facts, worked out once per row (they were rebuilt for every regimen):
    keyed by identity, as the row lives as long as the knowledge."""
    hit = _FACTS.get(id(rule))
    if hit is None or hit[0] is not rule:
        hit = _FACTS[id(rule)] = (rule, build())
    return hit[1]


def _check_facts(rc: Any) -> tuple[str, ...]:
    def build() -> tuple[str, ...]:
        facts = tuple(dict.fromkeys(f for need in rc.needs for f in NEEDS.get(need, ())))
        for band in (rc.when, rc.unless):
            if band is not None:
                facts = tuple(dict.fromkeys((*facts, *when_facts(band))))
        return facts

    return _facts_of(rc, build)


def evaluate_check(inp: Input) -> Iterator[Finding]:
    (rc, absent), ctx, orders = inp.item, inp.ctx, inp.orders
    if rc.unless is not None and ctx.matches(rc.unless) is True:
        return
    if rc.when is not None and ctx.matches(rc.when) is not True:
        return
    missing = [m for need in rc.needs for m in _missing(need, ctx)]
    for sel in absent:
        label = inp.formulary.classes[sel.id].name if sel.kind == "class" else sel.id
        missing.append(f"a {label.lower()} order")
    if not missing:
        return
    names = ", ".join(sorted({o.drug.name for o in orders if o.drug}))
    yield finding(
        f"monitoring.{rc.id}",
        "monitoring",
        rc.severity,
        [o.drug_id for o in orders if o.drug_id],
        [o.index for o in orders],
        rc.message.format(drug=names, missing="; ".join(missing)),
        rc.recommendation,
        {"missing": missing},
        source_block(inp.knowledge, rc.source, rc.verified, rc),
        rule=f"monitoring.{rc.id}",
    )


def condition_units(ctx: Context) -> Iterator[Unit]:
    if ctx.unknown_conditions or ctx.unused_conditions:
        yield Unit("conditions")


def evaluate_conditions_known(inp: Input) -> Iterator[Finding]:
    for c in inp.ctx.unknown_conditions:
        yield finding(
            "input.condition_unknown",
            "input",
            "info",
            (),
            (),
            f"Condition {c!r} is not one the checker understands; no rule used it.",
            "Use a listed condition name (see the contract) if one fits.",
        )
    for c in inp.ctx.unused_conditions:
        yield finding(
            "input.condition_unused",
            "input",
            "info",
            (),
            (),
            f"Condition {c!r} is understood, but no rule of this knowledge release checks medications "
            "against it.",
            "Review the regimen against this condition by hand.",
        )


CAUTIONS = Evaluator(
    "cautions", caution_units, evaluate_caution, reads=("drug", "name"),
    selects=("drug_id", "classes", "route", "prn", "dose_number"),
)  # fmt: skip
REQUIRED_CHECKS = Evaluator("required_checks", check_units, evaluate_check, reads=("drug",))
CONDITIONS_KNOWN = Evaluator(
    "conditions_known",
    condition_units,
    evaluate_conditions_known,
    facts=("unknown_conditions", "unused_conditions"),
)
