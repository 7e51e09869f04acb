"""Therapeutic duplication: two orders of one class, or one ingredient ordered under two names.

A scheduled long-acting opioid with a PRN short-acting one is standard breakthrough-pain
practice, so the long-acting rule counts scheduled orders only; the same ingredient as a
scheduled order plus a PRN order is likewise a breakthrough pattern, not a duplicate.
"""

from __future__ import annotations

from collections.abc import Iterator

from checker.findings import finding, source_block
from checker.model import Finding
from rules.context import Context


def _names(orders) -> str:
    return ", ".join(o.input for o in orders)


def check_duplication(ctx: Context) -> Iterator[Finding]:
    k = ctx.knowledge
    for rule in k.duplications:
        members = [o for o in ctx.orders if rule.selector.matches(o.drug_id, o.classes)]
        if rule.scheduled_only:
            members = [o for o in members if o.scheduled]
        if len({o.drug_id or o.input for o in members}) < 2 or len({o.index for o in members}) < 2:
            continue  # one medication (a combination product's lines) is not a duplicate of itself
        yield finding(
            f"duplication.{rule.id}",
            "duplication",
            rule.severity,
            [o.drug_id for o in members if o.drug_id],
            [o.index for o in members],
            rule.message.format(names=_names(members)),
            rule.recommendation,
            {"orders": [o.index for o in members]},
            source_block(k, rule.source, rule.verified),
        )
    same = k.same_ingredient
    for drug_id, orders in sorted(ctx.by_drug.items()):
        if len({o.index for o in orders}) < 2:
            continue
        scheduled = [o for o in orders if o.scheduled]
        if len(scheduled) < 2 and len({o.input.lower() for o in orders}) < 2:
            continue  # one scheduled + PRN breakthrough under the same name
        drug = ctx.formulary.drugs[drug_id]
        yield finding(
            "duplication.same_ingredient",
            "duplication",
            same.severity,
            [drug_id],
            [o.index for o in orders],
            same.message.format(drug=drug.name, n=len(orders), names=_names(orders)),
            same.recommendation,
            {"orders": [o.index for o in orders]},
            source_block(k, same.source, same.verified),
        )
