"""Which (patient, drug) groups and facts `rules.dose.check_doses` reads, for `memo.run_plan`."""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter

import numpy as np
import pandas as pd

from checker.orders import Order
from checker.quantities import num
from formulary import Drug, When

from .arrays import distinct_ints
from .memo import Env, Plan, factorize_rows, variant_codes
from .plans import dense_plan, empty_plan
from .vector_rules import PatientFacts


def _tri(facts: PatientFacts, w: When) -> np.ndarray:
    """`Context.matches(w)` per patient as 2 (True), 1 (None: a fact unknown), 0 (False)."""
    return np.where(facts.surely(w), 2, np.where(facts.possibly(w), 1, 0)).astype(np.int64)


def _unknown_bits(facts: PatientFacts) -> np.ndarray:
    """Per patient, which facts `Context.matches` / `missing_for` can find unknown (a bit each)."""
    cols = [facts.age, facts.weight, facts.crcl, facts.tolerant, facts.pregnant, facts.qtc, facts.calcium,
            facts.platelets, facts.anc, facts.hb]  # fmt: skip
    bits = np.zeros(len(facts.age), dtype=np.int64)
    for i, c in enumerate(cols):
        bits |= np.isnan(c).astype(np.int64) << i
    bits |= facts.hepatic.isna().to_numpy(dtype=np.int64) << len(cols)
    return bits


def _facet_bits(w: When) -> int:
    """The `_unknown_bits` of the facts `missing_for(w)` can name: the facets `rules.context._facets`
    builds for `w` (conditions are never unknown there). Bits of other facts are never read."""
    tests = (
        (w.age_min, w.age_max, w.age_over, w.age_below),
        (w.weight_min_kg, w.weight_max_kg, w.weight_below),
        (w.crcl_min, w.crcl_max, w.crcl_over, w.crcl_below),
        (w.opioid_tolerant,),
        (w.pregnant,),
        (w.qtc_min, w.qtc_max, w.qtc_over, w.qtc_below),
        (w.calcium_over, w.calcium_below),
        (w.platelets_below,),
        (w.anc_below,),
        (w.hemoglobin_below,),
    )
    bits = sum(1 << i for i, bounds in enumerate(tests) if any(b is not None for b in bounds))
    return bits | ((1 << len(tests)) if w.hepatic else 0)


def doses_plan(env: Env, cand: pd.DataFrame) -> Plan:
    """check_doses on the (patient, drug) groups the vectorized screen flags: it judges each drug
    on its own orders (ctx.by_drug). Per order it reads route, unit, doses (single, low, per kg,
    other phases), interval, PRN, daily amount, cap, duration, dose number, course doses, index;
    of the patient: `matches` for each of the drug's limit rows (True / None / False), which facts
    are unknown (`missing_for`: only facts the drug's rows test, see `_facet_bits`; the
    missing-weight findings: whether the weight is known), the CrCl as printed with whether it was
    estimated (only where a finding on a CrCl row can be made: the patient surely falls under one)
    and the weight (only where a per-kg row can be read, see `_weight_read`)."""
    if cand.empty:
        return empty_plan()
    f, fx = env.f, env.facts
    drug_of = [o.drug.id if o.drug else None for o in env.v.orders]  # per variant
    vcode, dnames = pd.factorize(pd.Series(drug_of, dtype=object), use_na_sentinel=True)
    dcode = vcode.astype(np.int64)[env.vid]
    span = len(dnames) + 1
    c_d = pd.Index(dnames).get_indexer(cand["drug_id"].to_numpy(object))
    ukeys = cand["pidx"].to_numpy(np.int64) * span + c_d
    rowkey = env.pidx.astype(np.int64) * span + dcode
    rows = np.flatnonzero(np.isin(rowkey, ukeys) & (dcode >= 0))
    unknown = _unknown_bits(fx)
    route_of = np.array([o.route for o in env.v.orders], dtype=object)[env.vid]
    tri: dict[int, np.ndarray] = {}
    fact = np.zeros(len(ukeys), dtype=np.int64)
    weighed = np.zeros(len(ukeys), dtype=bool)  # per unit: a per-kg row can read the weight
    cp = cand["pidx"].to_numpy(np.int64)
    for d in distinct_ints(c_d):
        at = np.flatnonzero(c_d == d)
        drug = f.drugs[dnames[d]]
        who = cp[at]
        mask = 1 << 1  # weight: `_missing_weight` reads whether it is known, whatever the rows
        for lim in drug.limits:
            mask |= _facet_bits(lim.when)
        cols: list[np.ndarray] = [unknown[who] & mask]
        for lim in drug.limits:
            if id(lim.when) not in tri:
                tri[id(lim.when)] = _tri(fx, lim.when)
            cols.append(tri[id(lim.when)][who])
        banded = [tri[id(lim.when)][who] == 2 for lim in drug.limits if lim.when.uses_crcl]
        if banded:  # read by a finding on a CrCl row only, which needs the patient surely under it
            read = np.logical_or.reduce(banded)
            if not env.reports:  # in CSV only the message shows it, and only when it was estimated
                read &= fx.crcl_estimated[who].astype(bool)
            cols += [_crcl_text(fx.crcl[who], read), np.where(read, fx.crcl_estimated[who], -1)]
        per_kg = [x for x in drug.limits if x.max_single_per_kg is not None or x.max_daily_per_kg is not None]
        if per_kg:
            need = _weight_read(per_kg, tri, who, ukeys[at], rowkey[rows], route_of[rows])
            cols += [need, np.where(need, fx.weight[who], np.nan)]
            weighed[at] = need
        fact[at] = factorize_rows(("dose", drug.id), *cols)
    code = variant_codes(env.v.orders, _order_read)
    rk = rowkey[rows]
    by_unit = pd.Series(fact, index=ukeys)
    plan = dense_plan(
        rows, rk, rk // span, lambda uk: by_unit.reindex(uk).to_numpy(np.int64), code[env.vid[rows]]
    )
    # A fixed dose's per-kg figure is the dose over the patient's weight (normalize.row_order); only
    # a per-kg row reads it, so only where one can (the weight is then in the fact code) are the
    # orders built with it: elsewhere the shared order (no per-kg figure) gives the same findings.
    read = pd.Series(weighed, index=ukeys).reindex(rowkey[plan.rows]).to_numpy(bool)
    plan.weight = np.where(read, env.weight[plan.rows], np.nan)
    return plan


