"""Doses the knowledge cannot judge: an order of a known drug with no dose-limit row for its route.

Most recognised drugs carry no dose limits (they are in the formulary so that interactions,
duplication and cautions reach every member of a class), and some carry limits for one route
only (oral morphine, intravenous ondansetron). Without this evaluator, dexamethasone 400 mg every
4 hours or ondansetron 80 mg by mouth came back with no finding at all: a silent pass that reads
as "dose fine". Dose-range checkers in order entry say "no dose-range data" for such an order;
so does this one, once per order line. A drug with limits for other routes only is `minor`: the
knowledge stops short of an order it was meant to judge. A drug with no limits at all is `info`:
it was recognised so that its class rules fire, and issue 16 asks that such an order raise no
warning; the line still says its dose went unchecked.
"""

from __future__ import annotations

from collections.abc import Iterator

from checker.findings import finding
from checker.model import Finding
from checker.quantities import qty
from formulary import Drug
from rules.context import Context
from rules.mechanism import Evaluator, Input, Unit

RULE = "monitoring.dose_unchecked"


_ROUTES: dict[int, tuple[object, tuple[str, ...]]] = {}


def limit_routes(drug: Drug) -> tuple[str, ...]:
    """The routes some dose-limit row of the drug is written for, in the rows' order. Kept per
    (immutable, long-lived) limits tuple: every order of every patient asks."""
    hit = _ROUTES.get(id(drug.limits))
    if hit is None or hit[0] is not drug.limits:
        hit = _ROUTES[id(drug.limits)] = (
            drug.limits,
            tuple(dict.fromkeys(r for lim in drug.limits for r in lim.routes)),
        )
    return hit[1]


def unchecked_units(ctx: Context) -> Iterator[Unit]:
    """One unit per order line of a known drug whose route no dose-limit row names."""
    drugs = ctx.formulary.drugs
    for o in ctx.orders:
        if o.drug_id is not None and o.route not in limit_routes(drugs[o.drug_id]):
            yield Unit("dose_unchecked", (o,))


def evaluate_unchecked(inp: Input) -> Iterator[Finding]:
    (o,) = inp.orders
    drug, route = o.drug, o.route
    routes = limit_routes(drug)
    amount = f" ({qty(o.dose, o.unit)})" if o.dose is not None and o.unit else ""
    if not routes:
        why = "the checker holds no dose limits for it"
    elif route is None:
        why = f"no route was given, and its dose limits are written for the {' and '.join(routes)} route only"
    else:
        why = f"its dose limits are written for the {' and '.join(routes)} route only, not {route}"
    yield finding(
        "monitoring.dose_unchecked",
        "monitoring",
        "minor" if routes else "info",
        (drug.id,),
        (o.index,),
        f"The dose of {o.name}{amount} was not checked: {why}.",
        "Check this dose against the product's label or a dosing reference.",
        {"route": route, "limit_routes": list(routes)},
        rule=RULE,
    )


DOSE_UNCHECKED = Evaluator(
    "dose_unchecked",
    unchecked_units,
    evaluate_unchecked,
    reads=("drug", "route", "name", "dose", "unit"),
    selects=("drug_id", "route"),
)
