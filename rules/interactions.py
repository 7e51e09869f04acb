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
from rules.model import Interaction


def _candidates(index, x: Order, tx: frozenset[str], y: Order, ty: frozenset[str]) -> Iterator[Interaction]:
    """Rules whose `a` fits x and `b` fits y, each side's route restriction included."""
    for tag in tx:
        for r in index.get(tag, ()):
            if (
                r.b.key in ty
                and (not r.a_routes or x.route in r.a_routes)
                and (not r.b_routes or y.route in r.b_routes)
            ):
                yield r


def _rank(rule: Interaction) -> tuple[int, int]:
    return (-(rule.a.specificity + rule.b.specificity), SEVERITY_RANK[rule.severity])


def _name(o: Order) -> str:
    return o.drug.name if o.drug else o.input


def check_interactions(ctx: Context) -> Iterator[Finding]:
    index = ctx.knowledge.interactions_by_a
    orders = [o for o in ctx.orders if o.drug or o.classes]
    tags = ctx.tags
    best: dict[tuple, tuple[Interaction, tuple[Order, ...]]] = {}
    for x, y in combinations(orders, 2):
        if x.drug_id is not None and x.drug_id == y.drug_id:
            continue  # the same ingredient twice is duplication, not an interaction
        tx, ty = tags[x.index], tags[y.index]
        matched = {r.id: r for r in (*_candidates(index, x, tx, y, ty), *_candidates(index, y, ty, x, tx))}
        for rule in matched.values():
            involved: tuple[Order, ...] = (x, y)
            if rule.also:
                third = [o for o in orders if o not in (x, y) and rule.also.key in tags[o.index]]
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
