"""Drug–drug and drug–supplement interactions by pairing orders within one regimen.

Per pair of orders and rule `group`, only the most specific rule is reported, so a warfarin-
specific row replaces the generic anticoagulant row instead of adding a second alert.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import combinations

from checker.findings import finding, source_block
from checker.model import SEVERITY_RANK, Finding
from checker.orders import Order
from rules.context import Context
from rules.model import Interaction, Selector


def _fits(sel: Selector, routes: tuple[str, ...], o: Order) -> bool:
    return sel.matches(o.drug_id, o.classes) and (not routes or o.route in routes)


def _matching(rule: Interaction, x: Order, y: Order) -> bool:
    return (_fits(rule.a, rule.a_routes, x) and _fits(rule.b, rule.b_routes, y)) or (
        _fits(rule.a, rule.a_routes, y) and _fits(rule.b, rule.b_routes, x)
    )


def _rank(rule: Interaction) -> tuple[int, int]:
    return (-(rule.a.specificity + rule.b.specificity), SEVERITY_RANK[rule.severity])


def _name(o: Order) -> str:
    return o.drug.name if o.drug else o.input


def check_interactions(ctx: Context) -> Iterator[Finding]:
    rules = ctx.knowledge.interactions
    orders = [o for o in ctx.orders if o.drug or o.classes]
    best: dict[tuple, tuple[Interaction, tuple[Order, ...]]] = {}
    for x, y in combinations(orders, 2):
        if x.drug_id is not None and x.drug_id == y.drug_id:
            continue  # the same ingredient twice is duplication, not an interaction
        for rule in rules:
            if not _matching(rule, x, y):
                continue
            involved: tuple[Order, ...] = (x, y)
            if rule.also:
                third = [o for o in orders if o not in (x, y) and rule.also.matches(o.drug_id, o.classes)]
                if not third:
                    continue
                involved = (x, y, third[0])
            key = (frozenset(o.drug_id or o.input for o in involved), rule.group)
            if key not in best or _rank(rule) < _rank(best[key][0]):
                best[key] = (rule, involved)
    merged: dict[str, tuple[Interaction, dict[int, Order]]] = {}
    for rule, involved in best.values():
        entry = merged.setdefault(rule.id, (rule, {}))
        entry[1].update({o.index: o for o in involved})
    for rule, by_index in merged.values():
        involved = [by_index[i] for i in sorted(by_index)]
        names = " + ".join(dict.fromkeys(_name(o) for o in involved))
        yield finding(
            f"interaction.{rule.id}",
            "interaction",
            rule.severity,
            [o.drug_id for o in involved if o.drug_id],
            [o.index for o in involved],
            f"{names}: {rule.effect}",
            rule.management,
            {
                "rule": rule.id,
                "mechanism": rule.mechanism,
                "between": [str(rule.a), str(rule.b)] + ([str(rule.also)] if rule.also else []),
            },
            source_block(ctx.knowledge, rule.source, rule.verified),
        )
