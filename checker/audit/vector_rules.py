"""Vectorized necessary conditions for the evaluators the audit runs per patient (the fallback).

Each screen answers, per patient, "can this evaluator produce anything at all?", from what the
evaluator itself reads: the orders' selector tags (`Context.tags`), routes, PRN flags and dose
numbers (all fixed per interpreted variant, so computed once per variant) and the patient's facts
(computed once per patient with the engine's own `Context`). A screen may over-select (the
engine then runs and finds nothing), never under-select: every condition below is implied by
the evaluator's code for a finding to be yielded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd

from checker.model import Patient
from checker.orders import Order
from formulary import Formulary, When, key
from rules.context import Context
from rules.knowledge import knowledge as rules_knowledge
from rules.patient import _missing

from .normalize import Patients, Variants


def tags(o: Order) -> frozenset[str]:
    """The keys `Context.tags` gives the order."""
    return frozenset((f"drug:{o.drug_id}", *(f"class:{c}" for c in o.classes)))


def _present(vid: np.ndarray, pidx: np.ndarray, per_variant: list[Iterable[int]], k: int) -> np.ndarray:
    """Unique keys pidx*k + item over the rows, item ranging over each row's variant's items."""
    counts = np.fromiter((len(x) for x in per_variant), dtype=np.int64, count=len(per_variant))
    flat = np.fromiter((i for x in per_variant for i in x), dtype=np.int64, count=int(counts.sum()))
    ptr = np.concatenate([[0], np.cumsum(counts)])
    n = counts[vid]
    if not n.sum():
        return np.zeros(0, dtype=np.int64)
    rp = np.repeat(pidx.astype(np.int64), n)
    start = np.repeat(ptr[vid], n)
    offs = np.arange(int(n.sum()), dtype=np.int64) - np.repeat(np.cumsum(n) - n, n)
    return np.unique(rp * k + flat[start + offs])


def _grid(keys: np.ndarray, n: int, k: int) -> np.ndarray:
    out = np.zeros(n * k, dtype=bool)
    out[keys] = True
    return out.reshape(n, k)


def _facts(codes: pd.Index, patients: Patients, f: Formulary) -> tuple[list[Patient], list[Context]]:
    pats = [patients.get(pid) for pid in codes]
    return pats, [Context(patient=p, orders=[], formulary=f, knowledge=None) for p in pats]


def _col(values: Iterable[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=float)


def _bounds(v: np.ndarray, lo=None, hi=None, over=None, below=None) -> np.ndarray:
    """True where every bound given holds; unknown (NaN) is never True, as in `rules.context._bounds`."""
    ok = np.ones(len(v), dtype=bool)
    if lo is not None:
        ok &= v >= lo
    if hi is not None:
        ok &= v <= hi
    if over is not None:
        ok &= v > over
    if below is not None:
        ok &= v < below
    return ok


class _PatientFacts:
    """Per patient code: the facts `Context.matches` reads, as arrays, and a base context."""

    def __init__(self, pats: list[Patient], ctxs: list[Context]):
        self.pats, self.ctxs = pats, ctxs
        self.age = _col(p.age_years for p in pats)
        self.weight = _col(p.weight_kg for p in pats)
        self.crcl = _col(c.crcl[0] for c in ctxs)
        self.qtc = _col(p.qtc_ms for p in pats)
        self.calcium = _col(c.corrected_calcium for c in ctxs)
        self.platelets = _col(p.platelets_10e9_l for p in pats)
        self.anc = _col(p.anc_10e9_l for p in pats)
        self.hb = _col(p.hemoglobin_g_dl for p in pats)
        self.hepatic = pd.Series([p.hepatic_impairment for p in pats], dtype=object)
        self.tolerant = _col(p.opioid_tolerant for p in pats)  # 1.0 / 0.0 / NaN (unknown)
        self.pregnant = _col(p.pregnant for p in pats)
        self.conditions = [c.conditions for c in ctxs]
        self._has: dict[str, np.ndarray] = {}

    def has(self, conditions: tuple[str, ...]) -> np.ndarray:
        """Where the patient has one of `conditions` (`any(c in ctx.conditions ...)`: never unknown)."""
        out = np.zeros(len(self.conditions), dtype=bool)
        for c in conditions:
            if c not in self._has:
                self._has[c] = np.array([c in have for have in self.conditions], dtype=bool)
            out |= self._has[c]
        return out

    def hepatic_in(self, levels: tuple[str, ...]) -> np.ndarray:
        return self.hepatic.isin(levels).to_numpy(dtype=bool)  # None is in no tuple of levels

    def context(self, p: int, orders: list[Order], f: Formulary, knowledge: object) -> Context:
        """The evaluators' context for patient code `p`, as `engine.run` builds it, with the facts
        already derived for this patient (CrCl, conditions, corrected calcium, `matches` memo;
        all depend on the patient only) handed over instead of derived again."""
        base = self.ctxs[p]
        ctx = Context(
            patient=base.patient, orders=orders, formulary=f, knowledge=knowledge, _matches=base._matches
        )
        ctx.__dict__.update(
            crcl=base.crcl, conditions=base.conditions, corrected_calcium=base.corrected_calcium
        )
        return ctx

    def surely(self, w: When) -> np.ndarray:
        """Where `Context.matches(w)` is True (every part known and holding)."""
        ok = _bounds(self.age, w.age_min, w.age_max, w.age_over, w.age_below)
        ok &= _bounds(self.weight, w.weight_min_kg, w.weight_max_kg, None, w.weight_below)
        ok &= _bounds(self.crcl, w.crcl_min, w.crcl_max, w.crcl_over, w.crcl_below)
        if w.hepatic:
            ok &= self.hepatic_in(w.hepatic)
        if w.conditions:
            ok &= self.has(w.conditions)
        if w.opioid_tolerant is not None:
            ok &= self.tolerant == float(w.opioid_tolerant)  # NaN (unknown) is never equal
        if w.pregnant is not None:
            ok &= self.pregnant == float(w.pregnant)
        ok &= _bounds(self.qtc, w.qtc_min, w.qtc_max, w.qtc_over, w.qtc_below)
        ok &= _bounds(self.calcium, None, None, w.calcium_over, w.calcium_below)
        ok &= _bounds(self.platelets, None, None, None, w.platelets_below)
        ok &= _bounds(self.anc, None, None, None, w.anc_below)
        ok &= _bounds(self.hb, None, None, None, w.hemoglobin_below)
        return ok


def _violated(v: np.ndarray, lo=None, hi=None, over=None, below=None) -> np.ndarray:
    """True where the value is known and breaks a bound given (`_bounds` is then False, not None)."""
    bad = np.zeros(len(v), dtype=bool)
    with np.errstate(invalid="ignore"):
        if lo is not None:
            bad |= v < lo
        if hi is not None:
            bad |= v > hi
        if over is not None:
            bad |= v <= over
        if below is not None:
            bad |= v >= below
    return bad  # NaN compares False throughout: unknown never breaks a bound


def possibly(facts: _PatientFacts, w: When) -> np.ndarray:
    """Where `Context.matches(w)` is not False (True, or None for want of a fact)."""
    no = _violated(facts.age, w.age_min, w.age_max, w.age_over, w.age_below)
    no |= _violated(facts.weight, w.weight_min_kg, w.weight_max_kg, None, w.weight_below)
    no |= _violated(facts.crcl, w.crcl_min, w.crcl_max, w.crcl_over, w.crcl_below)
    if w.hepatic:
        no |= facts.hepatic.notna().to_numpy(dtype=bool) & ~facts.hepatic_in(w.hepatic)
    if w.conditions:
        no |= ~facts.has(w.conditions)
    if w.opioid_tolerant is not None:
        no |= ~np.isnan(facts.tolerant) & (facts.tolerant != float(w.opioid_tolerant))
    if w.pregnant is not None:
        no |= ~np.isnan(facts.pregnant) & (facts.pregnant != float(w.pregnant))
    no |= _violated(facts.qtc, w.qtc_min, w.qtc_max, w.qtc_over, w.qtc_below)
    no |= _violated(facts.calcium, None, None, w.calcium_over, w.calcium_below)
    no |= _violated(facts.platelets, None, None, None, w.platelets_below)
    no |= _violated(facts.anc, None, None, None, w.anc_below)
    no |= _violated(facts.hb, None, None, None, w.hemoglobin_below)
    return ~no


def patient_facts(codes: pd.Index, patients: Patients, f: Formulary) -> _PatientFacts:
    return _PatientFacts(*_facts(codes, patients, f))


def _items(orders: list[Order], test: Callable[[Order, frozenset[str]], Iterable[int]]) -> list[list[int]]:
    """Per variant, `test`'s items; once per distinct (drug, classes, route, PRN, dose number, input)."""
    seen: dict[tuple, list[int]] = {}
    out = []
    for o in orders:
        k = (o.drug_id, o.classes, o.route, o.prn, o.dose_number, o.input)
        if k not in seen:
            seen[k] = list(test(o, tags(o)))
        out.append(seen[k])
    return out


