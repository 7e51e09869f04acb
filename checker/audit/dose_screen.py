"""Which (patient, drug) groups might break a dose limit: all others provably do not.

`check_doses` then runs only on the groups found here (see `dose_plan`). The screen joins every
variant (interpreted order) with each limit row of its drug written for its route, as
`rules.dose._groups` does, on integer codes: the join is made once per variant, then spread to
the rows by the variant's code, so no string key is compared per row. A limit row counts only
where the patient may fall under its `When` (`Context.matches` not False: a finding needs True,
or None for an `unknown` one); daily totals are summed per patient, drug and limit row. The
screen's margin is half the engine's, so float rounding can only make it flag more.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd

from checker.orders import Order
from formulary import When
from formulary import load as load_formulary
from rules.dose import EPS

from .arrays import distinct_ints, unique_first
from .normalize import Variants
from .vector_rules import PatientFacts

SLACK = EPS / 2  # the screen's margin: half the engine's, so it flags everything the engine can
LIMIT_ATTRS = (
    "max_single",
    "max_single_per_kg",
    "max_daily",
    "max_daily_per_kg",
    "min_interval_h",
    "max_duration_days",
    "course_max_doses",
)


@cache
def limit_rows() -> tuple[pd.DataFrame, tuple[When, ...]]:
    """One row per (drug, limit row, route): that row's values, which (drug, limit row) it is
    (`dl`) and which `When` it is written for (`wi`)."""
    f = load_formulary()
    whens: dict[int, int] = {}
    listed: list[When] = []
    recs = []
    for d in f.drugs.values():
        for j, lim in enumerate(d.limits):
            if id(lim.when) not in whens:
                whens[id(lim.when)] = len(listed)
                listed.append(lim.when)
            for route in dict.fromkeys(lim.routes):
                recs.append({"drug_id": d.id, "route": route, "lim": j, "wi": whens[id(lim.when)],
                             **{a: getattr(lim, a) for a in LIMIT_ATTRS}})  # fmt: skip
    table = pd.DataFrame(recs)
    for a in LIMIT_ATTRS:
        table[a] = pd.to_numeric(table[a], errors="raise").astype(float)
    table["dl"] = pd.factorize(pd.MultiIndex.from_arrays([table["drug_id"], table["lim"]]))[0]
    return table, tuple(listed)


def variant_features(v: Variants) -> dict[str, np.ndarray]:
    """Per variant, what the screen compares (NaN where the order has no such figure)."""

    def top(o: Order) -> float:
        vals = [x for x in (o.dose, *o.other_doses) if x is not None]
        return max(vals) if vals else np.nan

    def course(o: Order) -> float:
        vals = [x for x in (o.dose_number, o.course_doses) if x is not None]
        return float(max(vals)) if vals else np.nan

    def fl(x: float | None) -> float:
        return np.nan if x is None else x

    o = v.orders
    return {
        "drug_id": np.array([x.drug.id if x.drug else None for x in o], dtype=object),
        "route": np.array([x.route for x in o], dtype=object),
        "dose": np.array([fl(x.dose) for x in o], dtype=float),
        "single": np.array([top(x) for x in o], dtype=float),
        "dpk": np.array([fl(x.dose_per_kg) for x in o], dtype=float),
        "interval": np.array([fl(x.interval_h) for x in o], dtype=float),
        "duration": np.array([fl(x.duration_days) for x in o], dtype=float),
        "course": np.array([course(x) for x in o], dtype=float),
        "daily": np.array([fl(x.daily) for x in o], dtype=float),
        "per_kg": np.asarray(v.per_kg, dtype=bool),
    }


def dose_candidates(
    pidx: np.ndarray, vid: np.ndarray, weight: np.ndarray, v: Variants, facts: PatientFacts
) -> pd.DataFrame:
    """(pidx, drug_id) groups that might break a dose limit, for rows given by patient code,
    variant and weight (NaN: unknown)."""
    table, whens = limit_rows()
    vf = variant_features(v)
    pidx = np.asarray(pidx, dtype=np.int64)
    found = [_course_candidates(pidx, vid, vf)]
    # Per variant, the table records of its drug written for its route (CSR: ptr, count, flat).
    by_key = table.groupby(["drug_id", "route"], sort=False).indices
    pairs = zip(vf["drug_id"], vf["route"], strict=True)
    recs = [by_key.get((d, r), ()) if d is not None else () for d, r in pairs]
    count = np.fromiter((len(x) for x in recs), dtype=np.int64, count=len(recs))
    ptr = np.concatenate([[0], np.cumsum(count)[:-1]]) if len(recs) else np.zeros(0, dtype=np.int64)
    flat = np.concatenate([np.asarray(x, dtype=np.int64) for x in recs] + [np.zeros(0, np.int64)])
    c = count[vid]
    row = np.repeat(np.arange(len(vid)), c)  # one pair per (row, table record)
    rec = flat[np.repeat(ptr[vid], c) + np.arange(int(c.sum())) - np.repeat(np.cumsum(c) - c, c)]
    wi = table["wi"].to_numpy()[rec]
    may = np.zeros(len(row), dtype=bool)
    for w in distinct_ints(wi).tolist():
        at = wi == w
        may[at] = facts.possibly(whens[w])[pidx[row[at]]]
    row, rec = row[may], rec[may]
    if len(row):
        found.append(_limit_candidates(pidx[row], vid[row], weight[row], rec, table, vf))
    out = pd.concat(found, ignore_index=True)
    return out.drop_duplicates(ignore_index=True)


def _limit_candidates(
    p: np.ndarray, vi: np.ndarray, w: np.ndarray, rec: np.ndarray, table: pd.DataFrame, vf: dict
) -> pd.DataFrame:
    """Per (row, limit record) pair: the row's own figures against the record's, and the daily
    totals per (patient, drug, limit row) against the daily limits."""
    lim = {a: table[a].to_numpy()[rec] for a in LIMIT_ATTRS}
    lo, hi = 1 - SLACK, 1 + SLACK  # the engine flags actual > limit·(1+EPS), or < limit·(1-EPS)
    per_kg = vf["per_kg"][vi]
    kg = ~np.isnan(lim["max_single_per_kg"]) | ~np.isnan(lim["max_daily_per_kg"])
    with np.errstate(divide="ignore", invalid="ignore"):
        dpk = np.where(per_kg, vf["dpk"][vi], vf["dose"][vi] / w)
        hit = (
            (vf["single"][vi] > lim["max_single"] * hi)
            | (dpk > lim["max_single_per_kg"] * hi)
            | (vf["interval"][vi] < lim["min_interval_h"] * lo)
            | (vf["duration"][vi] > lim["max_duration_days"] * hi)
            | (vf["course"][vi] > lim["course_max_doses"] * hi)
            | (np.isnan(w) & (kg | per_kg))
        )
    dl = table["dl"].to_numpy()[rec]
    _, first, group = unique_first(p * (int(table["dl"].max()) + 1) + dl)
    n = len(first)
    daily = np.bincount(group, weights=np.nan_to_num(vf["daily"][vi], nan=0.0), minlength=n)
    any_hit = np.bincount(group, weights=hit, minlength=n) > 0
    gw, md, mdk = w[first], lim["max_daily"][first], lim["max_daily_per_kg"][first]
    with np.errstate(divide="ignore", invalid="ignore"):
        flagged = any_hit | (daily > md * hi) | (daily / gw > mdk * hi)
    return pd.DataFrame({"pidx": p[first][flagged], "drug_id": vf["drug_id"][vi[first]][flagged]})


@cache
def _course_limited() -> frozenset[str]:
    drugs = load_formulary().drugs.values()
    return frozenset(d.id for d in drugs if any(x.max_duration_days for x in d.limits))


def _course_candidates(pidx: np.ndarray, vid: np.ndarray, vf: dict) -> pd.DataFrame:
    """(pidx, drug_id) with two or more timed orders of a drug that has a course limit: the engine
    sums their days (rules.dose._combined_course), so these groups go to it."""
    limited = np.array([d in _course_limited() for d in vf["drug_id"]], dtype=bool)
    timed = limited[vid] & ~np.isnan(vf["duration"][vid])
    drug = pd.factorize(vf["drug_id"])[0].astype(np.int64)
    p, d = pidx[timed], drug[vid[timed]]
    _, first, group = unique_first(p * (int(drug.max(initial=0)) + 1) + d)
    many = np.bincount(group, minlength=len(first)) > 1
    return pd.DataFrame({"pidx": p[first][many], "drug_id": vf["drug_id"][vid[timed][first]][many]})
