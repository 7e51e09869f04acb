"""Per evaluator, what it reads: the plan `memo.run_plan` follows to run it once per distinct input.

Each plan names, from the evaluator's own code (rules/*.py), its unit of evaluation, the unit's
relevant rows, the order attributes read (a code per interpreted variant) and the patient facts
read (a code per unit); see `memo` for how a plan is run and why the findings stay exact. A plan
that leaves out something its evaluator reads would give wrong findings: the equivalence tests
(tests/test_audit_equivalence.py) compare every family with `check()`.

Plans are built in every partition, and the same variants recur in each: what a plan derives from
a variant alone (which cautions or checks select it) is computed once per distinct content in the
process (`per_content`), and distinct values are found by sorting combined integer keys
(`radix_key`, `unique_first`, `arrays.distinct_ints`): numpy's hash-based `unique` costs far more.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from checker.orders import Order
from formulary import When
from rules.knowledge import knowledge as rules_knowledge
from rules.model import Knowledge

from .arrays import distinct_ints, unique_first, within
from .memo import STORE, Env, Plan, factorize_rows, variant_codes
from .vector_rules import PatientFacts, fits_caution

_REMEMBERED: dict[str, tuple[object, dict]] = {}


def remembered(name: str, know: object) -> dict:
    """A dict kept for the process under `name`, emptied when the knowledge changes: for results
    keyed by content codes (`memo.STORE`: equal content, equal code in every partition)."""
    owner, done = _REMEMBERED.get(name, (None, {}))
    if owner is not know:
        done = {}
        _REMEMBERED[name] = (know, done)
    return done


def _content(o: Order) -> tuple:
    """All the plans of this module and of `interaction_plan` derive from an order alone: tags
    (drug id, classes), route, PRN, dose number as cautions compare it, input where no drug id."""
    return ("plan content", o.drug_id, o.classes, o.route, o.prn, o.dose_number or 1,
            None if o.drug and o.drug_id else o.input)  # fmt: skip


@dataclass(frozen=True)
class Contents:
    """A partition's variants grouped by `_content`."""

    codes: np.ndarray  # per distinct content: its content code (`memo.STORE`), ascending
    first: np.ndarray  # per distinct content: its first variant
    of: np.ndarray  # per variant: its distinct content


_LAST: list[tuple[object, Contents | None]] = [(None, None)]  # the last partition's variants and theirs


def contents(env: Env) -> Contents:
    """The partition's `Contents`, made once for the plans that share it (one pass over variants)."""
    last = _LAST[0]
    if last[0] is not env.v:
        codes, first, of = unique_first(variant_codes(env.v.orders, _content))
        last = (env.v, Contents(codes, first, of))
        _LAST[0] = last  # replaced whole: a reader sees one partition's pair
    return last[1]


def per_content(name: str, know: object, env: Env, compute: Callable[[Order, frozenset[str]], list[int]],
                width: int) -> tuple[np.ndarray, Contents]:  # fmt: skip
    """Per distinct content of the partition (`contents`), the `width` ints `compute(order, tags)`
    gives, computed once per content in the process (for this knowledge): `compute` must read of
    the order nothing `_content` leaves out. The (distinct, width) table (`table[c.of]`: per variant)."""
    done = remembered(name, know)
    c = contents(env)
    orders, vtags = env.v.orders, env.vtags
    for k, i in zip(c.codes.tolist(), c.first.tolist(), strict=True):
        if k not in done:
            done[k] = compute(orders[i], vtags[i])
    return np.array([done[k] for k in c.codes.tolist()], dtype=np.int64).reshape(len(c.codes), width), c


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
    uk, first, unit = unique_first(unit_key)
    order = np.argsort(unit * (int(rows.max()) + 1) + rows, kind="stable") if len(rows) else unit
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
    if w.calcium_below is not None or w.calcium_over is not None or w.albumin_known is not None:
        out.append(facts.albumin_known)  # the evidence says whether the calcium was corrected
    return out


