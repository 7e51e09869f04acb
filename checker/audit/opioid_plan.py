"""Which orders `rules.opioids.check_opioid_load` reads, for `memo.run_plan` (see `plans`).

In CSV mode the key is not what the rule reads but what its one finding shows there: the MME
total, how many orders were not counted, cancer, and the opioid orders' number and set of drugs.
Patients with different opioid orders mostly share a few totals, so the rule then runs once per
such outcome instead of once per combination of orders (see `opioid_plan`).
"""

from __future__ import annotations

import numpy as np

from rules.knowledge import knowledge as rules_knowledge
from rules.opioids import check_opioid_load

from .memo import STORE, Env, Plan, factorize_rows
from .plans import patients_plan

_BITS = 62  # drugs per int64 word of a unit's set of drugs


def opioid_plan(env: Env) -> Plan:
    """check_opioid_load reads, per opioid order with a drug: drug id, route, dose (ug/h factors),
    daily amount, unit, index; of the patient, whether a cancer condition is known.

    With JSON reports (the evidence shows each order's amount, factor and part) the key is all of
    that. In CSV mode only the finding's severity, code, drugs, medications, message and
    recommendation are output, and the rule (with `checker.findings.finding`) makes them from: the
    set of the opioid orders' drug ids (`drugs` is sorted and de-duplicated), their number
    (`medications`: every opioid order, positions 0..n-1 of the unit's rows), how many were not
    counted (the message gives only their number), cancer, and the total (`num(total)` in the
    message, `total >= t.mme` for the threshold). So the row code is constant (the key still holds
    the number of rows) and the fact code is (cancer, number not counted, total, drug set), the
    total computed exactly as the rule does (`_parts`, `_totals`): units with equal keys get
    byte-identical CSV findings. tests/test_audit_opioids.py compares the audit with check() on
    regimens whose totals collide or nearly collide (equal totals from different orders and drugs,
    at and a rounding step off each threshold, PRN, routes without a factor, unreadable doses, ug/h
    patches, non-opioid orders between, with and without cancer)."""
    know = rules_knowledge()
    rel = np.array([bool(o.drug) and "opioid" in o.classes for o in env.v.orders], dtype=bool)
    cancer = env.facts.has(tuple(know.cancer_conditions)).astype(np.int64)
    if env.reports:
        return patients_plan(env, rel, lambda o: (o.drug_id, o.route, o.dose, o.daily, o.unit), cancer)
    plan = patients_plan(env, rel, lambda o: None, cancer)
    if not len(plan.rows):
        return plan
    counted, part = _parts(env, rel)
    vid = env.vid[plan.rows]
    n_units = len(plan.unit_pidx)
    not_counted = np.bincount(plan.unit, weights=~counted[vid], minlength=n_units).astype(np.int64)
    total = _totals(plan.unit, np.where(counted[vid], part[vid], 0.0), n_units)
    drugs = _drug_sets(env, rel, plan.unit, vid, n_units)
    plan.fact = factorize_rows("opioid_load.csv", cancer[plan.unit_pidx], not_counted, total, drugs)
    return plan


def _padded(unit: np.ndarray, values: np.ndarray, n_units: int, fill: float | int) -> np.ndarray:
    """Per unit a matrix row of its values in order (`unit` ascending), `fill` after its last."""
    length = np.bincount(unit, minlength=n_units)
    pos = np.arange(len(unit)) - (np.cumsum(length) - length)[unit]
    mat = np.full((n_units, int(length.max())), fill, dtype=values.dtype)
    mat[unit, pos] = values
    return mat


def _drug_sets(env: Env, rel: np.ndarray, unit: np.ndarray, vid: np.ndarray, n_units: int) -> np.ndarray:
    """Per unit, a content code (`STORE.code`) of the sorted set of its rows' drug ids: per unit a
    bit per drug of the relevant variants (in words of `_BITS`), drugs named once per distinct
    pattern of bits."""
    orders = env.v.orders
    ids = np.array([o.drug_id if r else "" for o, r in zip(orders, rel.tolist(), strict=True)], dtype=object)
    names, code = np.unique(ids, return_inverse=True)
    local = code.reshape(-1)[vid]
    words = np.zeros((n_units, (len(names) - 1) // _BITS + 1), dtype=np.int64)
    np.bitwise_or.at(words, (unit, local // _BITS), np.left_shift(1, local % _BITS))
    if words.shape[1] == 1:
        sets, inv = np.unique(words[:, 0], return_inverse=True)
        sets = sets[:, None]
    else:
        sets, inv = np.unique(words, axis=0, return_inverse=True)
    codes = [STORE.code(("opioid.drugs", *_named(r, names))) for r in sets.tolist()]
    return np.array(codes, dtype=np.int64)[inv.reshape(-1)]


def _named(words: list[int], names: np.ndarray) -> list[str]:
    """The drugs whose bits are set, sorted (as `names` are)."""
    return [names[w * _BITS + b] for w, m in enumerate(words) for b in range(_BITS) if m >> b & 1]


def _parts(env: Env, rel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per relevant variant: whether the rule counts it, and its part (`mme_per_day`), taken from
    the rule itself run on that order alone, so that the factor lookup, the choice of amount and
    `round(amount * factor, 1)` are not re-implemented here. An order's part and whether it is
    counted depend on that order only (drug id, route, dose, daily amount; not on the patient,
    whose cancer only picks the finding), so its contribution there is its contribution in every
    regimen; the rule runs once per distinct such order. Parts are floats (the factors are); an
    int part would still be exact as a double."""
    know = rules_knowledge()
    counted = np.zeros(len(rel), dtype=bool)
    part = np.zeros(len(rel), dtype=np.float64)
    seen: dict[tuple, tuple[bool, float]] = {}
    for vi in np.flatnonzero(rel).tolist():
        o = env.v.orders[vi]
        read = (o.drug_id, o.route, o.dose, o.daily, o.unit)
        if read not in seen:
            (x,) = check_opioid_load(env.facts.context(0, [o], env.f, know))
            parts = x.evidence["contributions"]
            seen[read] = (True, float(parts[0]["mme_per_day"])) if parts else (False, 0.0)
        counted[vi], part[vi] = seen[read]
    return counted, part


def _totals(unit: np.ndarray, part: np.ndarray, n_units: int) -> np.ndarray:
    """Per unit, `round(sum(parts), 1)` as the rule computes it over its counted orders in order.

    Python 3.11's `sum` of floats adds left to right in doubles from 0.0 (the int start becomes
    0.0); adding the padded matrix column by column does the same additions, element by element.
    The zeros standing for uncounted orders and padding change nothing: x + 0.0 == x bit for bit
    unless x is -0.0, which a sum starting at +0.0 never is (NaN and inf stay as they are). A
    total of no part is the int 0 there and 0.0 here: equal, printed alike by `num`, compared
    alike. Python's own `round` is then applied once per distinct sum."""
    mat = _padded(unit, part, n_units, 0.0)  # a unit's rows are in row order: the rule's order
    acc = np.zeros(n_units, dtype=np.float64)
    for j in range(mat.shape[1]):
        acc = acc + mat[:, j]
    sums, inv = np.unique(acc, return_inverse=True)
    rounded = np.array([round(s, 1) for s in sums.tolist()], dtype=np.float64)
    return rounded[inv.reshape(-1)]
