"""Drug–drug and drug–supplement interactions by pairing orders within one regimen.

Per pair of orders and rule `group`, only the most specific rule is reported, so a warfarin-
specific row replaces the generic anticoagulant row instead of adding a second alert.

A row may carry a patient band (`when`, as dose limits and cautions do): it applies only to a
patient known to fall in the band, and then outranks the unbanded row of the same selectors, so
the grade follows what the sources ask for that patient (Beers: avoid opioid + gabapentinoid
from age 65; the FDA: start low and monitor, for everyone). A band whose facts are unknown does
not apply; the finding says which fact would have changed its grade.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from checker.findings import finding, source_block
from checker.model import SEVERITY_RANK, Finding
from formulary import When
from rules.context import Context, line_tags
from rules.mechanism import ContextView, Evaluator, Input, OrderView, Unit, when_facts
from rules.model import Interaction, Knowledge


class Line(Protocol):
    """What pairing reads of an order line: a real `Order` (the audit) or an evaluator's `OrderView`."""

    @property
    def line(self) -> tuple[int, int]: ...
    @property
    def index(self) -> int: ...
    @property
    def drug_id(self) -> str | None: ...
    @property
    def classes(self) -> frozenset[str]: ...
    @property
    def route(self) -> str | None: ...
    @property
    def input(self) -> str: ...


def rule_rank(rule: Interaction) -> tuple[int, int, int]:
    """Most specific first: drugs over classes, then a row written for the patient's band over the
    row for everyone (a band refines a row; it does not outrank a drug-level row), then the more
    severe. Only rows that apply to the patient are ranked (`applies`)."""
    return (-(rule.a.specificity + rule.b.specificity), 0 if rule.when else 1, SEVERITY_RANK[rule.severity])


def applies(rule: Interaction, ctx: ContextView) -> bool | None:
    """Whether a row applies to this patient: True for a row with no band; None when a fact its
    band reads is unknown (such a row is not used, see `evaluate_interactions`)."""
    return True if rule.when is None else ctx.matches(rule.when)


def _tags(o: Line) -> frozenset[str]:
    return line_tags(o.drug_id, o.classes)


Pair = tuple[tuple[int, int], tuple[int, int]]


def pair_rules(knowledge: Knowledge, orders: Sequence[Line]) -> dict[Pair, dict[str, Interaction]]:
    """Every (order line, order line) pair with the rules it meets, both ways round. Lines of one
    medication (a combination product's ingredients) are never paired: the product is one order,
    and its ingredients were combined on purpose."""
    hits: dict[Pair, dict[str, Interaction]] = {}
    for n, x in enumerate(orders):
        for y in orders[n + 1 :]:
            if y.index == x.index or (x.drug_id is not None and x.drug_id == y.drug_id):
                continue  # the same ingredient twice is duplication, not an interaction
            found = _between(knowledge, x, y)
            if found:
                hits[(min(x.line, y.line), max(x.line, y.line))] = found
    return hits


_BETWEEN: dict[tuple, tuple[Knowledge, dict[str, Interaction]]] = {}


def _between(knowledge: Knowledge, x: Line, y: Line) -> dict[str, Interaction]:
    """The rules two lines meet, x's way round first: what pairing reads of a line is its drug,
    classes and route, so the answer is kept per pair of those (a few hundred in any batch)."""
    key = (x.drug_id, x.classes, x.route, y.drug_id, y.classes, y.route)
    hit = _BETWEEN.get(key)
    if hit is None or hit[0] is not knowledge:
        if len(_BETWEEN) >= 100_000:
            _BETWEEN.clear()
        index, tx, ty = knowledge.interactions_by_a, _tags(x), _tags(y)
        found = {r.id: r for r in _one_way(index, tx, x.route, ty, y.route)}
        for r in _one_way(index, ty, y.route, tx, x.route):
            found.setdefault(r.id, r)
        hit = _BETWEEN[key] = (knowledge, found)
    return hit[1]


def _one_way(index: dict[str, tuple[Interaction, ...]], ta: frozenset[str], a_route: str | None,
             tb: frozenset[str], b_route: str | None) -> Iterator[Interaction]:  # fmt: skip
    for t in ta:
        for r in index.get(t, ()):
            if r.a_routes and a_route is not None and a_route not in r.a_routes:
                continue  # a route not known may be the rule's (see rules.patient._selected)
            if r.b.key in tb and (not r.b_routes or b_route is None or b_route in r.b_routes):
                yield r


