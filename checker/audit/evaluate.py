"""Auditing one partition of rows (whole patients): the same findings `engine.run` gives.

How each part of the engine is covered, fastest first:

- reading problems (bad fields, missing drug, bad dose): per distinct cell text, see normalize;
- order interpretation and its findings (`unit`, `input`, `unrecognized`): once per distinct
  order tuple (per tuple and weight for per-kg doses), joined back to rows by code;
- dose limits (`rules.dose.check_doses`): a vectorized screen joins every row against a limits
  table built once from the formulary (single, per-kg, interval, duration, course) and sums
  daily amounts per patient and drug; only (patient, drug) groups the screen cannot clear are
  handed to `check_doses` itself, so messages, evidence and strictest-limit choice are the
  engine's own. The screen ignores routes and patient bands, so it can only over-select;
- any other evaluator in `rules.evaluators()` without a screen in SCREENS: run exactly, per
  patient, on the interpreted orders (the fallback; exact, but a Python loop).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd

from checker.engine import _unrecognized
from checker.model import SEVERITY_RANK, Finding, Patient
from checker.orders import Order
from formulary import Formulary, key
from formulary import load as load_formulary
from rules import evaluators
from rules.context import Context
from rules.dose import EPS, check_doses
from rules.knowledge import knowledge as rules_knowledge

from .normalize import Patients, Variants, distinct_orders, interpret, row_order

SLACK = EPS / 2  # the screen's margin: half the engine's, so it flags everything the engine can
COLUMNS = ["patient_id", "rows", "severity", "category", "code", "drugs", "message", "recommendation"]
_SORT = ["first_row", "patient_id", "sev_rank", "category", "drugs_key", "code", "rows_key", "message"]


@dataclass
class Result:
    """A partition's findings (sorted) and its accounting."""

    findings: pd.DataFrame  # COLUMNS + first_row, sev_rank, obj, medications (local indexes)
    rows_read: int
    rows_rejected: int
    patients: int
    reports: list[dict] | None = None  # per-patient JSON reports, when asked for


@cache
def limits_table() -> pd.DataFrame:
    """Per drug, the tightest value of each kind of dose limit over all its limit rows."""
    f = load_formulary()
    recs = []
    for d in f.drugs.values():

        def pick(attr: str, fn: Callable = min, lims: tuple = d.limits) -> float:
            vals = [getattr(x, attr) for x in lims if getattr(x, attr) is not None]
            return float(fn(vals)) if vals else np.nan

        recs.append(
            {
                "drug_id": d.id,
                "ms": pick("max_single"),
                "msk": pick("max_single_per_kg"),
                "md": pick("max_daily"),
                "mdk": pick("max_daily_per_kg"),
                "mi": pick("min_interval_h", max),
                "mdur": pick("max_duration_days"),
                "mc": pick("course_max_doses"),
                "any": bool(d.limits),
                "kg": any(x.max_single_per_kg or x.max_daily_per_kg for x in d.limits),
            }
        )
    return pd.DataFrame(recs).set_index("drug_id")


def _variant_features(v: Variants) -> pd.DataFrame:
    def top(o: Order) -> float:
        vals = [x for x in (o.dose, *o.other_doses) if x is not None]
        return max(vals) if vals else np.nan

    def course(o: Order) -> float:
        vals = [x for x in (o.dose_number, o.course_doses) if x is not None]
        return float(max(vals)) if vals else np.nan

    nan = np.nan
    return pd.DataFrame(
        {
            "drug_id": [o.drug.id if o.drug else None for o in v.orders],
            "dose": [o.dose if o.dose is not None else nan for o in v.orders],
            "single": [top(o) for o in v.orders],
            "dpk": [o.dose_per_kg if o.dose_per_kg is not None else nan for o in v.orders],
            "interval": [o.interval_h if o.interval_h is not None else nan for o in v.orders],
            "duration": [o.duration_days if o.duration_days is not None else nan for o in v.orders],
            "course": [course(o) for o in v.orders],
            "daily": [o.daily if o.daily is not None else nan for o in v.orders],
            "per_kg": v.per_kg,
        }
    )


