"""Running each rule evaluator once per distinct input it reads, instead of once per patient.

An evaluator's findings for a patient depend only on a small part of the patient's data: some of
the orders (and of those, a few attributes) and a few patient facts. Each family's plan (in
`plans`) names, from the evaluator's own code, that part:

- a *unit* of evaluation (the patient, or a (patient, drug) or (patient, caution) pair when the
  evaluator's findings for one drug or caution do not depend on the others);
- the unit's *relevant rows*: every order that can take part in a finding of the unit, such that
  the evaluator run on those orders alone yields exactly the unit's findings;
- a *row code* per relevant row: the order attributes the evaluator reads (fixed per interpreted
  variant, so computed once per variant);
- a *fact code* per unit: the patient facts the evaluator reads.

Units with the same fact code and the same sequence of row codes get the same findings, up to the
orders' indexes. The real evaluator runs once per distinct key, on the orders of the first unit
with that key indexed 0, 1, ... (or by their true index within the patient when JSON reports are
asked for, since the evidence then shows indexes: the key then holds the indexes too); each
finding's medication positions are mapped back to every unit's own rows. Index order is kept
(rows ascend), and nothing the evaluators compute depends on the index values beyond their order,
so messages and evidence are the evaluator's own, byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from checker.model import Finding
from checker.orders import Order
from formulary import Formulary, key
from rules.knowledge import knowledge as rules_knowledge

from .arrays import distinct_ints, radix_key, unique_first
from .normalize import Variants, row_order
from .vector_rules import PatientFacts, tags


@dataclass
class Block:
    """Findings of one source: per hit, the patient code, the finding (template) and its rows."""

    family: int  # the source's rank: later sources win when two findings are the same (as the engine)
    pidx: np.ndarray
    tid: np.ndarray
    rows: np.ndarray  # (hits, m) 1-based input row numbers, ascending
    local: np.ndarray  # (hits, m) the same rows numbered within their patient (sorting only)


@dataclass
class Templates:
    """The distinct findings; hits point at them by position."""

    found: list[Finding] = field(default_factory=list)
    _at: dict[int, int] = field(default_factory=dict, repr=False)  # id(finding) -> its position

    def add(self, x: Finding) -> int:
        """The finding's position, added once per object: a remembered key's findings are the
        same objects in every partition and for every unit (`found` keeps them alive, so their
        ids are not reused)."""
        at = self._at.get(id(x))
        if at is None:
            at = self._at[id(x)] = len(self.found)
            self.found.append(x)
        return at


@dataclass
class Env:
    """One partition's accepted rows (sorted by patient code, then row) and what the runs need."""

    v: Variants
    facts: PatientFacts
    f: Formulary
    codes: list[str]
    pidx: np.ndarray  # per accepted row: patient code
    local: np.ndarray  # per accepted row: its index among the patient's accepted rows (Order.index)
    vid: np.ndarray
    weight: np.ndarray
    row: np.ndarray  # 1-based input row number
    rank: np.ndarray  # the row's index among all the patient's rows, refused ones included
    reports: bool
    vtags: list[frozenset[str]] = field(default_factory=list)  # per variant, as Context.tags

    def __post_init__(self) -> None:
        self.vtags = [tags(o) for o in self.v.orders]

    @property
    def n(self) -> int:
        return len(self.codes)


@dataclass
class Plan:
    """What one evaluator family reads: see the module docstring."""

    rows: np.ndarray  # accepted-row positions of the relevant rows, grouped by unit, in row order
    unit: np.ndarray  # per relevant row: its unit (0..units-1)
    unit_pidx: np.ndarray  # per unit: patient code
    fact: np.ndarray  # per unit: fact code (int)
    code: np.ndarray  # per relevant row: row code (int)
    keep: Callable[[int, Finding], bool] | None = None  # per (unit, finding): whether the unit owns it
    # Per relevant row, the weight its order is built with (a fixed dose's per-kg figure, only
    # check_doses reads it); None: NaN for every row, the order shared by all rows of its variant.
    weight: np.ndarray | None = None
    # Per unit, the knowledge its run gets (default: the rules' own); the fact code must tell
    # apart units given different knowledge (interactions: one rule per unit).
    knowledge: Callable[[int], object] | None = None


