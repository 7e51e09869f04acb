"""Therapeutic duplication: two orders of one class, or one ingredient ordered under two names.

A scheduled long-acting opioid with a PRN short-acting one is standard breakthrough-pain
practice, so the long-acting rule counts scheduled orders only; the same ingredient as a
scheduled order plus a PRN order is likewise a breakthrough pattern, not a duplicate: under one
name, or as one extended-release (or transdermal) background order with immediate-release PRN
orders (OxyContin with oxycodone as needed).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from checker.findings import finding, source_block
from checker.model import Finding
from rules.context import Context
from rules.mechanism import Evaluator, Input, OrderView, Unit


def _names(orders: Iterable[OrderView]) -> str:
    return ", ".join(o.input for o in orders)


def class_units(ctx: Context) -> Iterator[Unit]:
    """One unit per duplication row: the order lines its selector covers (two at least)."""
    index, tags = ctx.knowledge.duplications_by_key, ctx.tags
    members: dict[int, list] = {}
    for o in ctx.orders:
        for t in tags[o.line]:
            for rule in index.get(t, ()):
                members.setdefault(id(rule), []).append(o)
    for rule in ctx.knowledge.duplications:  # in the table's order, as the findings were
        mine = members.get(id(rule), ())
        if len(mine) > 1:
            yield Unit(rule, tuple(mine))


def evaluate_class(inp: Input) -> Iterator[Finding]:
    rule, members = inp.item, list(inp.orders)
    if rule.scheduled_only:
        members = [o for o in members if o.scheduled]
    if rule.prn_only:
        members = [o for o in members if not o.scheduled]
    if len({o.drug_id or o.input for o in members}) < 2 or len({o.index for o in members}) < 2:
        return  # one medication (a combination product's lines) is not a duplicate of itself
    yield finding(
        f"duplication.{rule.id}",
        "duplication",
        rule.severity,
        [o.drug_id for o in members if o.drug_id],
        [o.index for o in members],
        rule.message.format(names=_names(members)),
        rule.recommendation,
        {"orders": list(dict.fromkeys(o.index for o in members))},
        source_block(inp.knowledge, rule.source, rule.verified, rule),
        rule=f"duplication.{rule.id}",
    )


def ingredient_units(ctx: Context) -> Iterator[Unit]:
    """One unit per ingredient ordered in more than one medication."""
    for drug_id, orders in sorted(ctx.by_drug.items()):
        if len({o.index for o in orders}) > 1:
            yield Unit(drug_id, tuple(orders))


def _background(o: OrderView) -> bool:
    """A scheduled order that covers the day on its own: extended release, or a patch."""
    return o.scheduled and (o.release == "extended" or o.route == "transdermal")


def evaluate_ingredient(inp: Input) -> Iterator[Finding]:
    orders, same = inp.orders, inp.knowledge.same_ingredient
    scheduled = [o for o in orders if o.scheduled]
    if len(scheduled) < 2 and len({o.input.lower() for o in orders}) < 2:
        return  # one scheduled + PRN breakthrough under the same name
    breakthrough = [o for o in orders if not o.scheduled]
    if (
        len(scheduled) == 1
        and _background(scheduled[0])
        and all(o.release != "extended" for o in breakthrough)
    ):
        return  # OxyContin every 12 h with oxycodone as needed: background and breakthrough (issue 17)
    drug = inp.formulary.drugs[inp.item]
    yield finding(
        "duplication.same_ingredient",
        "duplication",
        same.severity,
        [drug.id],
        [o.index for o in orders],
        same.message.format(drug=drug.name, n=len(orders), names=_names(orders)),
        same.recommendation,
        {"orders": [o.index for o in orders]},
        source_block(inp.knowledge, same.source, same.verified, same),
        rule=f"duplication.{same.id}",
    )


CLASS_DUPLICATION = Evaluator(
    "duplication.class", class_units, evaluate_class, reads=("drug", "prn", "input")
)
SAME_INGREDIENT = Evaluator(
    "duplication.same_ingredient",
    ingredient_units,
    evaluate_ingredient,
    reads=("prn", "input", "release", "route"),
)