def dose_candidates(acc: pd.DataFrame, v: Variants) -> pd.DataFrame:
    """(pidx, drug_id) groups that might break a dose limit; all others provably do not."""
    feat = _variant_features(v).iloc[acc["vid"].to_numpy()].reset_index(drop=True)
    feat["pidx"] = acc["pidx"].to_numpy()
    feat["w"] = acc["weight"].to_numpy()
    feat = feat[feat["drug_id"].notna()].join(limits_table(), on="drug_id")
    feat = feat[feat["any"].astype(bool)]
    w = feat["w"].to_numpy(dtype=float)
    dpk = np.where(feat["per_kg"], feat["dpk"], feat["dose"] / w)
    lo, hi = 1 - SLACK, 1 + SLACK  # the engine flags actual > limit·(1+EPS), or < limit·(1-EPS)
    row_hit = (
        (feat["single"] > feat["ms"] * hi)
        | (dpk > feat["msk"] * hi)
        | (feat["interval"] < feat["mi"] * lo)
        | (feat["duration"] > feat["mdur"] * hi)
        | (feat["course"] > feat["mc"] * hi)
        | (np.isnan(w) & (feat["kg"].astype(bool) | feat["per_kg"]))
    )
    feat = feat.assign(hit=row_hit.to_numpy())
    g = feat.groupby(["pidx", "drug_id"], sort=False).agg(
        daily=("daily", "sum"), w=("w", "first"), md=("md", "first"), mdk=("mdk", "first"), hit=("hit", "any")
    )
    hit = g["hit"] | (g["daily"] > g["md"] * hi) | (g["daily"] / g["w"] > g["mdk"] * hi)
    return g.index[hit.to_numpy()].to_frame(index=False)


# Evaluators with a vectorized screen; every other evaluator runs per patient (the fallback).
SCREENS: dict[Callable, Callable] = {check_doses: dose_candidates}


