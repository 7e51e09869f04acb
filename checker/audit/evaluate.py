"""Auditing one partition of rows (whole patients): the same findings `engine.run` gives.

How each part of the engine is covered, fastest first:

- reading problems (bad fields, missing drug, bad dose): per distinct cell text, see normalize;
- order interpretation and its findings (`unit`, `input`, `unrecognized`): once per distinct
  order tuple (per tuple and weight for per-kg doses), joined back to rows by code;
- dose limits (`rules.dose.check_doses`): a vectorized screen joins every row against each
  limit row of its drug written for its route (single, per-kg, interval, duration, course),
  keeps only limit rows whose `When` the patient may fall under (not provably False), and sums
  daily amounts per patient, drug and limit row; only (patient, drug) groups the screen cannot
  clear are handed to `check_doses` itself, so messages, evidence and strictest-limit choice
  are the engine's own. The screen has half the engine's margin, so it can only over-select;
- every other evaluator in `rules.evaluators()`: run exactly, per patient, on the interpreted
  orders (a Python loop), but only for patients that pass the evaluator's vectorized necessary
  condition (`vector_rules.needs`: e.g. an order a caution selects and its `When` surely True).

Orders are built once per (variant, index) and shared (`normalize.row_order`); patient facts
(CrCl, conditions, `matches` memo) once per patient. With `workers` > 1 the per-patient loop is
split by contiguous patient ranges over forked processes and the findings renumbered in order,
so the output is byte-identical for any number of workers.
"""

from __future__ import annotations

import gc
import multiprocessing as mp
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import NamedTuple

import numpy as np
import pandas as pd

from checker.engine import _unrecognized
from checker.model import SEVERITY_RANK, Finding, Patient
from checker.orders import Order
from formulary import Formulary, When
from formulary import load as load_formulary
from rules import evaluators
from rules.context import Context
from rules.dose import EPS, check_doses
from rules.knowledge import knowledge as rules_knowledge

from .normalize import Patients, Variants, distinct_orders, interpret, row_order
from .vector_rules import _PatientFacts, patient_facts, possibly
from .vector_rules import needs as vector_needs
from .vector_rules import tags as vector_tags

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
def limit_rows() -> tuple[pd.DataFrame, tuple[When, ...]]:
    """One row per (drug, limit row, route): that row's values, and which `When` it is written for."""
    f = load_formulary()
    whens: dict[int, int] = {}
    listed: list[When] = []
    recs = []
    for d in f.drugs.values():
        for j, lim in enumerate(d.limits):
            if id(lim.when) not in whens:
                whens[id(lim.when)] = len(listed)
                listed.append(lim.when)
            vals = {
                a: getattr(lim, a)
                for a in (
                    "max_single",
                    "max_single_per_kg",
                    "max_daily",
                    "max_daily_per_kg",
                    "min_interval_h",
                    "max_duration_days",
                    "course_max_doses",
                )
            }
            for route in dict.fromkeys(lim.routes):
                recs.append(
                    {
                        "drug_id": d.id,
                        "route": route,
                        "lim": j,
                        "wi": whens[id(lim.when)],
                        "ms": vals["max_single"],
                        "msk": vals["max_single_per_kg"],
                        "md": vals["max_daily"],
                        "mdk": vals["max_daily_per_kg"],
                        "mi": vals["min_interval_h"],
                        "mdur": vals["max_duration_days"],
                        "mc": vals["course_max_doses"],
                    }
                )
    table = pd.DataFrame(recs)
    for c in ("ms", "msk", "md", "mdk", "mi", "mdur", "mc"):
        table[c] = pd.to_numeric(table[c], errors="raise").astype(float)
    table["kg"] = table["msk"].notna() | table["mdk"].notna()
    return table, tuple(listed)


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
            "route": [o.route for o in v.orders],
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


