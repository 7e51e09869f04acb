"""Auditing one partition of rows (whole patients): the same findings `engine.run` gives.

How each part of the engine is covered, fastest first:

- reading problems (bad fields, missing drug, bad dose): per distinct cell text, see normalize;
- order interpretation and its findings (`unit`, `input`, `unrecognized`): once per distinct
  order tuple (per tuple and weight for per-kg doses), joined back to rows by code;
- dose limits (`rules.dose.check_doses`): a vectorized screen (`dose_screen`) joins every row against each
  limit row of its drug written for its route (single, per-kg, interval, duration, course),
  keeps only limit rows whose `When` the patient may fall under (not provably False), and sums
  daily amounts per patient, drug and limit row; only (patient, drug) groups the screen cannot
  clear are handed to `check_doses` itself, so messages, evidence and strictest-limit choice
  are the engine's own. The screen has half the engine's margin, so it can only over-select;
- every evaluator of `rules.evaluators()` (check_doses on the screen's groups only): run once per
  distinct input it reads, not per patient (see `memo`: per family, the orders that can take
  part in a finding, the attributes of them it reads and the patient facts it reads), and the
  findings given to every patient with that input, their medications mapped to the patient's
  rows. Keys and findings are kept across the partitions of a process.

Orders are built once per (variant, index) and shared (`normalize.row_order`); patient facts
(CrCl, conditions, `matches` memo) once per patient. Findings are de-duplicated and sorted as
the engine does, on integer keys: per distinct finding its ranks (severity, category, drugs,
code, message), per hit its rows' indexes within the patient. Parallelism is at the level of
whole-patient partitions (see `partition`), each audited here in one process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from checker.engine import unrecognized
from checker.model import Finding, Patient
from checker.orders import Order
from formulary import Formulary
from formulary import load as load_formulary
from rules import evaluators
from rules.context import Context
from rules.dose import check_doses
from rules.knowledge import knowledge as rules_knowledge

from . import dose_plan, duplication_plan, interaction_plan, memo, opioid_plan, plans
from .assemble import assemble
from .dose_screen import dose_candidates, limit_rows
from .normalize import Patients, Variants, distinct_orders, interpret
from .vector_rules import patient_facts

# Partitions hold whole patients and each patient has its own first row: a partition's findings
# are already in report order (`order`), so merging partitions needs only these two keys.
SORT_KEYS = ["first_row", "order"]


@dataclass
class Result:
    """A partition's findings (sorted) and its accounting."""

    findings: pd.DataFrame  # COLUMNS + first_row, sev_rank, order (position), obj (with reports)
    rows_read: int
    rows_rejected: int
    patients: int
    reports: list[dict] | None = None  # per-patient JSON reports, when asked for


