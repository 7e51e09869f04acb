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
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from rules.interactions import pair_rules, rule_rank
from rules.knowledge import knowledge as rules_knowledge
from rules.model import Knowledge

from .memo import STORE, Env, Plan, variant_codes

_ALONE: dict[int, tuple[Knowledge, list[Knowledge]]] = {}  # id(knowledge) -> (it, per rule: R alone)


def _alone(know: Knowledge) -> list[Knowledge]:
    """Per rule, the knowledge with that interaction rule alone (everything else the same)."""
    got = _ALONE.get(id(know))
    if got is None or got[0] is not know:
        got = (know, [dataclasses.replace(know, interactions=(r,)) for r in know.interactions])
        _ALONE[id(know)] = got
    return got[1]


def _within(size: np.ndarray) -> np.ndarray:
    """0, 1, ..., size-1 for each size in turn."""
    return np.arange(int(size.sum())) - np.repeat(np.cumsum(size) - size, size)


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
    rel_v = np.array([bool(o.drug or o.classes) for o in orders], dtype=bool)
    kind_v = pd.factorize(variant_codes(orders, lambda o: (o.drug_id, o.classes, o.route)))[0]
    kind_v = kind_v.astype(np.int64)
    n_k = int(kind_v.max()) + 1
    rep = np.unique(kind_v, return_index=True)[1]  # per kind, a variant of it
    a_side = np.zeros((n_k, n_r), dtype=bool)
    b_side = np.zeros((n_k, n_r), dtype=bool)
    for k, i in enumerate(rep.tolist()):
        o, tg = orders[i], env.vtags[i]
        for j, r in enumerate(rules):
            a_side[k, j] = r.a.key in tg and (not r.a_routes or o.route in r.a_routes)
            b_side[k, j] = r.b.key in tg and (not r.b_routes or o.route in r.b_routes)
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
    right = left + 1 + _within(cnt)
    a, b = rows[left], rows[right]
    ka, kb = kind_v[vid[a]], kind_v[vid[b]]
    ok = meets[ka, kb]
    a, b, ka, kb = a[ok], b[ok], ka[ok], kb[ok]
    if not len(a):
        return _empty()
    # Per distinct ordered kind pair, its rules in insertion order: `pair_rules` on the two orders alone.
    kp, kp_of = np.unique(ka * n_k + kb, return_inverse=True)
    kp_of = kp_of.reshape(-1)
    pos = {id(r): j for j, r in enumerate(rules)}
    flat: list[int] = []
    kp_n = np.zeros(len(kp), dtype=np.int64)
    for t, code in enumerate(kp.tolist()):
        vx, vy = int(rep[code // n_k]), int(rep[code % n_k])
        two = [dataclasses.replace(orders[vx], index=0), dataclasses.replace(orders[vy], index=1)]
        ctx = env.facts.context(0, two, env.f, know)
        ctx.__dict__["tags"] = {0: env.vtags[vx], 1: env.vtags[vy]}
        got = [pos[id(r)] for r in pair_rules(ctx, two).get((0, 1), {}).values()]
        kp_n[t] = len(got)
        flat += got
    kp_start = np.cumsum(kp_n) - kp_n
    c = kp_n[kp_of]
    e = np.repeat(np.arange(len(a)), c)
    q = _within(c)
    rule = np.array(flat, dtype=np.int64)[np.repeat(kp_start[kp_of], c) + q]
    a, b = a[e], b[e]
    third = _thirds(env, rules, rel_v, rule, a, b)
    fine = third >= -1  # -2: the rule's `also` order is missing
    a, b, rule, q, third = a[fine], b[fine], rule[fine], q[fine], third[fine]
    if not len(a):
        return _empty()
    # Per (patient, ingredient pair, group): the first entry of the least rank.
    ident_v = pd.factorize(pd.Series([o.drug_id or o.input for o in orders], dtype=object))[0]
    ident_v = ident_v.astype(np.int64)
    ia, ib = ident_v[vid[a]], ident_v[vid[b]]
    lo, hi = np.minimum(ia, ib), np.maximum(ia, ib)
    group = pd.factorize(pd.Series([r.group for r in rules], dtype=object))[0].astype(np.int64)[rule]
    ranks = [rule_rank(r) for r in rules]
    order_of = {x: i for i, x in enumerate(sorted(set(ranks)))}
    rank = np.array([order_of[x] for x in ranks], dtype=np.int64)[rule]
    pa = p[a]
    order = np.lexsort((q, b, a, rank, group, hi, lo, pa))
    s = [x[order] for x in (pa, lo, hi, group)]
    head = np.r_[True, (s[0][1:] != s[0][:-1]) | (s[1][1:] != s[1][:-1]) | (s[2][1:] != s[2][:-1])
                 | (s[3][1:] != s[3][:-1])]  # fmt: skip
    win = order[head]
    wa, wb, wt, wr = a[win], b[win], third[win], rule[win]
    # Per (patient, rule): the union of its winning entries' orders.
    has3 = wt >= 0
    unit = np.concatenate([p[wa] * n_r + wr, p[wb] * n_r + wr, p[wt[has3]] * n_r + wr[has3]])
    member = np.concatenate([wa, wb, wt[has3]])
    span = len(vid) + 1
    both = np.unique(unit * span + member)
    unit, member = both // span, both % span
    base = np.fromiter(
        (STORE.code(("interactions", o.drug_id, o.classes, s_, None if o.drug else o.input))
         for o, s_ in zip(orders, _route_passes(rules, orders, env.vtags), strict=True)),
        dtype=np.int64, count=len(orders),
    )  # fmt: skip
    rule_fact = np.array([STORE.code(("interaction rule", r.id)) for r in rules], dtype=np.int64)
    uk = np.unique(unit)
    alone = _alone(know)
    unit_rule = (uk % n_r).tolist()
    plan = Plan(member, np.searchsorted(uk, unit), uk // n_r, rule_fact[uk % n_r], base[vid[member]])
    plan.knowledge = lambda u: alone[unit_rule[u]]
    return plan


def _thirds(env: Env, rules: tuple, rel_v: np.ndarray, rule: np.ndarray, a: np.ndarray,
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
        has_v = rel_v & np.array([key in tg for tg in env.vtags], dtype=bool)
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


def _route_passes(rules: tuple, orders: list, vtags: list[frozenset[str]]) -> list[tuple[int, ...]]:
    """Per variant, which route-limited rule sides its route passes (among those its tags answer
    to): the route is read for nothing else, so orders alike in this and their tags act alike."""
    limited = [(j, r.a.key, r.a_routes, r.b.key, r.b_routes) for j, r in enumerate(rules)
               if r.a_routes or r.b_routes]  # fmt: skip
    return [
        tuple(
            2 * j + side
            for j, ak, ar, bk, br in limited
            for side, k, routes in ((0, ak, ar), (1, bk, br))
            if routes and k in tg and o.route in routes
        )
        for o, tg in zip(orders, vtags, strict=True)
    ]


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