def dose_candidates(acc: pd.DataFrame, v: Variants, facts: _PatientFacts) -> pd.DataFrame:
    """(pidx, drug_id) groups that might break a dose limit; all others provably do not.

    Each row meets each limit row of its drug written for its route (as `rules.dose._groups`),
    only where the patient may fall under that row's `When` (`Context.matches` not False: a
    finding needs True, or None for an `unknown` one); daily totals are summed per patient,
    drug and limit row."""
    table, whens = limit_rows()
    rows = _variant_features(v).iloc[acc["vid"].to_numpy()].reset_index(drop=True)
    rows["pidx"] = acc["pidx"].to_numpy()
    rows["w"] = acc["weight"].to_numpy()
    courses = _combined_course_candidates(rows)
    feat = rows[rows["drug_id"].notna()].merge(table, on=["drug_id", "route"], how="inner")
    if feat.empty:
        return courses
    used = np.unique(feat["wi"].to_numpy())
    may = np.zeros((len(facts.age), len(whens)), dtype=bool)
    for wi in used:
        may[:, wi] = possibly(facts, whens[wi])
    feat = feat[may[feat["pidx"].to_numpy(), feat["wi"].to_numpy()]]
    w = feat["w"].to_numpy(dtype=float)
    lo, hi = 1 - SLACK, 1 + SLACK  # the engine flags actual > limit·(1+EPS), or < limit·(1-EPS)
    with np.errstate(divide="ignore", invalid="ignore"):
        dpk = np.where(feat["per_kg"], feat["dpk"], feat["dose"] / w)
        row_hit = (
            (feat["single"] > feat["ms"] * hi)
            | (dpk > feat["msk"] * hi)
            | (feat["interval"] < feat["mi"] * lo)
            | (feat["duration"] > feat["mdur"] * hi)
            | (feat["course"] > feat["mc"] * hi)
            | (np.isnan(w) & (feat["kg"].astype(bool) | feat["per_kg"]))
        )
    feat = feat.assign(hit=row_hit.to_numpy())
    g = feat.groupby(["pidx", "drug_id", "lim"], sort=False).agg(
        daily=("daily", "sum"), w=("w", "first"), md=("md", "first"), mdk=("mdk", "first"), hit=("hit", "any")
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        hit = g["hit"] | (g["daily"] > g["md"] * hi) | (g["daily"] / g["w"] > g["mdk"] * hi)
    found = g.index[hit.to_numpy()].to_frame(index=False)[["pidx", "drug_id"]]
    return pd.concat([found, courses]).drop_duplicates(ignore_index=True)


@cache
def _course_limited() -> frozenset[str]:
    drugs = load_formulary().drugs.values()
    return frozenset(d.id for d in drugs if any(x.max_duration_days for x in d.limits))


def _combined_course_candidates(rows: pd.DataFrame) -> pd.DataFrame:
    """(pidx, drug_id) with two or more timed orders of a drug that has a course limit: the engine
    sums their days (rules.dose._combined_course), so these groups go to it."""
    timed = rows[rows["drug_id"].isin(_course_limited()) & rows["duration"].notna()]
    counts = timed.groupby(["pidx", "drug_id"], sort=False).size()
    found = counts[counts > 1].index.to_frame(index=False)
    if found.empty:
        return pd.DataFrame({"pidx": pd.Series([], dtype=np.int64), "drug_id": pd.Series([], dtype=object)})
    return found[["pidx", "drug_id"]]


# Evaluators with a vectorized screen; every other evaluator runs per patient (the fallback).
SCREENS: dict[Callable, Callable] = {check_doses: dose_candidates}


def audit_rows(
    rows: pd.DataFrame,
    bad: pd.DataFrame,
    patients: Patients,
    f: Formulary | None = None,
    want_reports: bool = False,
    keep: tuple[str, ...] = (),
    workers: int = 1,
) -> Result:
    """Audit whole patients: `rows` are parseable CSV rows (with `_row`), `bad` unreadable ones.

    With `workers` > 1 (and fork available), the per-patient engine runs are shared among that
    many forked processes, by contiguous ranges of patients; findings are the same."""
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
    facts = patient_facts(codes, patients, f)
    work = _work(acc, variants, facts, codes, starts, f, want_reports, workers)
    for part in _per_patient(work, workers):
        add(part)
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


class _Lite(NamedTuple):
    """What the CSV needs of a finding: kept instead of the whole Finding when no report is asked for
    (less memory, and less to send back from a worker)."""

    severity: str
    category: str
    code: str
    drugs: tuple[str, ...]
    message: str
    recommendation: str


@dataclass
class _Work:
    """Everything the per-patient engine runs need, for patient codes in any range."""

    v: Variants
    facts: _PatientFacts
    codes: list[str]
    starts: np.ndarray
    f: Formulary
    rows: np.ndarray
    vids: np.ndarray
    weights: np.ndarray
    drug_of: np.ndarray
    dose_stage: int
    cand_p: np.ndarray  # dose candidates (patient code, drug id), sorted
    cand_d: np.ndarray
    rest: list[tuple[int, Callable]]
    masks: list[np.ndarray | None]
    lite: bool

    def run(self, p0: int, p1: int) -> tuple[list[tuple], list[tuple]]:
        """Dose findings and the other evaluators' findings for patient codes p0..p1-1.

        `check_doses` runs on the drugs the
        vectorized screen flags only, with a context holding just their orders: it judges each
        drug on its own orders (ctx.by_drug), in sorted drug order, as the candidates' sort gives.
        The other evaluators run exactly as the engine runs them, on all the patient's orders,
        skipping a patient only where an evaluator's necessary condition (see vector_rules) fails."""
        v, know, doses, rest = self.v, rules_knowledge(), [], []
        vtags = [vector_tags(o) for o in v.orders]  # built as Context.tags builds them (same order)
        c0, c1 = (int(x) for x in np.searchsorted(self.cand_p, [p0, p1]))
        c_at = np.searchsorted(self.cand_p[c0:c1], np.arange(p0, p1 + 1)) + c0
        for p in range(p0, p1):
            todo = [(s, e) for (s, e), m in zip(self.rest, self.masks, strict=True) if m is None or m[p]]
            a, b = c_at[p - p0], c_at[p - p0 + 1]
            if (not todo or self.codes[p] == "") and a == b:
                continue
            lo, hi = self.starts[p], self.starts[p + 1]
            if a < b:
                wanted = set(self.cand_d[a:b])
                # Python int indexes here, numpy ones in the fallback, as before: JSON reports show them.
                mine = [
                    row_order(v, self.vids[i], int(i - lo), self.weights[i])
                    for i in range(lo, hi)
                    if self.drug_of[i] in wanted
                ]
                ctx = self.facts.context(p, mine, self.f, know)
                doses.extend(self._found(p, self.dose_stage, check_doses(ctx), lo))
            if not todo or self.codes[p] == "":
                continue
            orders = [row_order(v, self.vids[i], i - lo, self.weights[i]) for i in range(lo, hi)]
            ctx = self.facts.context(p, orders, self.f, know)
            ctx.__dict__["tags"] = {i - lo: vtags[self.vids[i]] for i in range(lo, hi)}
            for stage, evaluate in todo:
                rest.extend(self._found(p, stage, evaluate(ctx), lo))
        return doses, rest

    def _found(self, p: int, stage: int, found, lo: int) -> Iterator[tuple]:
        pid, rows = self.codes[p], self.rows
        for x in found:
            rowset = tuple(int(rows[lo + i]) for i in x.medications)
            if self.lite:
                x = _Lite(x.severity, x.category, x.code, x.drugs, x.message, x.recommendation)
            yield pid, stage, x, rowset


def _work(
    acc: pd.DataFrame,
    v: Variants,
    facts: _PatientFacts,
    codes: pd.Index,
    starts: np.ndarray,
    f: Formulary,
    want_reports: bool,
    workers: int,
) -> _Work:
    rest, dose_stage = [], 0
    for stage, evaluate in enumerate(evaluators(), start=1):
        if evaluate is check_doses:
            dose_stage = stage
        else:
            rest.append((stage, evaluate))
    cand = SCREENS[check_doses](acc, v, facts) if len(acc) and dose_stage else None
    if cand is None or cand.empty:
        cand = pd.DataFrame({"pidx": pd.Series([], dtype=np.int64), "drug_id": pd.Series([], dtype=object)})
    cand = cand.sort_values(["pidx", "drug_id"], kind="stable")
    needs = vector_needs(acc, v, facts, f) if rest else {}
    return _Work(
        v=v,
        facts=facts,
        codes=list(codes),
        starts=starts,
        f=f,
        rows=acc["_row"].to_numpy(),
        vids=acc["vid"].to_numpy(),
        weights=acc["weight"].to_numpy(),
        drug_of=_variant_features(v)["drug_id"].to_numpy()[acc["vid"].to_numpy()],
        dose_stage=dose_stage,
        cand_p=cand["pidx"].to_numpy(np.int64),
        cand_d=cand["drug_id"].to_numpy(object),
        rest=rest,
        masks=[needs.get(getattr(e, "__name__", ""), None) for _, e in rest],
        lite=not want_reports,  # without reports, keep only what the CSV needs of each finding
    )


_SHARED: _Work | None = None  # the work, inherited by forked workers
MIN_PATIENTS_PER_WORKER = 2000


def _run_range(bounds: tuple[int, int]) -> tuple[list[tuple], list[tuple]]:
    assert _SHARED is not None
    return _SHARED.run(*bounds)


def _per_patient(work: _Work, workers: int) -> list[pd.DataFrame]:
    """Dose findings, then the fallback's, numbered in patient order whatever the split."""
    global _SHARED
    n = len(work.codes)
    workers = min(workers, n // MIN_PATIENTS_PER_WORKER)
    if workers > 1 and "fork" in mp.get_all_start_methods():
        # Contiguous ranges of patients with about as many rows each.
        cuts = np.searchsorted(work.starts, np.linspace(0, work.starts[-1], workers + 1)[1:-1])
        edges = [0, *sorted(set(int(c) for c in cuts)), n]
        ranges = list(zip(edges[:-1], edges[1:], strict=True))
        _SHARED = work
        gc.freeze()  # the inherited heap is left out of the workers' collections: fewer copied pages
        try:
            with mp.get_context("fork").Pool(len(ranges)) as pool:
                done = pool.map(_run_range, ranges, chunksize=1)
        finally:
            _SHARED = None
            gc.unfreeze()
    else:
        done = [work.run(0, n)]
    frames = []
    for k in range(2):
        items = [x for d in done for x in d[k]]
        for d in done:
            d[k].clear()
        if not items:
            frames.append(_empty())
            continue
        frames.append(
            _frame(
                [x[0] for x in items],
                [(x[1] << 40) + i for i, x in enumerate(items)],
                [x[2] for x in items],
                [x[3] for x in items],
            )
        )
    return frames