def load_tables() -> None:
    """Load the knowledge and the tables built from it, which every partition reads: before forking
    workers, so that they share one copy (copy-on-write) instead of each building its own."""
    load_formulary()
    rules_knowledge()
    limit_rows()


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
    # Patient codes in order of first appearance (accepted rows, then refused ones), each with its
    # first row: one factorisation of the ids instead of a group-by and two look-ups.
    ids = np.concatenate([acc["patient_id"].to_numpy(object), bad_all["patient_id"].to_numpy(object)])
    code, uniq = pd.factorize(ids)
    first_row = np.full(len(uniq), np.iinfo(np.int64).max, dtype=np.int64)
    rows_at = np.concatenate([acc["_row"].to_numpy(np.int64), bad_all["_row"].to_numpy(np.int64)])
    np.minimum.at(first_row, code, rows_at)
    codes = pd.Index(uniq)
    firsts = pd.Series(first_row, index=codes, name="_row")
    acc["pidx"], bad_pidx = code[: len(acc)], code[len(acc) :].astype(np.int64)
    acc = acc.sort_values(["pidx", "_row"], kind="stable").reset_index(drop=True)
    acc["local"] = acc.groupby("pidx", sort=False).cumcount().to_numpy()
    facts = patient_facts(codes, patients, f)
    acc["weight"] = facts.weight[acc["pidx"].to_numpy()]  # NaN: unknown, or the patient's row refused
    vid, variants = interpret(acc["oid"].to_numpy(), distinct, acc["weight"].to_numpy(), f)
    acc["vid"] = vid
    rank_acc, rank_bad = _ranks(
        acc["pidx"].to_numpy(), acc["_row"].to_numpy(), bad_pidx, bad_all["_row"].to_numpy()
    )

    t = memo.Templates()
    blocks = [
        *_problem_blocks(acc, variants, t, rank_acc),
        *_bad_blocks(bad_all, bad_pidx, rank_bad, t),
        *_patient_blocks(codes, patients, t),
    ]
    env = memo.Env(
        v=variants,
        facts=facts,
        f=f,
        codes=codes.tolist(),
        pidx=acc["pidx"].to_numpy(np.int64),
        local=acc["local"].to_numpy(np.int64),
        vid=acc["vid"].to_numpy(np.int64),
        weight=acc["weight"].to_numpy(float),
        row=acc["_row"].to_numpy(np.int64),
        rank=rank_acc,
        reports=want_reports,
    )
    blocks += _evaluator_blocks(env, acc, t)
    out = assemble(blocks, t, codes, firsts, want_reports)
    if keep:
        out = _kept(out, rows, keep)
    n_ids = int((codes != "").sum())
    result = Result(out, len(rows) + len(bad), len(bad_all), n_ids)
    if want_reports:
        from .output import patient_reports

        result.reports = patient_reports(out, acc, variants, firsts)
    return result