def interaction_units(ctx: Context) -> Iterator[Unit]:
    """One unit per group of order lines whose findings depend on each other: lines paired by a
    rule, the third lines an `also` rule looks for, and pairs that compete for one finding (the
    same two drugs and topic) or share one (the same rule). Small units recur from patient to
    patient, so the memo answers most of them; findings are those of the whole regimen at once."""
    named, tags = ctx.knowledge.interaction_tags, ctx.tags
    orders = tuple(o for o in ctx.orders if (o.drug_id or o.classes) and tags[o.line] & named)
    if len({o.index for o in orders}) < 2:
        return
    # The grouping is kept per shape of the candidate lines (what pairing reads of them, medication
    # indexes by rank): order entry re-sends the same regimen on every change.
    rank = {i: n for n, i in enumerate(sorted({o.index for o in orders}))}
    shape = tuple(
        (rank[o.index], o.part, o.drug_id, o.classes, o.route, None if o.drug_id else o.input) for o in orders
    )
    hit = _GROUPS.get(shape)
    if hit is None or hit[0] is not ctx.knowledge:
        if len(_GROUPS) >= 20_000:
            _GROUPS.clear()
        hit = _GROUPS[shape] = (ctx.knowledge, _group(ctx.knowledge, orders, tags))
    for members, facts in hit[1]:
        yield Unit("regimen", tuple(orders[n] for n in members), facts)


_GROUPS: dict[tuple, tuple[Knowledge, tuple[tuple[tuple[int, ...], tuple[str, ...]], ...]]] = {}


def _group(knowledge: Knowledge, orders: Sequence[Line], tags: dict[tuple[int, int], frozenset[str]]
           ) -> tuple[tuple[tuple[int, ...], tuple[str, ...]], ...]:  # fmt: skip
    """The units of `interaction_units`, as positions in `orders`, each with the patient facts the
    bands of its candidate rows read (none for a unit of unbanded rows: its memo key stays free
    of patient facts, so it is shared by every patient)."""
    hits = pair_rules(knowledge, orders)
    parent: dict[tuple[int, int], tuple[int, int]] = {}

    def root(x: tuple[int, int]) -> tuple[int, int]:
        while parent.get(x, x) != x:
            x = parent[x]
        return x

    def join(x: tuple[int, int], y: tuple[int, int]) -> None:
        parent[root(x)] = root(y)

    by_line = {o.line: o for o in orders}
    first: dict[object, tuple[int, int]] = {}  # the first line seen per rule id and per topic
    for (i, j), rules in hits.items():
        join(i, j)
        x, y = by_line[i], by_line[j]
        for rule in rules.values():
            # evaluate's topic key: a drug, or (the `name` of an order of no known drug) its text
            topic = (frozenset((x.drug_id or x.input, y.drug_id or y.input)), rule.group)
            for shared in (rule.id, topic):
                join(i, first.setdefault(shared, i))
            if rule.also:
                for o in orders:
                    if rule.also.key in tags[o.line]:
                        join(o.line, i)
    banded: dict[tuple[int, int], dict[str, None]] = {}
    for (i, _), rules in hits.items():
        for rule in rules.values():
            if rule.when is not None:
                banded.setdefault(root(i), {}).update(dict.fromkeys(when_facts(rule.when)))
    groups: dict[tuple[int, int], list[int]] = {}
    for n, o in enumerate(orders):
        if o.line in parent:
            groups.setdefault(root(o.line), []).append(n)
    return tuple((tuple(g), tuple(banded.get(r, ()))) for r, g in groups.items())


