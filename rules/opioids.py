"""Opioid load in morphine milligram equivalents across all opioid orders: CDC 2022 factors for
oral and transdermal opioids, a sourced parenteral equianalgesic table for IV/SC/IM orders.

PRN orders count at their most frequent allowed use (or their stated cap). Each contribution
names the table its factor comes from; a route with no factor in any table is listed as not
counted rather than converted with an invented factor.
The CDC thresholds are for non-cancer pain, so with a cancer condition the total is info only.
An opioid order that cannot be converted makes the total a lower bound; below a threshold that is
`opioid_load.incomplete` (moderate), never a reassuring total.
"""

from __future__ import annotations

from collections.abc import Iterator

from checker.findings import finding, source_block
from checker.model import Finding
from checker.quantities import num, qty
from formulary.units import UnitError, conversion_factor
from rules.context import Context
from rules.mechanism import Evaluator, Input, OrderView, Unit
from rules.model import Knowledge, MmeFactor


def factor_for(o: OrderView, k: Knowledge) -> MmeFactor | None:
    """The MME factor for the order's drug and route (CDC table or the parenteral table), if any."""
    return next((f for f in k.mme_factors if f.drug == o.drug_id and o.route in f.routes), None)


def factor_amount(o: OrderView, factor: MmeFactor) -> tuple[float, str] | None:
    """What an MME factor multiplies, and how the evidence shows it: a patch's µg/h; otherwise the
    amount per day, a continuous infusion's rate (hydromorphone 0.5 mg/h IV) taken over 24 hours
    (it was "dose not readable", and a 240 MME/day infusion counted nothing)."""
    if factor.unit == "ug/h":
        return (o.dose, qty(o.dose, o.unit)) if o.dose is not None else None
    if o.is_rate and o.dose is not None:
        base = o.drug.unit_for(o.route)
        try:
            per_day = o.dose * conversion_factor(o.unit, f"{base}/h") * 24
        except UnitError:
            return None
        return per_day, f"{qty(o.dose, o.unit)} continuous = {qty(per_day, base, '/day')}"
    return (o.daily, qty(o.daily, o.unit, "/day")) if o.daily is not None else None


def opioid_units(ctx: Context) -> Iterator[Unit]:
    """One unit per regimen: its opioid orders."""
    opioids = tuple(o for o in ctx.orders if "opioid" in o.classes and o.drug_id)
    if opioids:
        yield Unit("opioids", opioids)


def evaluate_opioid_load(inp: Input) -> Iterator[Finding]:
    k, ctx, opioids = inp.knowledge, inp.ctx, inp.orders
    parts, excluded, left_out = [], [], []
    left_names: set[str] = set()
    for o in opioids:
        if o.drug_id in k.mme_left_out:
            why = "not converted to MME by the CDC 2022 table (partial agonist)"
            left_out.append({"medication": o.index, "drug": o.drug_id, "reason": why})
            left_names.add(o.drug.name)
            continue
        factor = factor_for(o, k)
        if factor is None:
            excluded.append(
                {
                    "medication": o.index,
                    "drug": o.drug_id,
                    "reason": f"no conversion factor for the {o.route} route",
                }
            )
            continue
        per_day = factor_amount(o, factor)
        if per_day is None:
            why = "dose not readable"
            if o.dose_per_kg is not None:
                why = "dosed per kg and the weight is not known"
            excluded.append({"medication": o.index, "drug": o.drug_id, "reason": why})
            continue
        amount, shown = per_day
        parts.append(
            {
                "medication": o.index,
                "drug": o.drug_id,
                "amount": shown,
                "factor": factor.factor,
                "mme_per_day": round(amount * factor.factor, 1),
                "table": k.sources[factor.source].label,
            }
        )
    total = round(sum(p["mme_per_day"] for p in parts), 1)
    cancer = any(c in ctx.conditions for c in k.cancer_conditions)
    evidence = {"actual": f"{num(total)} MME/day", "contributions": parts}
    if excluded or left_out:
        evidence["not_counted"] = excluded + left_out
    drugs = [o.drug_id for o in opioids if o.drug_id]
    meds = [o.index for o in opioids]
    not_counted = (
        f" {len(excluded)} order(s) could not be converted and are not included." if excluded else ""
    ) + (
        f" {', '.join(sorted(left_names))} is not converted to MME (CDC 2022 table)."
        if left_out
        else ""
    )
    over = next((t for t in k.mme_thresholds if total >= t.mme), None)
    if over and not cancer:
        evidence["limit"] = f"{num(over.mme)} MME/day"
        yield finding(
            "opioid_load.threshold",
            "opioid_load",
            over.severity,
            drugs,
            meds,
            over.message.format(total=num(total), threshold=num(over.mme)) + not_counted,
            over.recommendation,
            evidence,
            source_block(k, over.source, rule=over),
            rule=f"opioid_load.{int(over.mme)}",
        )
        return
    if excluded and not cancer:  # the total is a lower bound: a threshold may be passed unseen
        lowest = min(t.mme for t in k.mme_thresholds)
        reasons = "; ".join(sorted({str(e["reason"]) for e in excluded}))
        counted = (
            f"only {num(total)} MME/day could be counted, a lower bound that may hide a total at or "
            f"above {num(lowest)} MME/day"
            if parts
            else "no total could be computed"
        )
        evidence["actual"] = f"at least {num(total)} MME/day" if parts else "unknown"
        yield finding(
            "opioid_load.incomplete",
            "opioid_load",
            "moderate",
            drugs,
            meds,
            f"{len(excluded)} of {len(opioids)} opioid order(s) could not be converted to morphine "
            f"milligram equivalents ({reasons}), so {counted}.",
            "Give each opioid's dose, unit, route and frequency so the load can be counted; until then "
            "work out the total by hand.",
            evidence,
            source_block(k, k.mme_source, rule=k.mme_evidence),
        )
        return
    scope = " The CDC 2022 thresholds do not apply to cancer-related pain." if cancer and over else ""
    told = f"Total opioid load is {num(total)} MME/day." if parts else "No opioid order is counted in MME."
    yield finding(
        "opioid_load.total",
        "opioid_load",
        "info",
        drugs,
        meds,
        f"{told}{scope}{not_counted}",
        "Use the total when converting or titrating; reassess benefit and harm as it rises.",
        evidence,
        source_block(k, k.mme_source, rule=k.mme_evidence),
    )


OPIOID_LOAD = Evaluator(
    "opioid_load", opioid_units, evaluate_opioid_load,
    reads=("drug", "route", "dose", "daily", "unit", "is_rate", "dose_per_kg"), facts=("conditions",),
)