def _ranks(
    acc_p: np.ndarray, acc_r: np.ndarray, bad_p: np.ndarray, bad_r: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's index among all its patient's rows (accepted or refused), in row order: the
    findings' rows compare as these within a patient, and they take few distinct tuples."""
    p = np.concatenate([acc_p, bad_p]).astype(np.int64)
    r = np.concatenate([acc_r, bad_r]).astype(np.int64)
    order = np.lexsort((r, p))
    sp = p[order]
    first = np.flatnonzero(np.r_[True, sp[1:] != sp[:-1]]) if len(sp) else np.zeros(0, dtype=np.int64)
    starts = np.repeat(first, np.diff(np.r_[first, len(sp)]))
    rank = np.empty(len(p), dtype=np.int64)
    rank[order] = np.arange(len(p)) - starts
    return rank[: len(acc_p)], rank[len(acc_p) :]


def _evaluator_blocks(env: memo.Env, acc: pd.DataFrame, t: memo.Templates) -> list[memo.Block]:
    """Every evaluator of `rules.evaluators()`, once per distinct input (see `memo`)."""
    from rules.duplication import check_duplication
    from rules.interactions import check_interactions
    from rules.opioids import check_opioid_load
    from rules.patient import check_cautions, check_conditions_known, check_required

    by_evaluator: dict[Callable, Callable[[memo.Env], memo.Plan]] = {
        check_interactions: interaction_plan.interactions_plan,
        check_duplication: duplication_plan.duplication_plan,
        check_cautions: plans.cautions_plan,
        check_required: plans.required_plan,
        check_opioid_load: opioid_plan.opioid_plan,
    }
    out: list[memo.Block] = []
    for stage, evaluate in enumerate(evaluators(), start=1):
        if not len(acc) and evaluate is not check_conditions_known:
            continue
        if evaluate is check_doses:
            cand = dose_candidates(env.pidx, env.vid, env.weight, env.v, env.facts)
            out += memo.run_plan(env, t, stage, evaluate, dose_plan.doses_plan(env, cand), "doses")
        elif evaluate is check_conditions_known:
            out += memo.conditions_blocks(env, t, stage, evaluate)
        elif evaluate in by_evaluator:
            out += memo.run_plan(env, t, stage, evaluate, by_evaluator[evaluate](env), evaluate.__name__)
        else:
            out += memo.generic_blocks(env, t, stage, evaluate)
    return out


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


def _block(family: int, pidx: np.ndarray, tid: np.ndarray, rows: np.ndarray, local: np.ndarray) -> memo.Block:
    return memo.Block(family, np.asarray(pidx, np.int64), np.asarray(tid, np.int64), rows, local)


def _problem_blocks(acc: pd.DataFrame, v: Variants, t: memo.Templates, rank: np.ndarray) -> list[memo.Block]:
    """Order-level findings, built once per variant and given to every row that uses it. One row's
    findings come from one variant, so the engine's de-duplication is done per variant."""
    if not len(acc):
        return []
    vid = acc["vid"].to_numpy()
    used = np.zeros(len(v.orders), dtype=bool)
    used[vid] = True
    per: dict[int, list[int]] = {}
    for i in np.flatnonzero(used).tolist():
        o = v.orders[i]
        mine: dict[tuple, Finding] = {}
        for x in (*o.problems, *([unrecognized(o)] if o.drug is None else [])):
            mine.pop((x.code, x.drugs, x.message), None)  # one row: the same medications throughout
            mine[(x.code, x.drugs, x.message)] = x
        if mine:
            per[i] = [t.add(x) for x in mine.values()]
    if not per:
        return []
    count = np.zeros(len(v.orders), dtype=np.int64)
    ptr = np.zeros(len(v.orders), dtype=np.int64)
    flat: list[int] = []
    for i, tids in per.items():
        ptr[i], count[i] = len(flat), len(tids)
        flat += tids
    c = count[vid]
    at = np.repeat(np.arange(len(vid)), c)
    offs = np.arange(int(c.sum())) - np.repeat(np.cumsum(c) - c, c)
    tid = np.array(flat, dtype=np.int64)[np.repeat(ptr[vid], c) + offs]
    rows = acc["_row"].to_numpy(np.int64)[at][:, None]
    return [_block(0, acc["pidx"].to_numpy()[at], tid, rows, rank[at][:, None])]


def _bad_blocks(bad: pd.DataFrame, pidx: np.ndarray, rank: np.ndarray, t: memo.Templates) -> list[memo.Block]:
    if bad.empty:
        return []
    tids = []
    for r, kind, reason in zip(bad["_row"], bad["kind"], bad["reason"], strict=True):
        if kind == "malformed":
            x = Finding(
                "input.row_malformed",
                "input",
                "moderate",
                (),
                (),
                f"Row {r} could not be read ({reason}); this order was not checked.",
                "Fix the row's quoting or number of fields and audit it again.",
            )
        else:
            x = Finding(
                "input.row_invalid",
                "input",
                "moderate",
                (),
                (),
                f"Row {r} was not checked: {reason.rstrip('.')}.",
                "Correct the row and audit it again.",
            )
        tids.append(t.add(x))
    rows = bad["_row"].to_numpy(np.int64)[:, None]
    return [_block(8 << 10, pidx, np.array(tids, dtype=np.int64), rows, rank[:, None])]


def _patient_blocks(codes: pd.Index, patients: Patients, t: memo.Templates) -> list[memo.Block]:
    tab = patients.table
    if tab.empty:
        return []
    flagged = tab["error"].notna().to_numpy() | (tab["copies"].to_numpy() > 1)
    tab = tab[flagged]
    # pandas' isin on Arrow-backed strings loops in Python; the codes' hash index does not.
    tab = tab[codes.get_indexer(tab.index) >= 0] if len(codes) else tab.iloc[:0]
    pids, tids = [], []
    for pid, error, copies in zip(tab.index, tab["error"], tab["copies"], strict=True):
        if error:
            pids.append(pid)
            tids.append(
                t.add(
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
            )
        if copies > 1:
            pids.append(pid)
            tids.append(
                t.add(
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
            )
    if not pids:
        return []
    none = np.zeros((len(pids), 0), dtype=np.int64)
    return [_block(9 << 10, codes.get_indexer(pids), np.array(tids, dtype=np.int64), none, none)]
