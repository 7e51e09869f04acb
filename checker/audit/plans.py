"""Per evaluator, what it reads: the plan `memo.run_plan` follows to run it once per distinct input.

Each plan names, from the evaluator's own code (rules/*.py), its unit of evaluation, the unit's
relevant rows, the order attributes read (a code per interpreted variant) and the patient facts
read (a code per unit); see `memo` for how a plan is run and why the findings stay exact. A plan
that leaves out something its evaluator reads would give wrong findings: the equivalence tests
(tests/test_audit_equivalence.py) compare every family with `check()`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from checker.orders import Order
from formulary import When
from rules.knowledge import knowledge as rules_knowledge

from .memo import Env, Plan, factorize_rows, variant_codes
from .vector_rules import PatientFacts


def patients_plan(env: Env, rel_v: np.ndarray, read: Callable[[Order], object], fact: np.ndarray,
                   min_rows: int = 1) -> Plan:  # fmt: skip
    """Unit = patient; relevant rows = rows whose variant is relevant; patients with fewer than
    `min_rows` relevant rows are left out (the evaluator provably finds nothing for them)."""
    rows = np.flatnonzero(rel_v[env.vid]) if len(rel_v) else np.zeros(0, dtype=np.int64)
    p = env.pidx[rows]
    if min_rows > 1:
        ok = np.bincount(p, minlength=env.n)[p] >= min_rows
        rows, p = rows[ok], p[ok]
    return dense_plan(rows, p, p, lambda uk: fact[uk], variant_codes(env.v.orders, read)[env.vid[rows]])


def dense_plan(rows: np.ndarray, unit_key: np.ndarray, pidx: np.ndarray,
           fact_of: Callable[[np.ndarray], np.ndarray], code: np.ndarray, keep=None) -> Plan:  # fmt: skip
    """Plan from relevant rows keyed by a sparse unit key (any int64; one key per unit); `fact_of`
    gives the fact codes of the distinct keys, ascending; `keep` is then called with dense units."""
    uk, first, unit = np.unique(unit_key, return_index=True, return_inverse=True)
    unit = unit.reshape(-1)
    order = np.lexsort((rows, unit))
    rows, unit, code = rows[order], unit[order], code[order]
    return Plan(rows, unit, pidx[first], fact_of(uk), code, keep)


def _when_facts(facts: PatientFacts, w: When) -> list[np.ndarray]:
    """The fact columns a caution's evidence (rules.patient._evidence) reads for `w`, generously:
    every fact `w` sets a bound on, the CrCl with whether it was estimated, matched conditions."""
    out: list[np.ndarray] = []
    if w.uses_crcl:
        out += [facts.crcl, facts.crcl_estimated]
    if any(b is not None for b in (w.age_min, w.age_max, w.age_over, w.age_below)):
        out.append(facts.age)
    if w.hepatic:
        out.append(facts.hepatic.to_numpy(dtype=object))
    for c in w.conditions:
        out.append(facts.has((c,)))
    labs = (
        (facts.qtc, (w.qtc_min, w.qtc_max, w.qtc_over, w.qtc_below)),
        (facts.calcium, (w.calcium_below, w.calcium_over)),
        (facts.platelets, (w.platelets_below,)),
        (facts.anc, (w.anc_below,)),
        (facts.hb, (w.hemoglobin_below,)),
    )
    out += [col for col, bounds in labs if any(b is not None for b in bounds)]
    return out


def cautions_plan(env: Env) -> Plan:
    """check_cautions, per caution c (its findings do not depend on the other cautions; cautions
    sharing a code are taken together): the orders c selects (tags, route, PRN, dose number: all
    per variant) when the patient surely falls under c.when; of those orders, drug id and name,
    input where there is no drug, and index; of the patient, what the evidence prints. Every
    selected order is relevant and no other is needed, so the unit is (patient, code)."""
    from .vector_rules import fits_caution

    know = rules_knowledge()
    groups: dict[str, list[int]] = {}
    for i, c in enumerate(know.cautions):
        groups.setdefault(f"{c.category}.{c.id}", []).append(i)
    names = list(groups)
    orders, vid, p = env.v.orders, env.vid, env.pidx.astype(np.int64)
    g_n = max(len(names), 1)
    pos = {id(c): i for i, c in enumerate(know.cautions)}
    fits_v = [
        {pos[id(c)] for k in tg for c in know.cautions_by_key.get(k, ()) if fits_caution(c, o, tg)}
        for o, tg in zip(orders, env.vtags, strict=True)
    ]
    fit_all = np.zeros((len(orders), len(know.cautions)), dtype=bool)
    for i, fv in enumerate(fits_v):
        fit_all[i, list(fv)] = True
    rows_l, key_l, code_l = [], [], []
    fact_keys, fact_vals = [], []
    for g, name in enumerate(names):
        members = [know.cautions[i] for i in groups[name]]
        fit = fit_all[:, groups[name]]
        rel = np.zeros(len(vid), dtype=bool)
        for j, c in enumerate(members):
            if fit[:, j].any():
                rel |= fit[vid, j] & env.facts.surely(c.when)[p]
        if not rel.any():
            continue
        rows = np.flatnonzero(rel)
        bits = fit.astype(np.int64) @ (1 << np.arange(len(members), dtype=np.int64))
        code = variant_codes(orders, lambda o: (o.drug_id, None if o.drug else o.input))
        rows_l.append(rows)
        key_l.append(p[rows] * g_n + g)
        code_l.append(code[vid[rows]] * (1 << len(members)) + bits[vid[rows]])
        cols = [c_ for c in members for c_ in _when_facts(env.facts, c.when)]
        who = np.unique(p[rows])
        fact_keys.append(who * g_n + g)
        fact_vals.append(factorize_rows(("caution", name), np.full(len(who), 0), *[c[who] for c in cols]))
    if not rows_l:
        return empty_plan()
    rows, keys, code = np.concatenate(rows_l), np.concatenate(key_l), np.concatenate(code_l)
    uk = np.unique(keys)
    unit_name = [names[int(x)] for x in uk % g_n]
    by_unit = pd.Series(np.concatenate(fact_vals), index=np.concatenate(fact_keys))
    return dense_plan(
        rows,
        keys,
        keys // g_n,
        lambda k: by_unit.reindex(k).to_numpy(np.int64),
        code,
        keep=lambda u, x: x.code == unit_name[u],
    )


def _needs_missing(fx: PatientFacts, need: str) -> np.ndarray:
    """Per patient, whether `rules.patient._missing(need)` can be non-empty (an unknown need: yes)."""
    nan = np.isnan
    match need:
        case "renal_function":
            return nan(fx.crcl) & ~fx.egfr_known
        case "serum_calcium":
            return nan(fx.calcium)
        case "blood_counts":
            return nan(fx.platelets) | nan(fx.anc) | nan(fx.hb)
        case "qtc":
            return nan(fx.qtc)
        case "opioid_tolerant":
            return nan(fx.tolerant)
        case "dental_exam_done":
            return fx.dental != 1.0
        case "weight":
            return nan(fx.weight)
        case "age":
            return nan(fx.age)
        case "hepatic_function":
            return fx.hepatic.isna().to_numpy(dtype=bool)
    return np.ones(len(fx.age), dtype=bool)


def required_plan(env: Env) -> Plan:
    """check_required reads, per order: tags (drug id, classes), route (selection; companions by
    drug id and classes), drug name, index; of the patient, only whether facts are missing
    (`rules.patient._missing`: CrCl, eGFR, calcium, blood counts, QTc, opioid tolerance, weight,
    age, hepatic function known or not; the dental examination's value). A check yields a finding
    only if it selects an order and something is missing (a fact, or a companion drug absent):
    per patient, the checks that may fire (a superset, widened to every check sharing an id with
    one, as findings are told apart by code) are in the fact code and only their findings are kept.
    Relevant rows: the orders those checks select (code: drug id and which of them select it) and,
    per companion selector of those checks present in the patient, its first matching order
    (code: which selectors it witnesses). The run on those rows selects the same orders and sees
    the same companions present for every kept check, so its findings are the patient's."""
    know = rules_knowledge()
    checks = list(know.checks)
    if not len(env.v.orders) or not checks:
        return empty_plan()
    orders, vid, p, n = env.v.orders, env.vid, env.pidx.astype(np.int64), env.n
    sel_bits = np.array(
        [sum(1 << i for i, rc in enumerate(checks) if rc.keys & t and (not rc.routes or o.route in rc.routes))
         for o, t in zip(orders, env.vtags, strict=True)], dtype=np.int64,
    )  # fmt: skip
    comps = [(i, s) for i, rc in enumerate(checks) for s in rc.with_drugs]
    comp_bits = np.array(
        [sum(1 << j for j, (_, s) in enumerate(comps) if s.matches(o.drug_id, o.classes)) for o in orders],
        dtype=np.int64,
    )
    rs, rc_ = sel_bits[vid], comp_bits[vid]
    sel_p = np.zeros(n, dtype=np.int64)
    np.bitwise_or.at(sel_p, p, rs)
    comp_p = np.zeros(n, dtype=np.int64)
    np.bitwise_or.at(comp_p, p, rc_)
    fire = np.zeros(n, dtype=np.int64)
    miss: dict[str, np.ndarray] = {}
    for i, rc in enumerate(checks):
        may = np.zeros(n, dtype=bool)
        for need in rc.needs:
            if need not in miss:
                miss[need] = _needs_missing(env.facts, need)
            may |= miss[need]
        for j, (ci, _) in enumerate(comps):
            if ci == i:
                may |= (comp_p >> j) & 1 == 0
        fire |= (may & ((sel_p >> i) & 1 == 1)).astype(np.int64) << i
    same_id = [sum(1 << k for k, other in enumerate(checks) if other.id == rc.id) for rc in checks]
    wide = fire.copy()
    for i in range(len(checks)):
        wide |= np.where((fire >> i) & 1 == 1, same_id[i], 0)
    fire = wide
    a = rs & fire[p]
    comp_of = np.array([sum(1 << j for j, (ci, _) in enumerate(comps) if ci == i) for i in range(len(checks))]
                       + [0], dtype=np.int64)  # fmt: skip
    want = np.zeros(n, dtype=np.int64)
    for i in range(len(checks)):
        want |= np.where((fire >> i) & 1 == 1, comp_of[i], 0)
    w = np.zeros(len(vid), dtype=np.int64)
    cand = rc_ & want[p]
    for j in range(len(comps)):
        hit = np.flatnonzero((cand >> j) & 1 == 1)
        if len(hit):
            _, first = np.unique(p[hit], return_index=True)  # rows ascend within a patient
            w[hit[first]] |= 1 << j
    rel = (a != 0) | (w != 0)
    rows = np.flatnonzero(rel)
    if not len(rows):
        return empty_plan()
    dc = variant_codes(orders, lambda o: o.drug_id)[vid[rows]]
    code = factorize_rows("required.row", np.where(a[rows] != 0, dc, -1), a[rows], w[rows])
    fx = env.facts
    fact = factorize_rows(
        "required",
        fire, np.isnan(fx.crcl), fx.egfr_known, np.isnan(fx.calcium), np.isnan(fx.platelets),
        np.isnan(fx.anc), np.isnan(fx.hb), np.isnan(fx.qtc), np.isnan(fx.tolerant), fx.dental,
        np.isnan(fx.weight), np.isnan(fx.age), fx.hepatic.isna().to_numpy(dtype=bool),
    )  # fmt: skip
    pr = p[rows]
    kept = {rc.id: i for i, rc in enumerate(checks)}
    plan = dense_plan(rows, pr, pr, lambda uk: fact[uk], code)
    mask = fire[plan.unit_pidx]
    plan.keep = lambda u, x: bool((int(mask[u]) >> kept[x.code.removeprefix("monitoring.")]) & 1)
    return plan


def empty_plan() -> Plan:
    z = np.zeros(0, dtype=np.int64)
    return Plan(z, z, z, z, z)