def evaluate_interactions(inp: Input) -> Iterator[Finding]:
    orders = inp.orders
    by_line = {o.line: o for o in orders}
    tags = {o.line: _tags(o) for o in orders}
    best: dict[tuple[frozenset[str], str], tuple[Interaction, tuple[OrderView, ...]]] = {}
    # rows whose band could not be judged (a fact unknown), per pair and topic
    unknown: dict[tuple[frozenset[str], str], list[tuple[Interaction, tuple[OrderView, ...]]]] = {}
    for (i, j), rules in sorted(pair_rules(inp.knowledge, orders).items()):
        x, y = by_line[i], by_line[j]
        for rule in rules.values():
            involved: tuple[OrderView, ...] = (x, y)
            if rule.also:
                # the third may be another ingredient of x's or y's product (lisinopril/HCTZ + NSAID)
                others = [o for o in orders if o.line not in (x.line, y.line)]
                third = [o for o in others if rule.also.key in tags[o.line]]
                if not third:
                    continue
                involved = (x, y, third[0])
            key = (frozenset((x.drug_id or x.name, y.drug_id or y.name)), rule.group)
            fits = applies(rule, inp.ctx)
            if fits is None:
                unknown.setdefault(key, []).append((rule, involved))
            # One finding per pair of ingredients and topic: the most specific, then most severe rule.
            elif fits and (key not in best or rule_rank(rule) < rule_rank(best[key][0])):
                best[key] = (rule, involved)
    for key, undecided in unknown.items():
        if key not in best:  # only banded rows, none judged: the mildest, never a silent pass
            best[key] = max(undecided, key=lambda u: SEVERITY_RANK[u[0].severity])
    merged: dict[str, tuple[Interaction, dict[int, OrderView], dict[str, None]]] = {}
    for key, (rule, involved) in best.items():
        entry = merged.setdefault(rule.id, (rule, {}, {}))
        entry[1].update({o.index: o for o in involved})
        unjudged = [u[0] for u in unknown.get(key, ())]
        entry[2].update(dict.fromkeys(_ungraded(rule, unjudged, inp.ctx)))
    for rule, members, notes in merged.values():
        involved = tuple(members[i] for i in sorted(members))
        names = " + ".join(dict.fromkeys(o.name for o in involved))
        evidence = {
            "rule": rule.id,
            "mechanism": rule.mechanism,
            "between": [str(rule.a), str(rule.b)] + ([str(rule.also)] if rule.also else []),
        }
        if rule.when is not None:
            evidence["patient_band"] = band_text(rule.when)
        yield finding(
            f"interaction.{rule.id}",
            "interaction",
            rule.severity,
            [o.drug_id for o in involved if o.drug_id],
            [o.index for o in involved],
            " ".join((f"{names}: {rule.effect}", *notes)),
            rule.management,
            evidence,
            source_block(inp.knowledge, rule.source, rule.verified, rule),
            rule=f"interaction.{rule.id}",
        )


def _ungraded(chosen: Interaction, unknown: Sequence[Interaction], ctx: ContextView) -> list[str]:
    """What the message says of bands that could not be judged: only those whose row would have
    won and given another grade (an unknown age does not matter to a pair no age band changes)."""
    out = []
    for rule in unknown:
        missing = " and ".join(ctx.missing_for(rule.when)) if rule.when else "a fact"
        if rule is chosen:
            out.append(f"The patient's {missing} was not known: this rule is written for patients "
                       f"{band_text(rule.when)}.")  # fmt: skip
        elif rule_rank(rule) < rule_rank(chosen) and rule.severity != chosen.severity:
            out.append(f"The patient's {missing} was not known: for patients {band_text(rule.when)} "
                       f"this pair is graded {rule.severity}.")  # fmt: skip
    return out


def band_text(when: When | None) -> str:
    """A band in words for the card ("aged 65 or over"); the bands interaction rows use are short."""
    if when is None:
        return "of any age"
    parts = []
    ages = ((when.age_min, "aged {} or over"), (when.age_over, "older than {}"),
            (when.age_max, "aged {} or under"), (when.age_below, "younger than {}"))  # fmt: skip
    for value, words in ages:
        if value is not None:
            parts.append(words.format(f"{value:g}"))
    if when.conditions:
        parts.append("with " + " or ".join(c.replace("_", " ") for c in when.conditions))
    return " and ".join(parts) or "in the band the rule names"


INTERACTIONS = Evaluator(
    "interactions", interaction_units, evaluate_interactions,
    reads=("drug", "classes", "route", "name"), selects=("drug_id", "classes", "route", "input"),
)  # fmt: skip