class _Store:
    """Codes for what the evaluators read, and each key's findings, kept for the whole process: a
    large input is audited partition by partition, and the same keys recur in every partition.
    Codes stand for content (equal content, equal code, whatever the partition), so a key means
    the same everywhere; everything is dropped when the formulary or the knowledge changes.

    Findings are kept for the keys used lately, in two generations: a key found in the older one
    moves to the newer; when the newer holds MAX_RESULTS // 2 keys it becomes the older, and the
    older is dropped. So memory stays bounded by MAX_RESULTS keys however long the input, while
    the keys that recur (most of the work) stay found; the long tail of keys seen once goes."""

    def __init__(self) -> None:
        self.owner: tuple[object, object] | None = None
        self.codes: dict[object, int] = {}
        self.results: dict[tuple, list[tuple[Finding, tuple[int, ...]]]] = {}
        self.older: dict[tuple, list[tuple[Finding, tuple[int, ...]]]] = {}

    def use(self, f: Formulary, know: object) -> None:
        """Findings hold for one formulary and knowledge (codes stand for content: they stay)."""
        if self.owner is None or self.owner[0] is not f or self.owner[1] is not know:
            self.owner, self.results, self.older = (f, know), {}, {}

    def code(self, content: object) -> int:
        return self.codes.setdefault(content, len(self.codes))

    def found(self, key: tuple) -> list[tuple[Finding, tuple[int, ...]]] | None:
        hit = self.results.get(key)
        if hit is None and (hit := self.older.pop(key, None)) is not None:
            self.keep(key, hit)
        return hit

    def keep(self, key: tuple, done: list[tuple[Finding, tuple[int, ...]]]) -> None:
        self.results[key] = done
        if len(self.results) >= MAX_RESULTS // 2:
            self.older, self.results = self.results, {}


STORE = _Store()
MAX_RESULTS = 20_000  # keys whose findings are remembered across partitions (see _Store)


def variant_codes(orders: list[Order], read: Callable[[Order], object]) -> np.ndarray:
    """Per variant, a code for what `read` returns (equal codes: equal values, in any partition)."""
    return np.fromiter((STORE.code(read(o)) for o in orders), dtype=np.int64, count=len(orders))


def _plain(x: object) -> object:
    """A fact as a dict key: NaN (unknown) as None, numpy scalars as Python ones."""
    if isinstance(x, float) and x != x:
        return None
    return x


def factorize_rows(namespace: object, *cols: np.ndarray) -> np.ndarray:
    """One code per distinct combination of several fact columns (floats with NaN allowed), the
    same for the same values in any partition; `namespace` tells apart what the columns are."""
    n = len(cols[0]) if cols else 0
    if not n:
        return np.zeros(0, dtype=np.int64)
    cols = tuple(np.asarray(c) for c in cols)
    # Integer columns are codes already (radix_key takes any ints); floats (NaN) and objects are hashed.
    coded = [
        c if c.dtype.kind in "biu" else pd.factorize(pd.Series(c), use_na_sentinel=False)[0] for c in cols
    ]
    _, first, inv = unique_first(radix_key(*coded))
    values = [c[first].tolist() for c in cols]  # only the distinct rows become objects
    codes = np.array(
        [STORE.code((namespace, *(_plain(v) for v in combo))) for combo in zip(*values, strict=True)],
        dtype=np.int64,
    )
    return codes[inv.reshape(-1)]


