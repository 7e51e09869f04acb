"""check_interactions run once per distinct (rule, involved orders), not per regimen or part.

`rules.interactions.check_interactions` yields one finding per rule id R, and that finding is a
function of R and of R's *involved* orders L(R) only (the orders of every `best` entry won by R,
sorted by index: the drugs, indexes, names and message all come from L and R). Which entries R
wins is decided here, vectorized, with the evaluator's own steps:

1. the rules of each pair of orders, in the evaluator's insertion order, are the real `pair_rules`
   run on that pair alone (per distinct ordered pair of order kinds: a pair's rules depend on the
   two orders' tags, routes and drug ids only, the lower index taking the `a` side first);
2. a rule with `also` takes the first other relevant order (by index) with that tag, or drops out;
3. per patient, ingredient pair (`drug_id or input` of each, unordered) and rule group, the entry
   kept is the first of the least `rule_rank`, pairs taken by (i, j) and rules in insertion order;
4. per (patient, rule), L is the union of the winning entries' orders.

The finding is then made by `check_interactions` itself, run on L alone with a knowledge that
holds R alone. That run yields exactly the patient's finding for R: every order it can involve is
in L (pairs, thirds and winners are taken among L), and for each ingredient pair R won in the
patient, the same pair wins again (its candidates are a subset of the patient's, in the same
order, and still hold the winner) with the same third (no tagged order of L precedes it). So
the unit is (patient, rule), its relevant rows L, its fact code the rule; keys repeat across
patients far more than whole parts of regimens do.

What is derived from an order alone (its kind, the rule sides it can take, its row code) or from
two kinds (a pair's rules) is computed once per distinct content in the process (`plans.per_content`,
`plans.remembered`): the same orders recur in every partition.
"""

from __future__ import annotations

import dataclasses
from functools import partial

import numpy as np
import pandas as pd

from checker.orders import Order
from rules.interactions import pair_rules, rule_rank
from rules.knowledge import knowledge as rules_knowledge
from rules.model import Knowledge

from .arrays import distinct_ints, radix_key, unique_first, within
from .memo import STORE, Env, Plan, variant_codes
from .plans import Contents, per_content, remembered

_ALONE: dict[int, tuple[Knowledge, list[Knowledge]]] = {}  # id(knowledge) -> (it, per rule: R alone)


def _alone(know: Knowledge) -> list[Knowledge]:
    """Per rule, the knowledge with that interaction rule alone (everything else the same)."""
    got = _ALONE.get(id(know))
    if got is None or got[0] is not know:
        got = (know, [dataclasses.replace(know, interactions=(r,)) for r in know.interactions])
        _ALONE[id(know)] = got
    return got[1]