def cautions_plan(env: Env) -> Plan:
    """check_cautions, per caution c (its findings do not depend on the other cautions; cautions
    sharing a code are taken together): the orders c selects (tags, route, PRN, dose number: all
    per variant) when the patient surely falls under c.when; of those orders, drug id and name,
    input where there is no drug, and index; of the patient, what the evidence prints. Every
    selected order is relevant and no other is needed, so the unit is (patient, code)."""
    know = rules_knowledge()
    groups: dict[str, list[int]] = {}
    for i, c in enumerate(know.cautions):
        groups.setdefault(f"{c.category}.{c.id}", []).append(i)
    names = list(groups)
    vid, p = env.vid, env.pidx.astype(np.int64)
    g_n = max(len(names), 1)
    table, cs = _caution_fits(env, know)
    fit_d, code_d = table[:, :-1].astype(bool), table[:, -1]  # per distinct content
    row_c = cs.of[vid]  # per row, its distinct content
    rows_of = _rows_by(np.flatnonzero(fit_d.any(axis=1)[row_c]), row_c, len(cs.codes))
    rows_l, key_l, code_l = [], [], []
    fact_keys, fact_vals = [], []
    for g, name in enumerate(names):
        members = [know.cautions[i] for i in groups[name]]
        fit = fit_d[:, groups[name]]
        parts = []  # per member, the rows it selects of patients surely under its `when`
        for j, c in enumerate(members):
            if fit[:, j].any():
                r = rows_of(np.flatnonzero(fit[:, j]))
                parts.append(r[env.facts.surely(c.when)[p[r]]])
        rows = distinct_ints(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)
        if not len(rows):
            continue
        bits = fit.astype(np.int64) @ (1 << np.arange(len(members), dtype=np.int64))
        rows_l.append(rows)
        key_l.append(p[rows] * g_n + g)
        code_l.append(code_d[row_c[rows]] * (1 << len(members)) + bits[row_c[rows]])
        cols = [c_ for c in members for c_ in _when_facts(env.facts, c.when)]
        who = distinct_ints(p[rows])
        fact_keys.append(who * g_n + g)
        fact_vals.append(factorize_rows(("caution", name), np.full(len(who), 0), *[c[who] for c in cols]))
    if not rows_l:
        return empty_plan()
    rows, keys, code = np.concatenate(rows_l), np.concatenate(key_l), np.concatenate(code_l)
    uk = distinct_ints(keys)
    unit_g = (uk % g_n).tolist()
    by_unit = pd.Series(np.concatenate(fact_vals), index=np.concatenate(fact_keys))
    return dense_plan(
        rows,
        keys,
        keys // g_n,
        lambda k: by_unit.reindex(k).to_numpy(np.int64),
        code,
        keep=lambda u, x: x.code == names[unit_g[u]],
    )


def _rows_by(rows: np.ndarray, group: np.ndarray, n: int) -> Callable[[np.ndarray], np.ndarray]:
    """A function giving, of `rows` (ascending), those whose group (`group[row]`, 0..n-1) is one of
    the groups asked for: ascending within each group."""
    by = rows[np.argsort(group[rows], kind="stable")]
    count = np.bincount(group[rows], minlength=n)
    start = np.cumsum(count) - count

    def rows_of(gs: np.ndarray) -> np.ndarray:
        return by[np.repeat(start[gs], count[gs]) + within(count[gs])]

    return rows_of