def needs(acc: pd.DataFrame, v: Variants, facts: _PatientFacts, f: Formulary) -> dict:
    """Per evaluator name, a bool per patient code: False where it provably finds nothing."""
    k = rules_knowledge()
    n = len(facts.pats)
    vid = acc["vid"].to_numpy()
    p = acc["pidx"].to_numpy()
    orders = v.orders
    pats, ctxs = facts.pats, facts.ctxs
    out: dict[str, np.ndarray] = {}

    # check_cautions: an order the caution selects (tags, route, PRN, dose number) and `when` True.
    cautions = k.cautions

    def fits(c, o: Order, t: frozenset[str]) -> bool:
        n_ = o.dose_number or 1
        return bool(
            c.keys & t
            and (not c.routes or o.route in c.routes)
            and (c.prn is None or o.prn == c.prn)
            and (c.dose_number_max is None or n_ <= c.dose_number_max)
            and (c.dose_number_min is None or n_ >= c.dose_number_min)
        )

    sel = (
        _grid(
            _present(
                vid,
                p,
                _items(orders, lambda o, t: (i for i, c in enumerate(cautions) if fits(c, o, t))),
                len(cautions),
            ),
            n,
            len(cautions),
        )
        if len(cautions)
        else np.zeros((n, 0), dtype=bool)
    )
    whens: dict[int, np.ndarray] = {}
    fire = np.zeros(n, dtype=bool)
    for i, c in enumerate(cautions):
        if not sel[:, i].any():
            continue
        if id(c.when) not in whens:
            whens[id(c.when)] = facts.surely(c.when)
        fire |= sel[:, i] & whens[id(c.when)]
    out["check_cautions"] = fire

    # check_required: an order the check selects, and a needed fact or companion order missing.
    checks = k.checks
    rsel = _grid(
        _present(
            vid,
            p,
            _items(
                orders,
                lambda o, t: (
                    i
                    for i, rc in enumerate(checks)
                    if rc.keys & t and (not rc.routes or o.route in rc.routes)
                ),
            ),
            max(len(checks), 1),
        ),
        n,
        max(len(checks), 1),
    )
    companions = sorted({s.key for rc in checks for s in rc.with_drugs})
    comp = _grid(
        _present(
            vid,
            p,
            _items(
                orders,
                lambda o, t: (
                    i for i, s in enumerate(companions) if _selector(s).matches(o.drug_id, o.classes)
                ),
            ),
            max(len(companions), 1),
        ),
        n,
        max(len(companions), 1),
    )
    lacking: dict[str, np.ndarray] = {}
    for need in sorted({x for rc in checks for x in rc.needs}):
        asked = np.zeros(n, dtype=bool)  # only patients some check needing it selects are asked
        for i, rc in enumerate(checks):
            if need in rc.needs:
                asked |= rsel[:, i]
        lacking[need] = np.zeros(n, dtype=bool)
        at = np.flatnonzero(asked)
        lacking[need][at] = [bool(_missing(need, ctxs[j])) for j in at]
    fire = np.zeros(n, dtype=bool)
    for i, rc in enumerate(checks):
        gap = np.zeros(n, dtype=bool)
        for need in rc.needs:
            gap |= lacking[need]
        for s in rc.with_drugs:
            gap |= ~comp[:, companions.index(s.key)]
        fire |= rsel[:, i] & gap
    out["check_required"] = fire

    # check_duplication: two members of one rule (by drug id or input), or one drug id twice.
    dups = k.duplications
    ident = pd.factorize(np.array([o.drug_id or o.input for o in orders], dtype=object))[0]
    dup = np.zeros(n, dtype=bool)
    for rule in dups:
        member = np.array(
            [
                rule.selector.matches(o.drug_id, o.classes) and (o.scheduled or not rule.scheduled_only)
                for o in orders
            ],
            dtype=bool,
        )
        m = member[vid]
        if m.any():
            pairs = np.unique(p[m].astype(np.int64) * (int(ident.max()) + 1) + ident[vid[m]])
            dup |= np.bincount(pairs // (int(ident.max()) + 1), minlength=n) >= 2
    drug = pd.factorize(np.array([o.drug_id for o in orders], dtype=object), use_na_sentinel=True)[0]
    d = drug[vid]
    has = d >= 0
    if has.any():
        span = int(drug.max()) + 1
        keys, counts = np.unique(p[has].astype(np.int64) * span + d[has], return_counts=True)
        dup[np.unique(keys[counts >= 2] // span)] = True
    out["check_duplication"] = dup

    # check_interactions: an order meeting some rule's a-side and another its b-side. Orders are
    # classed by what the rules read of them (drug, classes, route); pairs of classes are judged once.
    rules = k.interactions
    by_b: dict[str, list] = {}
    for r in rules:
        by_b.setdefault(r.b.key, []).append(r)
    rel = np.array([bool(o.drug or o.classes) for o in orders], dtype=bool)
    kid, kinds = pd.factorize(pd.Series([(o.drug_id, o.classes, o.route) for o in orders], dtype=object))
    reps = {}
    for o, c in zip(orders, kid, strict=True):
        reps.setdefault(c, o)
    sides = []
    for c in range(len(kinds)):
        o = reps[c]
        tg = tags(o)
        a = {
            r.id
            for t in tg
            for r in k.interactions_by_a.get(t, ())
            if not r.a_routes or o.route in r.a_routes
        }
        b = {r.id for t in tg for r in by_b.get(t, ()) if not r.b_routes or o.route in r.b_routes}
        sides.append((a, b))
    meets = np.array([[bool(a & b) for _, b in sides] for a, _ in sides], dtype=bool).reshape(
        len(sides), len(sides)
    )
    inter = np.zeros(n, dtype=bool)
    m = rel[vid]
    if m.any() and meets.any():
        span = len(kinds)
        pk = np.unique(p[m].astype(np.int64) * span + kid[vid[m]])
        gp, gk = pk // span, pk % span
        first = np.flatnonzero(np.r_[True, gp[1:] != gp[:-1]])
        size = np.diff(np.r_[first, len(gp)])
        grp = np.repeat(np.arange(len(first)), size)
        reach = size[grp]  # each (patient, class) against every class of the same patient
        left = np.repeat(np.arange(len(gp)), reach)
        right = np.repeat(first[grp], reach) + (
            np.arange(int(reach.sum())) - np.repeat(np.cumsum(reach) - reach, reach)
        )
        inter[gp[left[meets[gk[left], gk[right]]]]] = True
    out["check_interactions"] = inter & (np.bincount(p, weights=m, minlength=n) >= 2)

    opioid = np.array([bool(o.drug) and "opioid" in o.classes for o in orders], dtype=bool)[vid]
    out["check_opioid_load"] = np.bincount(p, weights=opioid, minlength=n) > 0
    out["check_conditions_known"] = np.array(
        [any(key(c) not in f.conditions for c in pt.conditions) for pt in pats], dtype=bool
    )
    return out


def _selector(k: str):
    from rules.model import Selector

    kind, _, ident = k.partition(":")
    return Selector(kind, ident)