# What check_doses reads of an order for each kind of limit (rules.dose: `_actual`, `_finding`,
# `_message`); whatever the drug's kinds, it also reads the route (`_groups`, `_combined_course`),
# the unit (`render`) and whether the dose and the per-kg dose are given (`_missing_weight`).
_READS = (
    ("max_single", ("dose", "other_doses")),
    ("max_single_per_kg", ("dose", "dose_per_kg")),
    ("max_daily", ("daily", "prn", "capped")),
    ("max_daily_per_kg", ("daily", "prn", "capped")),
    ("min_interval_h", ("interval_h",)),
    ("max_duration_days", ("duration_days",)),
    ("course_max_doses", ("dose_number", "course_doses")),
)
_READERS: dict[int, tuple[Drug, Callable[[Order], tuple]]] = {}


def _order_read(o: Order) -> tuple:
    """What check_doses reads of order `o`, given the kinds of limit its drug has: orders alike in
    this give the same findings (e.g. two orders of a drug limited per day only, with the same
    daily amount, whatever their single doses and intervals)."""
    d = o.drug
    if d is None:
        return (None,)  # check_doses never sees it
    hit = _READERS.get(id(d))
    if hit is None or hit[0] is not d:
        kinds = {k for lim in d.limits for k, _ in _READS if getattr(lim, k) is not None}
        names = tuple(dict.fromkeys(a for k, attrs in _READS if k in kinds for a in attrs))
        hit = _READERS[id(d)] = (d, attrgetter(*names) if names else lambda _: ())
    return (d.id, o.route, o.unit, o.dose is None, o.dose_per_kg is None, hit[1](o))


def _crcl_text(crcl: np.ndarray, read: np.ndarray) -> np.ndarray:
    """CrCl as rules.dose prints it (`num`: three decimals; None when unknown) where `read`, else
    "-": the dose findings read it only so, so patients alike in this text act alike. Each
    distinct value is printed once."""
    out = np.full(len(crcl), "-", dtype=object)
    sel = np.flatnonzero(read)
    if len(sel):
        values, inv = np.unique(crcl[sel], return_inverse=True)  # NaN (unknown) once
        text = np.array([num(x) if x == x else None for x in values.tolist()], dtype=object)
        out[sel] = text[inv.reshape(-1)]
    return out


def _weight_read(per_kg: list, tri: dict[int, np.ndarray], who: np.ndarray, units: np.ndarray,
                 row_unit: np.ndarray, row_route: np.ndarray) -> np.ndarray:  # fmt: skip
    """Per unit, whether check_doses can read the weight's value: only a per-kg kind reads it (the
    per-kg figure of a fixed dose, or a daily total over the weight), on a group of orders whose
    route a per-kg row is written for (`rules.dose._groups`), and a finding on that row needs
    `matches` True or None (`_evaluate`, `_missing_weight`). Where every per-kg row is provably
    False for the patient or meets none of the unit's routes, any weight gives the same findings
    (whether it is known stays in the key): e.g. oral acetaminophen, or IV for a patient of 50 kg
    or more, against the IV under-50-kg per-kg row."""
    need = np.zeros(len(units), dtype=bool)
    for lim in per_kg:
        hit = row_unit[np.isin(row_route, list(lim.routes))]
        need |= np.isin(units, hit) & (tri[id(lim.when)][who] != 0)
    return need
