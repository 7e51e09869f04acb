"""Patient-context cautions (renal, hepatic, age, condition, labs) and required checks.

A caution fires only when the patient is known to fall under it; when the facts are missing
the matching required check says what is needed and why, so nothing passes silently and
nothing is assumed normal.
"""

from __future__ import annotations

from collections.abc import Iterator

from checker.findings import finding, source_block
from checker.model import Finding
from checker.orders import Order
from checker.quantities import num
from rules.context import Context
from rules.model import Caution, RequiredCheck


def _selected(keys: frozenset[str], routes: tuple[str, ...], ctx: Context) -> list[Order]:
    return [o for o in ctx.orders if keys & ctx.tags[o.line] and (not routes or o.route in routes)]


def _dose_number_fits(c: Caution, o: Order) -> bool:
    n = o.dose_number or 1  # an unnumbered dose is judged as a first dose: the stricter thresholds
    return (c.dose_number_max is None or n <= c.dose_number_max) and (
        c.dose_number_min is None or n >= c.dose_number_min
    )


def _evidence(c: Caution, ctx: Context) -> dict:
    p, w, ev = ctx.patient, c.when, {}
    crcl, estimated = ctx.crcl
    if w.uses_crcl:
        ev["crcl_ml_min"] = num(crcl) if crcl is not None else None
        if estimated:
            ev["crcl_estimated"] = "Cockcroft-Gault"
    if w.age_min is not None or w.age_over is not None or w.age_below is not None:
        ev["age_years"] = num(p.age_years) if p.age_years is not None else None
    if w.hepatic:
        ev["hepatic_impairment"] = p.hepatic_impairment
    if w.conditions:
        ev["conditions"] = sorted(set(w.conditions) & ctx.conditions)
    labs = (
        ("qtc_ms", p.qtc_ms, (w.qtc_min, w.qtc_max, w.qtc_over, w.qtc_below)),
        ("serum_calcium_mg_dl", ctx.corrected_calcium, (w.calcium_below, w.calcium_over)),
        ("platelets_10e9_l", p.platelets_10e9_l, (w.platelets_below,)),
        ("anc_10e9_l", p.anc_10e9_l, (w.anc_below,)),
        ("hemoglobin_g_dl", p.hemoglobin_g_dl, (w.hemoglobin_below,)),
    )
    for name, value, bounds in labs:
        if any(b is not None for b in bounds):
            ev[name] = num(value) if value is not None else None
    return ev


def check_cautions(ctx: Context) -> Iterator[Finding]:
    index = ctx.knowledge.cautions_by_key
    candidates = {id(c): c for o in ctx.orders for t in ctx.tags[o.line] for c in index.get(t, ())}
    for c in candidates.values():  # the report sorts findings; no order needed here
        if ctx.matches(c.when) is not True:  # unknown facts are checks.toml's business
            continue
        orders = [
            o
            for o in _selected(c.keys, c.routes, ctx)
            if (c.prn is None or o.prn == c.prn) and _dose_number_fits(c, o)
        ]
        if not orders:
            continue
        names = ", ".join(sorted({o.drug.name if o.drug else o.input for o in orders}))
        ev = _evidence(c, ctx)
        message = c.message.format(drug=names, **{k: v for k, v in ev.items() if not isinstance(v, list)})
        if ev.get("crcl_estimated"):
            message += f" (CrCl {ev['crcl_ml_min']} mL/min, estimated by Cockcroft-Gault.)"
        yield finding(
            f"{c.category}.{c.id}",
            c.category,
            c.severity,
            [o.drug_id for o in orders if o.drug_id],
            [o.index for o in orders],
            message,
            c.recommendation,
            ev,
            source_block(ctx.knowledge, c.source, c.verified),
        )


def _missing(need: str, ctx: Context) -> list[str]:
    p = ctx.patient
    match need:
        case "renal_function":
            known = ctx.crcl[0] is not None or p.egfr is not None
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


def _check(rc: RequiredCheck, ctx: Context) -> Finding | None:
    orders = _selected(rc.keys, rc.routes, ctx)
    if not orders:
        return None
    missing = [m for need in rc.needs for m in _missing(need, ctx)]
    for sel in rc.with_drugs:
        if not any(sel.matches(o.drug_id, o.classes) for o in ctx.orders):
            label = ctx.formulary.classes[sel.id].name if sel.kind == "class" else sel.id
            missing.append(f"a {label.lower()} order")
    if not missing:
        return None
    names = ", ".join(sorted({o.drug.name for o in orders if o.drug}))
    return finding(
        f"monitoring.{rc.id}",
        "monitoring",
        rc.severity,
        [o.drug_id for o in orders if o.drug_id],
        [o.index for o in orders],
        rc.message.format(drug=names, missing="; ".join(missing)),
        rc.recommendation,
        {"missing": missing},
        source_block(ctx.knowledge, rc.source, rc.verified),
    )


def check_required(ctx: Context) -> Iterator[Finding]:
    present = frozenset().union(*ctx.tags.values())  # a check none of whose keys is here selects nothing
    for rc in ctx.knowledge.checks:
        if rc.keys & present and (f := _check(rc, ctx)) is not None:
            yield f


def check_conditions_known(ctx: Context) -> Iterator[Finding]:
    for c in ctx.unknown_conditions:
        yield finding(
            "input.condition_unknown",
            "input",
            "info",
            (),
            (),
            f"Condition {c!r} is not one the checker understands; no rule used it.",
            "Use a listed condition name (see the contract) if one fits.",
        )
