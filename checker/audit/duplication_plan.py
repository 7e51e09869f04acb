"""Which orders `rules.duplication.check_duplication` reads, for `memo.run_plan` (see `plans`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rules.knowledge import knowledge as rules_knowledge

from .memo import Env, Plan, variant_codes
from .plans import dense_plan


def duplication_plan(env: Env) -> Plan:
    """check_duplication reads, per order: drug id, classes, PRN (scheduled), input (names, and the
    same-name test), index; the drug's name by id. No patient fact. A rule whose members have
    fewer than two identities (drug id or input) yields nothing, and keeps yielding nothing on a
    subset of the orders; a rule that fires keeps all its members. So the relevant rows are the
    members of the rules that fire and the orders of every drug that yields a same-ingredient
    finding (ordered twice or more, with two scheduled orders or two names)."""
    know = rules_knowledge()
    orders, vid, p, n = env.v.orders, env.vid, env.pidx.astype(np.int64), env.n
    ident = pd.factorize(pd.Series([o.drug_id or o.input for o in orders], dtype=object))[0].astype(np.int64)
    span = int(ident.max()) + 1 if len(ident) else 1
    rel = np.zeros(len(vid), dtype=bool)
    for rule in know.duplications:
        member = np.array(
            [rule.selector.matches(o.drug_id, o.classes) and (o.scheduled or not rule.scheduled_only)
             for o in orders], dtype=bool,
        )[vid]  # fmt: skip
        if not member.any():
            continue
        pairs = np.unique(p[member] * span + ident[vid[member]])
        fires = np.bincount(pairs // span, minlength=n) >= 2
        rel |= member & fires[p]
    drug = pd.factorize(pd.Series([o.drug_id for o in orders], dtype=object), use_na_sentinel=True)[0]
    d = drug[vid].astype(np.int64)
    has = d >= 0
    if has.any():
        dspan = int(drug.max()) + 1
        k = p * dspan + d
        keys, inv, counts = np.unique(k[has], return_inverse=True, return_counts=True)
        inv = inv.reshape(-1)
        # same_ingredient yields for a drug ordered twice or more only with two scheduled orders or
        # two names (lower case); a group that does not, and any subset of it, yields nothing.
        low = pd.factorize(pd.Series([o.input.lower() for o in orders], dtype=object))[0].astype(np.int64)
        sched = np.bincount(inv, weights=~np.array([o.prn for o in orders], dtype=bool)[vid[has]],
                            minlength=len(keys))  # fmt: skip
        names = np.bincount(np.unique(inv * (int(low.max()) + 1) + low[vid[has]]) // (int(low.max()) + 1),
                            minlength=len(keys))  # fmt: skip
        yields = (counts >= 2) & ((sched >= 2) | (names >= 2))
        twice = np.zeros(len(vid), dtype=bool)
        twice[np.flatnonzero(has)] = yields[inv]
        rel |= twice
    rows = np.flatnonzero(rel)
    code = variant_codes(orders, lambda o: (o.drug_id, o.classes, o.prn, o.input))[vid[rows]]
    return dense_plan(rows, p[rows], p[rows], lambda uk: np.zeros(len(uk), dtype=np.int64), code)