def interactions_plan(env: Env) -> Plan:
    """check_interactions reads, per order with a drug or classes: tags, route (against rule route
    lists), drug id, drug name, input where there is no drug, index; no patient fact. See the
    module docstring for the unit (patient, rule) and why its findings are the evaluator's."""
    know = rules_knowledge()
    rules = know.interactions
    orders, vid, p = env.v.orders, env.vid, env.pidx.astype(np.int64)
    if not len(vid) or not len(rules):
        return _empty()
    if len({r.id for r in rules}) != len(rules):  # findings merge by id: the per-rule run needs unique ids
        return _per_patient(env)
    n_r = len(rules)
    table, cs = per_content("interaction orders", know, env, partial(_order_codes, rules), 4)
    rel_v, kind_code, ident_v, base = (table[cs.of, k] for k in range(4))  # per variant
    rel_v = rel_v.astype(bool)
    kinds, rep, kind_v = unique_first(kind_code)  # rep: per kind, a variant of it
    n_k = len(rep)
    sides = remembered("interaction sides", know)
    for k, i in zip(kinds.tolist(), rep.tolist(), strict=True):
        if k not in sides:
            sides[k] = _sides(rules, orders[i], env.vtags[i])
    both = np.array([sides[k] for k in kinds.tolist()], dtype=bool).reshape(n_k, 2 * n_r)
    a_side, b_side = both[:, :n_r], both[:, n_r:]
    meets = (a_side.astype(np.int32) @ b_side.T.astype(np.int32)) > 0
    meets |= meets.T  # a pair is found from either side (a superset: `pair_rules` decides)
    active = meets.any(axis=1)
    # Every pair (lower row, higher row) of a patient's relevant rows whose kinds may meet a rule.
    rows = np.flatnonzero(rel_v[vid] & active[kind_v[vid]])
    pr = p[rows]
    bnd = np.flatnonzero(np.r_[True, pr[1:] != pr[:-1]]) if len(pr) else np.zeros(0, dtype=np.int64)
    size = np.diff(np.r_[bnd, len(rows)])
    cnt = np.repeat(bnd + size, size) - np.arange(len(rows)) - 1
    left = np.repeat(np.arange(len(rows)), cnt)
    right = left + 1 + within(cnt)
    a, b = rows[left], rows[right]
    ka, kb = kind_v[vid[a]], kind_v[vid[b]]
    ok = meets[ka, kb]
    a, b, ka, kb = a[ok], b[ok], ka[ok], kb[ok]
    if not len(a):
        return _empty()
    # Per distinct ordered kind pair, its rules in insertion order: `pair_rules` on the two orders alone.
    kp_of, kp = pd.factorize(ka * n_k + kb, sort=True)
    kp_of = kp_of.astype(np.int64)
    flat: list[int] = []
    kp_n = np.zeros(len(kp), dtype=np.int64)
    for t, code in enumerate(kp.tolist()):
        x, y = divmod(code, n_k)
        got = _pair_rules(env, know, (int(kinds[x]), int(kinds[y])), int(rep[x]), int(rep[y]))
        kp_n[t] = len(got)
        flat += got
    kp_start = np.cumsum(kp_n) - kp_n
    c = kp_n[kp_of]
    e = np.repeat(np.arange(len(a)), c)
    q = within(c)
    rule = np.array(flat, dtype=np.int64)[np.repeat(kp_start[kp_of], c) + q]
    a, b = a[e], b[e]
    third = _thirds(env, cs, rules, rel_v, rule, a, b)
    fine = third >= -1  # -2: the rule's `also` order is missing
    a, b, rule, q, third = a[fine], b[fine], rule[fine], q[fine], third[fine]
    if not len(a):
        return _empty()
    # Per (patient, ingredient pair, group): the first entry of the least rank.
    ia, ib = ident_v[vid[a]], ident_v[vid[b]]
    lo, hi = np.minimum(ia, ib), np.maximum(ia, ib)
    group = pd.factorize(pd.Series([r.group for r in rules], dtype=object))[0].astype(np.int64)[rule]
    ranks = [rule_rank(r) for r in rules]
    order_of = {x: i for i, x in enumerate(sorted(set(ranks)))}
    rank = np.array([order_of[x] for x in ranks], dtype=np.int64)[rule]
    topic = radix_key(p[a], lo, hi, group)  # per (patient, ingredient pair, group)
    order = np.argsort(radix_key(rank, a, b, q))  # entries are distinct in (a, b, q): no ties
    win = order[~pd.Series(topic[order]).duplicated().to_numpy()]  # per topic, its least entry
    wa, wb, wt, wr = a[win], b[win], third[win], rule[win]
    # Per (patient, rule): the union of its winning entries' orders.
    has3 = wt >= 0
    unit = np.concatenate([p[wa] * n_r + wr, p[wb] * n_r + wr, p[wt[has3]] * n_r + wr[has3]])
    member = np.concatenate([wa, wb, wt[has3]])
    span = len(vid) + 1
    both = distinct_ints(unit * span + member)
    unit, member = both // span, both % span
    rule_fact = np.array([STORE.code(("interaction rule", r.id)) for r in rules], dtype=np.int64)
    uk = distinct_ints(unit)
    alone = _alone(know)
    unit_rule = (uk % n_r).tolist()
    plan = Plan(member, np.searchsorted(uk, unit), uk // n_r, rule_fact[uk % n_r], base[vid[member]])
    plan.knowledge = lambda u: alone[unit_rule[u]]
    return plan


def _thirds(env: Env, cs: Contents, rules: tuple, rel_v: np.ndarray, rule: np.ndarray, a: np.ndarray,
            b: np.ndarray) -> np.ndarray:  # fmt: skip
    """Per entry, the `also` order check_interactions takes: the first relevant order of the
    patient (by index) with the rule's `also` tag other than the pair's two; -1 for a rule
    without `also`, -2 when there is no such order (the entry is then skipped)."""
    out = np.full(len(rule), -1, dtype=np.int64)
    also = np.array([-1 if r.also is None else 0 for r in rules], dtype=np.int64)
    needs = also[rule] >= 0
    if not needs.any():
        return out
    p = env.pidx.astype(np.int64)
    for key in sorted({r.also.key for r in rules if r.also}):
        of_key = np.array([r.also is not None and r.also.key == key for r in rules], dtype=bool)
        mine = np.flatnonzero(needs & of_key[rule])
        if not len(mine):
            continue
        has_v = rel_v & np.array([key in env.vtags[i] for i in cs.first.tolist()], dtype=bool)[cs.of]
        tagged = np.flatnonzero(has_v[env.vid])
        first = np.full((3, env.n), -1, dtype=np.int64)  # per patient, its first three such rows
        if len(tagged):
            pt = p[tagged]
            bnd = np.flatnonzero(np.r_[True, pt[1:] != pt[:-1]])
            nth = np.arange(len(tagged)) - np.repeat(bnd, np.diff(np.r_[bnd, len(tagged)]))
            for k in range(3):
                sel = nth == k
                first[k, pt[sel]] = tagged[sel]
        x, y, pp = a[mine], b[mine], p[a[mine]]
        c1, c2, c3 = first[0, pp], first[1, pp], first[2, pp]
        t = np.where((c1 != x) & (c1 != y), c1, np.where((c2 != x) & (c2 != y), c2, c3))
        out[mine] = np.where(t >= 0, t, -2)
    return out


def _order_codes(rules: tuple, o: Order, tg: frozenset[str]) -> list[int]:
    """Of an order: whether check_interactions considers it (a drug or classes); its kind, what
    a pair's rules read of it (`pair_rules`: tags from drug id and classes, route; content code);
    its ingredient (`drug_id or input`, content code); its row code (`_base`)."""
    kind = STORE.code(("interaction kind", o.drug_id, o.classes, o.route))
    ident = STORE.code(("interaction ingredient", o.drug_id or o.input))
    return [int(bool(o.drug or o.classes)), kind, ident, _base(rules, o, tg)]


def _sides(rules: tuple, o: Order, tg: frozenset[str]) -> list[bool]:
    """Per rule, whether an order of this kind can be its `a` side, then whether its `b` side."""
    a = [bool(r.a.key in tg and (not r.a_routes or o.route in r.a_routes)) for r in rules]
    return a + [bool(r.b.key in tg and (not r.b_routes or o.route in r.b_routes)) for r in rules]


def _pair_rules(env: Env, know: Knowledge, k: tuple[int, int], vx: int, vy: int) -> list[int]:
    """The rules (positions, in insertion order) `pair_rules` finds between variants vx (index 0)
    and vy (index 1) alone: a function of their kinds `k`, so remembered per pair of kinds."""
    done = remembered("interaction pairs", know)
    orders = env.v.orders
    got = done.get(k)
    if got is None:
        two = [
            dataclasses.replace(orders[vx], index=0, part=0),
            dataclasses.replace(orders[vy], index=1, part=0),
        ]
        ctx = env.facts.context(0, two, env.f, know)
        ctx.__dict__["tags"] = {(0, 0): env.vtags[vx], (1, 0): env.vtags[vy]}
        pos = {id(r): j for j, r in enumerate(know.interactions)}
        got = done[k] = [pos[id(r)] for r in pair_rules(ctx, two).get(((0, 0), (1, 0)), {}).values()]
    return got


def _base(rules: tuple, o: Order, tg: frozenset[str]) -> int:
    """An order's row code: its drug id, classes, input where there is no drug, and which
    route-limited rule sides (among those its tags answer to) its route passes: the route is read
    for nothing else, so orders alike in this act alike."""
    passes = tuple(
        2 * j + side
        for j, r in enumerate(rules)
        if r.a_routes or r.b_routes
        for side, k, routes in ((0, r.a.key, r.a_routes), (1, r.b.key, r.b_routes))
        if routes and k in tg and o.route in routes
    )
    return STORE.code(("interactions", o.drug_id, o.classes, passes, None if o.drug else o.input))


def _per_patient(env: Env) -> Plan:
    """Every relevant order of a patient, the patient as the unit (when rule ids are not unique)."""
    orders = env.v.orders
    rel_v = np.array([bool(o.drug or o.classes) for o in orders], dtype=bool)
    rows = np.flatnonzero(rel_v[env.vid])
    p = env.pidx[rows].astype(np.int64)
    uk, unit = np.unique(p, return_inverse=True)
    code = variant_codes(orders, lambda o: ("interactions", o.drug_id, o.classes, o.route, o.input))
    return Plan(rows, unit.reshape(-1), uk, np.zeros(len(uk), dtype=np.int64), code[env.vid[rows]])


def _empty() -> Plan:
    z = np.zeros(0, dtype=np.int64)
    return Plan(z, z, z, z, z)
