"""Patient facts as arrays, and the vectorized forms of the engine's tests on them.

`_PatientFacts` holds, per patient code, what `Context.matches` and the evaluators read (derived
once per patient with the engine's own `Context`); `surely` and `possibly` are
`Context.matches(w) is True` and `is not False` over all patients at once; `_fits` is a caution's
order selection. `memo` builds its keys from these, so each must equal the engine's test exactly.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from checker.model import Patient
from checker.orders import Order
from formulary import Formulary, When
from rules.context import Context

from .normalize import Patients


def tags(o: Order) -> frozenset[str]:
    """The keys `Context.tags` gives the order."""
    return frozenset((f"drug:{o.drug_id}", *(f"class:{c}" for c in o.classes)))


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
        self.crcl_estimated = np.array([c.crcl[1] for c in ctxs], dtype=bool)
        self.egfr_known = np.array([p.egfr is not None for p in pats], dtype=bool)
        self.dental = _col(p.dental_exam_done for p in pats)  # 1.0 / 0.0 / NaN (unknown)
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


def _fits(c, o: Order, t: frozenset[str]) -> bool:
    """Whether caution `c` selects order `o` with tags `t` (rules.patient: _selected, PRN, dose number)."""
    n_ = o.dose_number or 1
    return bool(
        c.keys & t
        and (not c.routes or o.route in c.routes)
        and (c.prn is None or o.prn == c.prn)
        and (c.dose_number_max is None or n_ <= c.dose_number_max)
        and (c.dose_number_min is None or n_ >= c.dose_number_min)
    )