def audit_rows(
    rows: pd.DataFrame,
    bad: pd.DataFrame,
    patients: Patients,
    f: Formulary | None = None,
    want_reports: bool = False,
    keep: tuple[str, ...] = (),
) -> Result:
    """Audit whole patients: `rows` are parseable CSV rows (with `_row`), `bad` unreadable ones."""
    f = f or load_formulary()
    rows = rows.sort_values("_row", kind="stable").reset_index(drop=True)
    pid = rows["patient_id"].fillna("").str.strip() if len(rows) else pd.Series([], dtype=object)
    oid, distinct = distinct_orders(rows)
    errs = np.array(distinct.errors, dtype=object)[oid] if len(rows) else np.array([], dtype=object)
    no_pid = (pid == "").to_numpy()
    refused = no_pid | pd.notna(errs)
    reasons = np.where(no_pid, "patient_id is missing", errs)
    bad_all = pd.concat(
        [
            bad.assign(patient_id=bad["patient_id"].fillna("").astype(str).str.strip(), kind="malformed"),
            pd.DataFrame(
                {
                    "_row": rows["_row"].to_numpy()[refused],
                    "patient_id": pid.to_numpy()[refused],
                    "reason": reasons[refused],
                    "kind": "invalid",
                }
            ),
        ],
        ignore_index=True,
    )
    acc = pd.DataFrame(
        {
            "_row": rows["_row"].to_numpy()[~refused],
            "patient_id": pid.to_numpy()[~refused],
            "oid": oid[~refused],
        }
    )
    every = pd.concat([acc[["_row", "patient_id"]], bad_all[["_row", "patient_id"]]], ignore_index=True)
    firsts = every.groupby("patient_id", sort=False)["_row"].min()
    codes = pd.Index(firsts.index)
    acc["pidx"] = codes.get_indexer(acc["patient_id"])
    acc = acc.sort_values(["pidx", "_row"], kind="stable").reset_index(drop=True)
    acc["local"] = acc.groupby("pidx", sort=False).cumcount().to_numpy()
    acc["weight"] = patients.weights(acc["patient_id"])
    vid, variants = interpret(acc["oid"].to_numpy(), distinct, acc["weight"].to_numpy(), f)
    acc["vid"] = vid

    parts: list[pd.DataFrame] = []

    def add(part: pd.DataFrame) -> None:  # Finding objects are only kept for the JSON reports
        parts.append(part if want_reports or "obj" not in part else part.drop(columns="obj"))

    for part in (
        _problem_findings(acc, variants),
        _bad_findings(bad_all),
        _patient_findings(codes, patients),
    ):
        add(part)
    starts = np.searchsorted(acc["pidx"].to_numpy(), np.arange(len(codes) + 1))
    rest = []
    for stage, evaluate in enumerate(evaluators(), start=1):
        if evaluate is check_doses:
            add(_screened_doses(acc, variants, patients, codes, starts, f, stage))
        else:
            rest.append((stage, evaluate))
    add(_fallback(rest, acc, variants, patients, codes, starts, f))
    out = (
        pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) else _empty()
    )
    out["first_row"] = firsts.reindex(out["patient_id"]).to_numpy() if len(out) else []
    out = out.sort_values("seq", kind="stable").drop_duplicates(
        ["patient_id", "code", "drugs", "rows", "message"], keep="last"
    )
    out = out.sort_values(_SORT, kind="stable").reset_index(drop=True)
    if keep:
        out = _kept(out, rows, keep)
    n_ids = int((codes != "").sum())
    result = Result(out, len(rows) + len(bad), len(bad_all), n_ids)
    if want_reports:
        from .output import patient_reports

        result.reports = patient_reports(out, acc, variants, firsts)
    return result


def _kept(out: pd.DataFrame, rows: pd.DataFrame, keep: tuple[str, ...]) -> pd.DataFrame:
    """Extra input columns carried to each finding: the values of its rows, `;`-separated."""
    each = out["rows"].str.split(";").explode()
    at = pd.to_numeric(each, errors="coerce")
    by_row = rows.set_index("_row")
    for c in keep:
        vals = at.map(by_row[c]) if c in by_row.columns else pd.Series("", index=at.index)
        out[c] = vals.fillna("").astype(str).groupby(level=0).agg(";".join).reindex(out.index).fillna("")
    return out


def context(patient: Patient, orders: list[Order], f: Formulary) -> Context:
    """The evaluators' context, built as `engine.run` builds it."""
    return Context(patient=patient, orders=orders, formulary=f, knowledge=rules_knowledge())


def _empty() -> pd.DataFrame:
    return pd.DataFrame(
        {c: pd.Series([], dtype=object) for c in [*COLUMNS, "drugs_key", "rows_key", "obj"]}
    ).assign(sev_rank=pd.Series([], dtype=np.int64), seq=pd.Series([], dtype=np.int64))


def _key_rows(rows: list[tuple[int, ...]]) -> tuple[list[str], list[str]]:
    return [";".join(map(str, r)) for r in rows], ["\x00".join(f"{x:012d}" for x in r) for r in rows]


def _frame(
    pids: list[str], seqs: list[int], found: list[Finding], rows: list[tuple[int, ...]]
) -> pd.DataFrame:
    text, key = _key_rows(rows)
    return pd.DataFrame(
        {
            "patient_id": pids,
            "rows": text,
            "severity": [x.severity for x in found],
            "category": [x.category for x in found],
            "code": [x.code for x in found],
            "drugs": [";".join(x.drugs) for x in found],
            "message": [x.message for x in found],
            "recommendation": [x.recommendation for x in found],
            "drugs_key": ["\x00".join(x.drugs) for x in found],
            "rows_key": key,
            "obj": found,
            "sev_rank": np.array([SEVERITY_RANK[x.severity] for x in found], dtype=np.int64),
            "seq": np.array(seqs, dtype=np.int64),
        }
    )


