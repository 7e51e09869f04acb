"""Drug–drug and drug–supplement interactions by pairing orders within one regimen.

Per pair of orders and rule `group`, only the most specific rule is reported, so a warfarin-
specific row replaces the generic anticoagulant row instead of adding a second alert.
"""

from __future__ import annotations

from collections.abc import Iterator

from checker.findings import finding, source_block
from checker.model import SEVERITY_RANK, Finding
from checker.orders import Order
from rules.context import Context
from rules.model import Interaction


def rule_rank(rule: Interaction) -> tuple[int, int]:
    return (-(rule.a.specificity + rule.b.specificity), SEVERITY_RANK[rule.severity])


def _name(o: Order) -> str:
    if o.drug and o.parts > 1:
        return f"{o.drug.name} (in {o.input})"
    return o.drug.name if o.drug else o.input


def pair_rules(
    ctx: Context, orders: list[Order]
) -> dict[tuple[tuple[int, int], tuple[int, int]], dict[str, Interaction]]:
    """Every (order line, order line) pair with the rules it meets, found from each line's tags
    outward. Lines of one medication (a combination product's ingredients) are never paired: the
    product is one order, and its ingredients were combined on purpose."""
    index, tags = ctx.knowledge.interactions_by_a, ctx.tags
    members: dict[str, list[Order]] = {}
    for o in orders:
        for t in tags[o.line]:
            members.setdefault(t, []).append(o)
    hits: dict[tuple[tuple[int, int], tuple[int, int]], dict[str, Interaction]] = {}
    for x in orders:
        for t in tags[x.line]:
            for r in index.get(t, ()):
                if r.a_routes and x.route not in r.a_routes:
                    continue
                for y in members.get(r.b.key, ()):
                    if y.index == x.index or (x.drug_id is not None and x.drug_id == y.drug_id):
                        continue  # the same ingredient twice is duplication, not an interaction
                    if r.b_routes and y.route not in r.b_routes:
                        continue
                    hits.setdefault((min(x.line, y.line), max(x.line, y.line)), {})[r.id] = r
    return hits


def check_interactions(ctx: Context) -> Iterator[Finding]:
    orders = [o for o in ctx.orders if o.drug or o.classes]
    by_line = {o.line: o for o in orders}
    best: dict[tuple, tuple[Interaction, tuple[Order, ...]]] = {}
    for (i, j), rules in sorted(pair_rules(ctx, orders).items()):
        x, y = by_line[i], by_line[j]
        for rule in rules.values():
            involved: tuple[Order, ...] = (x, y)
            if rule.also:
                # the third may be another ingredient of x's or y's product (lisinopril/HCTZ + NSAID)
                others = [o for o in orders if o.line not in (x.line, y.line)]
                third = [o for o in others if rule.also.key in ctx.tags[o.line]]
                if not third:
                    continue
                involved = (x, y, third[0])
            # One finding per pair of ingredients and topic: the most specific, then most severe rule.
            key = (frozenset((x.drug_id or x.input, y.drug_id or y.input)), rule.group)
            if key not in best or rule_rank(rule) < rule_rank(best[key][0]):
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