def run_plan(
    env: Env, t: Templates, family: int, evaluate: Callable, plan: Plan, name: str | None = None
) -> list[Block]:
    """Group units by key, run `evaluate` once per key, and give every unit its key's findings.
    With a `name`, the plan's codes are content codes and keys' findings are remembered."""
    n_units = len(plan.unit_pidx)
    if not len(plan.rows) or not n_units:
        return []
    code = plan.code
    if env.reports:  # evidence shows the orders' indexes: they are then part of the key
        span = 1 << 20
        if int(env.local.max()) >= span:
            span, name = int(env.local.max()) + 1, None
        code = code * span + env.local[plan.rows]
    length = np.bincount(plan.unit, minlength=n_units)
    start = np.concatenate([[0], np.cumsum(length)])
    key = np.full(n_units, -1, dtype=np.int64)
    reps: list[np.ndarray] = []
    contents: list[tuple] = []
    count = 0
    for size in distinct_ints(length[length > 0]):
        us = np.flatnonzero(length == size)
        at = start[us][:, None] + np.arange(size)
        mat = np.column_stack([plan.fact[us], code[at]])
        _, first, inv = unique_first(radix_key(*mat.T))
        key[us] = inv + count
        reps.append(us[first])
        if name is not None:
            contents += [(name, env.reports, *row) for row in mat[first].tolist()]
        count += len(first)
    rep = np.concatenate(reps)
    know = rules_knowledge()
    t_key: list[int] = []
    t_tid: list[int] = []
    t_pos: list[tuple[int, ...]] = []
    if name is not None:
        STORE.use(env.f, know)
    # Python lists: the loop below reads a few items per run, and numpy scalars cost more than ints.
    starts, unit_p = start.tolist(), plan.unit_pidx.tolist()
    r_vid = env.vid[plan.rows].tolist()
    r_index = env.local[plan.rows].tolist() if env.reports else None
    r_weight = plan.weight.tolist() if plan.weight is not None else None
    vtags, v, nan = env.vtags, env.v, float("nan")
    for k, u in enumerate(rep.tolist()):
        done = STORE.found(contents[k]) if name is not None else None
        if done is None:
            a, b = starts[u], starts[u + 1]
            vids = r_vid[a:b]
            index = r_index[a:b] if r_index is not None else range(b - a)
            weight = r_weight[a:b] if r_weight is not None else [nan] * (b - a)
            orders = [row_order(v, vi, j, w) for vi, j, w in zip(vids, index, weight, strict=True)]
            ctx = env.facts.context(
                unit_p[u], orders, env.f, know if plan.knowledge is None else plan.knowledge(u)
            )
            ctx.__dict__["tags"] = {o.line: vtags[vi] for o, vi in zip(orders, vids, strict=True)}
            pos_of = {o.index: j for j, o in enumerate(orders)}
            mine: dict[tuple, Finding] = {}
            for x in evaluate(ctx):
                if plan.keep is None or plan.keep(u, x):
                    mine.pop((x.code, x.drugs, x.medications, x.message), None)  # the engine keeps the last
                    mine[(x.code, x.drugs, x.medications, x.message)] = x
            done = [(x, tuple(pos_of[i] for i in x.medications)) for x in mine.values()]
            if name is not None:
                STORE.keep(contents[k], done)
        for x, at in done:
            t_key.append(k)
            t_tid.append(t.add(x))
            t_pos.append(at)
    if not t_key:
        return []
    units = np.flatnonzero(key >= 0)
    units = units[np.argsort(key[units], kind="stable")]
    kstart = np.searchsorted(key[units], np.arange(count + 1))
    per_key = np.diff(kstart)
    tk, tt = np.array(t_key, dtype=np.int64), np.array(t_tid, dtype=np.int64)
    sizes = np.fromiter((len(x) for x in t_pos), dtype=np.int64, count=len(t_pos))
    out = []
    for m in distinct_ints(sizes):
        sel = np.flatnonzero(sizes == m)
        pos = np.array([t_pos[i] for i in sel], dtype=np.int64).reshape(len(sel), int(m))
        c = per_key[tk[sel]]
        which = np.repeat(np.arange(len(sel)), c)
        offs = np.arange(int(c.sum())) - np.repeat(np.cumsum(c) - c, c)
        hit_units = units[np.repeat(kstart[tk[sel]], c) + offs]
        at = plan.rows[start[hit_units][:, None] + pos[which]]
        out.append(Block(family, plan.unit_pidx[hit_units], tt[sel][which], env.row[at], env.rank[at]))
    return out


# ---------------------------------------------------------------------------------------------
# Families. Each comment lists what the evaluator reads (rules/*.py); the plan's codes hold it all.


def conditions_blocks(env: Env, t: Templates, family: int, evaluate: Callable) -> list[Block]:
    """check_conditions_known reads only the patient's conditions (no order): run once per distinct
    list of conditions that holds an unknown one, for every patient with an id."""
    f = env.f
    code, uniq = env.facts.cond_code, env.facts.cond_lists
    first = np.full(len(uniq), -1, dtype=np.int64)
    ok = np.array([c != "" for c in env.codes], dtype=bool)
    idx = np.flatnonzero(ok)
    _, at = np.unique(code[idx], return_index=True)
    reps = idx[at]
    first[code[reps]] = reps
    know = rules_knowledge()
    pids, tids = [], []
    for k, p in enumerate(first.tolist()):
        if p < 0 or not any(key(c) not in f.conditions for c in uniq[k]):
            continue
        ctx = env.facts.context(p, [], f, know)
        mine: dict[tuple, Finding] = {}
        for x in evaluate(ctx):
            mine.pop((x.code, x.drugs, x.medications, x.message), None)
            mine[(x.code, x.drugs, x.medications, x.message)] = x
        if not mine:
            continue
        members = idx[code[idx] == k]
        for x in mine.values():
            tid = t.add(x)
            pids.append(members)
            tids.append(np.full(len(members), tid, dtype=np.int64))
    if not pids:
        return []
    pidx = np.concatenate(pids)
    empty = np.zeros((len(pidx), 0), dtype=np.int64)
    return [Block(family, pidx, np.concatenate(tids), empty, empty)]


def generic_blocks(env: Env, t: Templates, family: int, evaluate: Callable) -> list[Block]:
    """An evaluator this module does not know: run it per patient on all the patient's orders."""
    plan = Plan(
        np.arange(len(env.pidx)),
        env.pidx.astype(np.int64),
        np.arange(env.n),
        np.arange(env.n),
        np.zeros(len(env.pidx), dtype=np.int64),
    )
    return run_plan(env, t, family, evaluate, plan)