def _problem_findings(acc: pd.DataFrame, v: Variants) -> pd.DataFrame:
    """Order-level findings, built once per variant and joined to every row that uses it."""
    per: list[tuple[int, int, Finding]] = []
    used = np.zeros(len(v.orders), dtype=bool)
    used[acc["vid"].to_numpy()] = True
    for i in np.flatnonzero(used):
        o = v.orders[i]
        found = [*o.problems, *([_unrecognized(o)] if o.drug is None else [])]
        per.extend((i, k, x) for k, x in enumerate(found))
    if not per or not len(acc):
        return _empty()
    table = _frame([""] * len(per), [k for _, k, _ in per], [x for _, _, x in per], [()] * len(per))
    table["vid"] = [i for i, _, _ in per]
    table = table.drop(columns=["patient_id", "rows", "rows_key"])
    hits = acc[["vid", "patient_id", "_row", "local"]].merge(table, on="vid", how="inner")
    hits["rows"] = hits["_row"].astype(str)
    hits["rows_key"] = hits["_row"].map("{:012d}".format)
    hits["seq"] = hits["local"].to_numpy(np.int64) * 1000 + hits["seq"].to_numpy(np.int64)
    return hits.drop(columns=["vid", "_row", "local"])


def _bad_findings(bad: pd.DataFrame) -> pd.DataFrame:
    if bad.empty:
        return _empty()
    found = []
    for r, kind, reason in zip(bad["_row"], bad["kind"], bad["reason"], strict=True):
        if kind == "malformed":
            found.append(
                Finding(
                    "input.row_malformed",
                    "input",
                    "moderate",
                    (),
                    (),
                    f"Row {r} could not be read ({reason}); this order was not checked.",
                    "Fix the row's quoting or number of fields and audit it again.",
                )
            )
        else:
            found.append(
                Finding(
                    "input.row_invalid",
                    "input",
                    "moderate",
                    (),
                    (),
                    f"Row {r} was not checked: {reason.rstrip('.')}.",
                    "Correct the row and audit it again.",
                )
            )
    rows = [(int(r),) for r in bad["_row"]]
    return _frame(list(bad["patient_id"]), [9 << 50] * len(found), found, rows)


def _patient_findings(codes: pd.Index, patients: Patients) -> pd.DataFrame:
    t = patients.table
    if t.empty:
        return _empty()
    t = t[t.index.isin(codes)]
    pids, found = [], []
    for pid, error, copies in zip(t.index, t["error"], t["copies"], strict=True):
        if error:
            pids.append(pid)
            found.append(
                Finding(
                    "input.patient_invalid",
                    "input",
                    "moderate",
                    (),
                    (),
                    f"The patients file's row for {pid} was not used ({error}); the patient "
                    "was checked as if nothing were known of them.",
                    "Correct the patient row and audit again.",
                )
            )
        if copies > 1:
            pids.append(pid)
            found.append(
                Finding(
                    "input.patient_duplicate",
                    "input",
                    "minor",
                    (),
                    (),
                    f"{pid} appears {copies} times in the patients file; the first row was used.",
                    "Keep one row per patient.",
                )
            )
    return _frame(pids, [9 << 50] * len(found), found, [()] * len(found))


