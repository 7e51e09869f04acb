"""check_duplication run once per distinct (rule id, its members) and (drug, its orders).

`rules.duplication.check_duplication` yields, per class rule R, one finding made of R and of R's
members only (the orders R's selector matches, scheduled ones if R says so: drugs, indexes, names),
and, per drug id, one `same_ingredient` finding made of that drug's orders only. So the unit is
either (patient, rule id), its run given a knowledge with the rules of that id alone (rules that
share an id stay together: their findings are the same code, and the engine merges equal ones), or
(patient, drug), its run given a knowledge with no class rule. Each unit keeps only its own code.

Relevant rows of a rule-id unit: the members of its rules that fire in the patient (two or more
identities, `drug_id or input`); a rule that does not fire has, among those rows, a subset of its
members, which again fires not. Relevant rows of a drug unit: the drug's orders, when they yield
(ordered twice or more, with two scheduled orders or two names in lower case). Either way the run
sees, for its own code, exactly the members (in index order) the whole-patient run sees.

Two units of one patient never give equal findings: rule ids differ in code, drug units in drugs,
and a rule id `same_ingredient` (which would share its code with drug units) sends the plan back to
one unit per patient. So the engine's de-duplication (per patient, across all these findings) drops
nothing the units do not drop themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from rules.knowledge import knowledge as rules_knowledge
from rules.model import Knowledge

from .arrays import distinct_ints, unique_first
from .memo import STORE, Env, Plan, variant_codes
from .plans import split_by_id

SAME = "same_ingredient"


@dataclass
class _Columns:
    """Per variant, what check_duplication reads (one pass each over the variants)."""

    drug_id: list[str | None]
    inputs: list[str]
    prn: np.ndarray  # bool
    drug: np.ndarray  # int64 code of the drug id, -1 without a drug
    ident: np.ndarray  # int64 code of `drug_id or input`

    @classmethod
    def of(cls, orders: list) -> _Columns:
        drug_id = [o.drug_id for o in orders]
        inputs = [o.input for o in orders]
        ident = pd.factorize(pd.Series([d or x for d, x in zip(drug_id, inputs, strict=True)], dtype=object))
        drug = pd.factorize(pd.Series(drug_id, dtype=object), use_na_sentinel=True)[0]
        prn = np.array([o.prn for o in orders], dtype=bool)
        return cls(drug_id, inputs, prn, drug.astype(np.int64), ident[0].astype(np.int64))


def _members(know: Knowledge, orders: list, col: _Columns) -> np.ndarray:
    """(variants, rules): whether the variant is a member of the rule. The selector is asked once
    per distinct (drug id, classes): nothing else of the order is read by it."""
    rules = know.duplications
    cls = pd.factorize(pd.Series([o.classes for o in orders], dtype=object))[0].astype(np.int64)
    _, rep, kind = np.unique((col.drug + 1) * (int(cls.max()) + 1) + cls, return_index=True,
                             return_inverse=True)  # fmt: skip
    match = np.array(
        [[r.selector.matches(col.drug_id[i], orders[i].classes) for r in rules] for i in rep.tolist()],
        dtype=bool,
    ).reshape(len(rep), len(rules))
    only = np.array([r.scheduled_only for r in rules], dtype=bool)
    return match[kind.reshape(-1)] & ~(only[None, :] & col.prn[:, None])


def _fires(p: np.ndarray, ident: np.ndarray, n: int) -> np.ndarray:
    """Per patient, whether the given rows hold two identities or more."""
    span = int(ident.max()) + 1 if len(ident) else 1
    pairs = distinct_ints(p * span + ident)
    return np.bincount(pairs // span, minlength=n) >= 2


def _same_ingredient(col: _Columns, vid: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the (patient, drug) groups that yield a same_ingredient finding, and their drug code:
    ordered twice or more, with two scheduled orders or two names (lower case). A group that does
    not yield never does on a subset of its orders."""
    d = col.drug[vid]
    has = np.flatnonzero(d >= 0)
    if not len(has):
        return has, has
    dspan = int(col.drug.max()) + 1
    inv = unique_first(p[has] * dspan + d[has])[2]
    counts = np.bincount(inv)
    two = np.flatnonzero(counts[inv] >= 2)
    g, v = inv[two], vid[has[two]]
    low = pd.factorize(pd.Series([x.lower() for x in col.inputs], dtype=object))[0].astype(np.int64)
    lspan = int(low.max()) + 1
    sched = np.bincount(g, weights=~col.prn[v], minlength=len(counts))
    names = np.bincount(distinct_ints(g * lspan + low[v]) // lspan, minlength=len(counts))
    rows = has[two[(sched[g] >= 2) | (names[g] >= 2)]]
    return rows, d[rows]


def duplication_plan(env: Env) -> Plan:
    """check_duplication reads, per order: drug id, classes (the selectors), PRN (scheduled), input
    (identity and names), index; the drug's name by id; no patient fact. Units (patient, rule id)
    and (patient, drug): see the module docstring. Row codes: drug id and input, with, for a rule
    id, which of its rules the order is a member of (selector and PRN read no more); for a drug,
    nothing more (every drug unit yields, and a yielding finding reads no PRN). The fact code
    names the rule id or the drug units' knowledge."""
    know = rules_knowledge()
    orders, vid, p, n = env.v.orders, env.vid, env.pidx.astype(np.int64), env.n
    if not len(vid):
        return _empty()
    if any(r.id == SAME for r in know.duplications):
        return _per_patient(env)
    res = split_by_id(know, "duplications")
    col = _Columns.of(orders)
    member = _members(know, orders, col)
    g_n = len(res.ids)
    slots = g_n + int(col.drug.max()) + 1  # unit key: patient * slots + (rule id | g_n + drug)
    rows_l, key_l, code_l = [], [], []
    for g, pos in enumerate(res.positions):
        bits = member[:, pos].astype(np.int64) @ (1 << np.arange(len(pos), dtype=np.int64))
        rel = np.zeros(len(vid), dtype=bool)
        for j in pos:
            m = np.flatnonzero(member[:, j][vid])
            if len(m):
                rel[m[_fires(p[m], col.ident[vid[m]], n)[p[m]]]] = True
        rows = np.flatnonzero(rel)
        rows_l.append(rows)
        key_l.append(p[rows] * slots + g)
        code_l.append((bits[vid[rows]], len(pos)))
    same_rows, same_drug = _same_ingredient(col, vid, p)
    rows = np.concatenate([*rows_l, same_rows])
    if not len(rows):
        return _empty()
    base = _base_codes(col, vid[rows], len(orders))
    codes = [base[vid[r]] * (1 << k) + bits for (bits, k), r in zip(code_l, rows_l, strict=True)]
    codes.append(base[vid[same_rows]])  # every drug unit yields: PRN then changes nothing
    keys = np.concatenate([*key_l, p[same_rows] * slots + g_n + same_drug])
    order = np.argsort(keys, kind="stable")  # rows ascend within each key already
    keys = keys[order]
    head = np.r_[True, keys[1:] != keys[:-1]]
    uk = keys[head]
    slot = np.minimum(uk % slots, g_n)
    fact = np.array([STORE.code(("duplication rule", x)) for x in [*res.ids, None]], dtype=np.int64)
    plan = Plan(rows[order], np.cumsum(head) - 1, uk // slots, fact[slot], np.concatenate(codes)[order])
    knows = [*res.knowledge, res.none]
    wants = [f"duplication.{x}" for x in res.ids] + [f"duplication.{SAME}"]
    unit_slot = slot.tolist()
    plan.knowledge = lambda u: knows[unit_slot[u]]
    plan.keep = lambda u, x: x.code == wants[unit_slot[u]]
    return plan


def _base_codes(col: _Columns, needed: np.ndarray, size: int) -> np.ndarray:
    """Per variant among `needed`, a content code for its (drug id, input) (others: 0)."""
    out = np.zeros(size, dtype=np.int64)
    at = distinct_ints(needed)
    got = (STORE.code(("duplication", col.drug_id[i], col.inputs[i])) for i in at.tolist())
    out[at] = np.fromiter(got, dtype=np.int64, count=len(at))
    return out


def _per_patient(env: Env) -> Plan:
    """Every order of a patient, the patient as the unit, the rules' own knowledge (when a rule's
    id would share its code with same_ingredient findings)."""
    rows = np.arange(len(env.vid))
    p = env.pidx[rows].astype(np.int64)
    uk, unit = np.unique(p, return_inverse=True)
    code = variant_codes(env.v.orders, lambda o: ("duplication", o.drug_id, o.classes, o.prn, o.input))
    return Plan(rows, unit.reshape(-1), uk, np.zeros(len(uk), dtype=np.int64), code[env.vid[rows]])


def _empty() -> Plan:
    z = np.zeros(0, dtype=np.int64)
    return Plan(z, z, z, z, z)