def _caution_fits(env: Env, know: Knowledge) -> tuple[np.ndarray, Contents]:
    """Per distinct content, per caution `fits_caution` (it reads the order's tags, route, PRN and
    dose number `or 1`), then the row code: drug id, input where there is no drug (content code)."""
    pos = {id(c): i for i, c in enumerate(know.cautions)}

    def row(o: Order, tg: frozenset[str]) -> list[int]:
        out = [0] * (len(know.cautions) + 1)
        for k in tg:
            for c in know.cautions_by_key.get(k, ()):
                if fits_caution(c, o, tg):
                    out[pos[id(c)]] = 1
        out[-1] = STORE.code((o.drug_id, None if o.drug else o.input))
        return out

    return per_content("cautions", know, env, row, len(know.cautions) + 1)


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
    """check_required, per check id (its findings, `_check` per check, do not depend on the other
    checks; checks sharing an id are taken together, as their findings share a code). A check reads,
    per order: tags (drug id, classes), route (selection; companions by drug id and classes), drug
    name, index; of the patient, only whether the facts its needs name are missing
    (`rules.patient._missing`: CrCl or eGFR, calcium, blood counts, QTc, opioid tolerance, weight,
    age, hepatic function known or not; the dental examination's value). It yields a finding only
    if it selects an order and something is missing (a fact, or a companion drug absent): the unit
    is (patient, id) for the ids with a check that may fire there (`_required_fire`), run with a
    knowledge holding that id's checks alone. Relevant rows: the orders those checks select (code:
    drug id and which of them select it) and, per companion selector of theirs present in the
    patient, its first matching order (code: which selectors it witnesses); fact code: the id and
    the missing-ness of its checks' needs. The run on those rows selects the same orders, sees the
    same companions present and the same facts missing for each of the id's checks, so its
    findings are the patient's for that id; other ids' findings have other codes, so none is merged
    with them. Split by id, keys recur far more than whole-patient ones (a patient's checks combine
    freely)."""
    know = rules_knowledge()
    checks = list(know.checks)
    if not len(env.v.orders) or not checks:
        return empty_plan()
    comps = [(i, s) for i, rc in enumerate(checks) for s in rc.with_drugs]
    cand, rs, rc_, dc, fire = _required_fire(env, know, checks, comps)
    p = env.pidx[cand].astype(np.int64)
    by_id = split_by_id(know, "checks")
    n_g = len(by_id.ids)
    cols = _missing_columns(env.facts)
    rows_l, key_l, d_l, a_l, w_l, fact_keys, fact_vals = [], [], [], [], [], [], []
    for g, positions in enumerate(by_id.positions):
        mine = sum(1 << i for i in positions)
        on = ((fire & mine) != 0)[p]  # widened: all of an id's checks or none
        if not on.any():
            continue
        a = np.where(on, rs & mine, 0)
        w = np.zeros(len(cand), dtype=np.int64)
        for j in (j for j, (ci, _) in enumerate(comps) if ci in positions):
            hit = np.flatnonzero(((rc_ >> j) & 1 == 1) & on)
            if len(hit):
                ph = p[hit]  # rows are sorted by patient, then row: a patient's first is where ph changes
                w[hit[np.r_[True, ph[1:] != ph[:-1]]]] |= 1 << j
        at = np.flatnonzero((a != 0) | (w != 0))
        if not len(at):
            continue
        rows_l.append(cand[at])
        key_l.append(p[at] * n_g + g)
        d_l.append(np.where(a[at] != 0, dc[at], -1))
        a_l.append(a[at])
        w_l.append(w[at])
        who = distinct_ints(p[at])
        read = [c for need in dict.fromkeys(x for i in positions for x in checks[i].needs)
                for c in cols.get(need, [c for c_ in cols.values() for c in c_])]  # fmt: skip
        fact_keys.append(who * n_g + g)
        fact_vals.append(
            factorize_rows(("required", by_id.ids[g]), np.zeros(len(who)), *[c[who] for c in read])
        )
    if not rows_l:
        return empty_plan()
    rows, keys, d, a, w = (np.concatenate(x) for x in (rows_l, key_l, d_l, a_l, w_l))
    code = factorize_rows("required.row", d, a, w)
    by_unit = pd.Series(np.concatenate(fact_vals), index=np.concatenate(fact_keys))
    plan = dense_plan(rows, keys, keys // n_g, lambda k: by_unit.reindex(k).to_numpy(np.int64), code)
    unit_g = (distinct_ints(keys) % n_g).tolist()
    plan.knowledge = lambda u: by_id.knowledge[unit_g[u]]
    return plan


def _required_fire(env: Env, know: Knowledge, checks: list, comps: list) -> tuple[np.ndarray, ...]:
    """The rows a check selects or a companion selector matches (the only ones a check reads), and
    of those: the checks selecting it and the companion selectors it matches (bits), its drug id
    (content code); per patient, the checks that may fire there (a superset: it selects an order
    of the patient and a need of it may be missing or a companion is absent), widened to every
    check sharing an id with one."""
    n = env.n

    def bits(o: Order, t: frozenset[str]) -> list[int]:  # the checks selecting o, the companions it is
        routed = [not rc.routes or o.route in rc.routes for rc in checks]
        sel = sum(1 << i for i, rc in enumerate(checks) if rc.keys & t and routed[i])
        comp = sum(1 << j for j, (_, s) in enumerate(comps) if s.matches(o.drug_id, o.classes))
        return [sel, comp, STORE.code(o.drug_id)]

    table, cs = per_content("required", know, env, bits, 3)
    row_c = cs.of[env.vid]
    cand = np.flatnonzero(((table[:, 0] | table[:, 1]) != 0)[row_c])
    rs, rc_, dc = (table[row_c[cand], k] for k in range(3))
    p = env.pidx[cand].astype(np.int64)
    sel_p, comp_p = _or_per_patient(p, rs, n), _or_per_patient(p, rc_, n)
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
    return cand, rs, rc_, dc, wide


def _or_per_patient(p: np.ndarray, bits: np.ndarray, n: int) -> np.ndarray:
    """Per patient (0..n-1), the bitwise or of `bits` over its rows (`p` ascending)."""
    out = np.zeros(n, dtype=np.int64)
    if len(p):
        head = np.flatnonzero(np.r_[True, p[1:] != p[:-1]])
        out[p[head]] = np.bitwise_or.reduceat(bits, head)
    return out


def _missing_columns(fx: PatientFacts) -> dict[str, list[np.ndarray]]:
    """Per need, the fact columns `rules.patient._missing` reads for it (known or not; the dental
    examination's value); an unknown need is given them all (it reads none)."""
    nan = np.isnan
    return {
        "renal_function": [nan(fx.crcl), fx.egfr_known],
        "serum_calcium": [nan(fx.calcium)],
        "blood_counts": [nan(fx.platelets), nan(fx.anc), nan(fx.hb)],
        "qtc": [nan(fx.qtc)],
        "opioid_tolerant": [nan(fx.tolerant)],
        "dental_exam_done": [fx.dental],
        "weight": [nan(fx.weight)],
        "age": [nan(fx.age)],
        "hepatic_function": [fx.hepatic.isna().to_numpy(dtype=bool)],
    }


@dataclass(frozen=True)
class ById:
    """Per rule id of one of the knowledge's rule lists: its rules' positions and the knowledge
    holding those rules alone (units of one id run with it: rules sharing an id share a finding
    code, so they stay together); `none`: the knowledge with none of them."""

    ids: list[str]
    positions: list[list[int]]
    knowledge: list[Knowledge]
    none: Knowledge


_BY_ID: dict[tuple[int, str], tuple[Knowledge, ById]] = {}


def split_by_id(know: Knowledge, attr: str) -> ById:
    """`ById` of `know.<attr>` ("checks", "duplications"), built once per knowledge and list."""
    got = _BY_ID.get((id(know), attr))
    if got is None or got[0] is not know:
        rules = getattr(know, attr)
        groups: dict[str, list[int]] = {}
        for i, r in enumerate(rules):
            groups.setdefault(r.id, []).append(i)
        alone = [dataclasses.replace(know, **{attr: tuple(rules[i] for i in js)}) for js in groups.values()]
        none = dataclasses.replace(know, **{attr: ()})
        got = (know, ById(list(groups), list(groups.values()), alone, none))
        _BY_ID[(id(know), attr)] = got
    return got[1]


def empty_plan() -> Plan:
    z = np.zeros(0, dtype=np.int64)
    return Plan(z, z, z, z, z)