def _screened_doses(
    acc: pd.DataFrame,
    v: Variants,
    patients: Patients,
    codes: pd.Index,
    starts: np.ndarray,
    f: Formulary,
    stage: int,
) -> pd.DataFrame:
    """`check_doses` itself, on only the (patient, drug) groups the vectorized screen flags."""
    cand = SCREENS[check_doses](acc, v) if len(acc) else pd.DataFrame(columns=["pidx", "drug_id"])
    if cand.empty:
        return _empty()
    cand = cand.sort_values(["pidx", "drug_id"], kind="stable")
    drug_of = _variant_features(v)["drug_id"].to_numpy()[acc["vid"].to_numpy()]
    pids, seqs, found, rowsets = [], [], [], []
    row_arr, vid_arr, w_arr, loc = (acc[c].to_numpy() for c in ("_row", "vid", "weight", "local"))
    n = 0
    for p, drug_id in zip(cand["pidx"].to_numpy(), cand["drug_id"].to_numpy(), strict=True):
        lo, hi = starts[p], starts[p + 1]
        mine = [i for i in range(lo, hi) if drug_of[i] == drug_id]
        orders = [row_order(v, vid_arr[i], int(loc[i]), w_arr[i]) for i in mine]
        pid = codes[p]
        ctx = context(patients.get(pid), orders, f)
        rows = row_arr[lo:hi]
        for x in check_doses(ctx):
            pids.append(pid)
            seqs.append((stage << 40) + n)
            found.append(x)
            rowsets.append(tuple(int(rows[i]) for i in x.medications))
            n += 1
    return _frame(pids, seqs, found, rowsets) if found else _empty()


def _needs(acc: pd.DataFrame, v: Variants, codes: pd.Index, patients: Patients, f: Formulary) -> dict:
    """Necessary conditions per evaluator name, per patient code: without them it finds nothing."""
    recognised = np.array([bool(o.drug or o.classes) for o in v.orders], dtype=bool)[acc["vid"].to_numpy()]
    opioid = np.array([bool(o.drug) and "opioid" in o.classes for o in v.orders], dtype=bool)[
        acc["vid"].to_numpy()
    ]
    n = len(codes)
    p = acc["pidx"].to_numpy()
    two = np.bincount(p, weights=recognised, minlength=n) >= 2
    some = np.bincount(p, minlength=n) >= 2
    unknown = np.array(
        [any(key(c) not in f.conditions for c in patients.get(pid).conditions) for pid in codes], dtype=bool
    )
    return {
        "check_interactions": two,
        "check_duplication": some,
        "check_opioid_load": np.bincount(p, weights=opioid, minlength=n) > 0,
        "check_conditions_known": unknown,
    }


def _fallback(
    rest: list[tuple[int, Callable]],
    acc: pd.DataFrame,
    v: Variants,
    patients: Patients,
    codes: pd.Index,
    starts: np.ndarray,
    f: Formulary,
) -> pd.DataFrame:
    """Evaluators with no vectorized form: run exactly as the engine does, one context per patient,
    skipping a patient only where the evaluator's necessary condition (see _needs) fails."""
    if not rest:
        return _empty()
    needs = _needs(acc, v, codes, patients, f)
    masks = [needs.get(getattr(e, "__name__", ""), None) for _, e in rest]
    pids, seqs, found, rowsets = [], [], [], []
    row_arr, vid_arr, w_arr = (acc[c].to_numpy() for c in ("_row", "vid", "weight"))
    n = 0
    for p, pid in enumerate(codes):
        if pid == "":
            continue
        todo = [(s, e) for (s, e), m in zip(rest, masks, strict=True) if m is None or m[p]]
        if not todo:
            continue
        lo, hi = starts[p], starts[p + 1]
        ctx = context(
            patients.get(pid), [row_order(v, vid_arr[i], i - lo, w_arr[i]) for i in range(lo, hi)], f
        )
        for stage, evaluate in todo:
            for x in evaluate(ctx):
                pids.append(pid)
                seqs.append((stage << 40) + n)
                found.append(x)
                rowsets.append(tuple(int(row_arr[lo + i]) for i in x.medications))
                n += 1
    return _frame(pids, seqs, found, rowsets) if found else _empty()
