"""Patient facts as arrays, and the vectorized forms of the engine's tests on them.

`PatientFacts` holds, per patient code, what `Context.matches` and the evaluators read (as
arrays, derived with `Context`'s own arithmetic); `surely` and `possibly` are
`Context.matches(w) is True` and `is not False` over all patients at once; `fits_caution` is a caution's
order selection. `memo` builds its keys from these, so each must equal the engine's test exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from operator import itemgetter
from typing import Any

import numpy as np
import pandas as pd

from checker.model import Patient
from checker.orders import Order
from formulary import Formulary, When
from rules.context import Context, Renal

from .normalize import PATIENT_DEFAULTS, PATIENT_SLOTS, Patients

# Per slot of the last patients file: its column with the slot's default appended (see `_extended`).
_EXTENDED: dict[str, Any] = {}  # lists, and as floats for numeric slots
_EXTENDED_OF: list[object] = [None]


def tags(o: Order) -> frozenset[str]:
    """The keys `Context.tags` gives the order."""
    return frozenset((f"drug:{o.drug_id}", *(f"class:{c}" for c in o.classes)))


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


def _extended(patients: Patients, name: str, col: list[Any], default: Any) -> list[Any]:
    """`col` with `default` appended, so absent patients gather the default in the same pass. Kept
    for the patients file in use: every partition of a run reads the same file."""
    if _EXTENDED_OF[0] is not patients:
        _EXTENDED_OF[0] = patients
        _EXTENDED.clear()
    if name not in _EXTENDED:
        _EXTENDED[name] = [*col, default]
    return _EXTENDED[name]


def _crcl(
    given: np.ndarray, scr: np.ndarray, age: np.ndarray, weight: np.ndarray, sex: pd.Series
) -> tuple[np.ndarray, np.ndarray]:
    """`Context.crcl` on arrays: the given CrCl, else Cockcroft-Gault where creatinine, age, weight
    and a male or female sex are known, with the same float operations in the same order (IEEE
    doubles either way, so the same bits); NaN where unknown. Also whether it was estimated."""
    female = (sex == "female").to_numpy(dtype=bool)
    can = np.isnan(given) & ~np.isnan(scr) & ~np.isnan(age) & ~np.isnan(weight)
    can &= female | (sex == "male").to_numpy(dtype=bool)
    with np.errstate(invalid="ignore"):
        value = (140 - age) * weight / (72 * np.maximum(scr, 0.1))  # max(scr, 0.1): scr is never NaN here
    value = np.where(female, value * 0.85, value)
    return np.where(np.isnan(given), np.where(can, value, np.nan), given), can


class PatientFacts:
    """Per patient code: the facts `Context.matches` and the evaluators read, as arrays.

    Built from the patients file's attribute columns (`Patients.columns`, per file row), taken at
    the codes' rows in one C-level gather per column: no `Patient` or `Context` per patient. The
    derived facts are computed on arrays with `Context`'s own float operations in its order
    (Cockcroft-Gault, Payne), so each value is the one `Context` gives, bit for bit. A patient's
    `Patient` and base `Context` are made only when an evaluator run needs them (`context`)."""

    def __init__(self, codes: pd.Index, patients: Patients, f: Formulary):
        self._ids, self._patients, self._f = codes.tolist(), patients, f
        self._ctxs: dict[int, Context] = {}
        n = len(codes)
        at = patients.usable_rows(codes) if n else np.full(n, -1, dtype=np.int64)
        self._rows = at.tolist()
        slots = {PATIENT_SLOTS[k]: col for k, col in patients.columns}

        def attr(name: str) -> list[Any]:  # the attribute per patient code, as Patients.get sets it
            default = PATIENT_DEFAULTS[PATIENT_SLOTS.index(name)]
            col = slots.get(name)
            if col is None or not n:
                return [default] * n
            ext = _extended(patients, name, col, default)  # the default last, for codes not in the file
            got = itemgetter(*np.where(at >= 0, at, len(col)).tolist())(ext)
            return list(got) if n > 1 else [got]

        def num_(name: str) -> np.ndarray:  # None -> NaN; True/False -> 1.0/0.0
            default = PATIENT_DEFAULTS[PATIENT_SLOTS.index(name)]
            col = slots.get(name)
            if col is None or not n:
                return np.full(n, np.nan if default is None else float(default))
            key = f"{name}:float"  # the column as floats, once per file, then gathered per partition
            if _EXTENDED_OF[0] is not patients or key not in _EXTENDED:
                _EXTENDED[key] = np.array(_extended(patients, name, col, default), dtype=float)
            return _EXTENDED[key][np.where(at >= 0, at, len(col))]

        self.age = num_("age_years")
        self.weight = num_("weight_kg")
        self.qtc = num_("qtc_ms")
        self.platelets = num_("platelets_10e9_l")
        self.anc = num_("anc_10e9_l")
        self.hb = num_("hemoglobin_g_dl")
        self.hepatic = pd.Series(attr("hepatic_impairment"), dtype=object)
        self.tolerant = num_("opioid_tolerant")  # 1.0 / 0.0 / NaN (unknown)
        self.pregnant = num_("pregnant")
        egfr = num_("egfr")
        self.egfr_known = ~np.isnan(egfr)
        self.dental = num_("dental_exam_done")  # 1.0 / 0.0 / NaN (unknown)
        crcl, estimated = _crcl(
            num_("crcl_ml_min"), num_("serum_creatinine_mg_dl"), self.age, self.weight,
            pd.Series(attr("sex"), dtype=object),
        )  # fmt: skip
        # `Context.renal` on arrays: the renal measure the bands use (CrCl, else eGFR), and how it
        # was had: 0 CrCl given, 1 estimated (Cockcroft-Gault), 2 eGFR (rules.context.renal_function).
        on_egfr = np.isnan(crcl) & self.egfr_known
        self.crcl = np.where(on_egfr, egfr, crcl)
        self.crcl_estimated = np.where(on_egfr, 2, estimated.astype(np.int64))
        calcium, albumin = num_("serum_calcium_mg_dl"), num_("albumin_g_dl")
        self.calcium = np.where(np.isnan(albumin), calcium, calcium + 0.8 * (4.0 - albumin))  # rules.context
        self.albumin_known = ~np.isnan(albumin)  # When.albumin_known: always answerable
        # Conditions: per distinct tuple, the normalised set exactly as Context.conditions makes it.
        conds = pd.Series(attr("conditions"), dtype=object).to_numpy()  # tuples (an Index would nest them)
        code, uniq = pd.factorize(conds, use_na_sentinel=False)
        self.cond_code = code.astype(np.int64)
        self.cond_lists: list[tuple[str, ...]] = list(uniq)
        self.cond_sets = [Context(patient=Patient(conditions=c), orders=[], formulary=f).conditions
                          for c in self.cond_lists]  # fmt: skip
        self._has: dict[str, np.ndarray] = {}
        # `surely` / `possibly` per When (long-lived formulary objects, so their ids are stable)
        self._when_memo: dict[tuple[str, int], tuple[When, np.ndarray]] = {}

    def has(self, conditions: tuple[str, ...]) -> np.ndarray:
        """Where the patient has one of `conditions` (`any(c in ctx.conditions ...)`: never unknown)."""
        out = np.zeros(len(self.cond_code), dtype=bool)
        for c in conditions:
            if c not in self._has:
                per = np.array([c in have for have in self.cond_sets], dtype=bool)  # per distinct list
                self._has[c] = per[self.cond_code]
            out |= self._has[c]
        return out

    def hepatic_in(self, levels: tuple[str, ...]) -> np.ndarray:
        return self.hepatic.isin(levels).to_numpy(dtype=bool)  # None is in no tuple of levels

    def patient(self, p: int) -> Patient:
        """Patient code `p`'s `Patient`, as `Patients.get` makes it."""
        return self._base(p).patient

    def _base(self, p: int) -> Context:
        base = self._ctxs.get(p)
        if base is None:
            base = self._ctxs[p] = Context(
                patient=self._patients.at(self._rows[p], self._ids[p]),
                orders=[],
                formulary=self._f,
                knowledge=None,
            )
        return base

    def context(self, p: int, orders: list[Order], f: Formulary, knowledge: object) -> Context:
        """The evaluators' context for patient code `p`, as `engine.run` builds it. The patient's
        base context (made on first use) keeps what depends on the patient only (CrCl,
        conditions, corrected calcium, `matches` memo), handed to every context of the patient."""
        base = self._base(p)
        ctx = Context(
            patient=base.patient, orders=orders, formulary=f, knowledge=knowledge, _matches=base._matches
        )
        ctx.__dict__.update(self._derived(p))
        return ctx

    def _derived(self, p: int) -> dict[str, Any]:
        """Context's derived facts for patient code `p`, from the arrays (the same values: see the
        class docstring), so a base context never computes them."""
        crcl, ca, how = float(self.crcl[p]), float(self.calcium[p]), int(self.crcl_estimated[p])
        known = crcl == crcl
        return {
            "crcl": (crcl, how == 1) if known and how != 2 else (None, False),
            "renal": Renal(crcl, "eGFR" if how == 2 else "CrCl", how == 1) if known else Renal(),
            "conditions": self.cond_sets[self.cond_code[p]],
            "corrected_calcium": None if ca != ca else ca,
        }

    def surely(self, w: When) -> np.ndarray:
        """Where `Context.matches(w)` is True (every part known and holding)."""
        return self._remembered("surely", w, self._surely)

    def possibly(self, w: When) -> np.ndarray:
        """Where `Context.matches(w)` is not False (True, or None for want of a fact)."""
        return self._remembered("possibly", w, self._possibly)

    def _remembered(self, kind: str, w: When, compute: Callable[[When], np.ndarray]) -> np.ndarray:
        """`compute(w)`, once per partition: the dose screen and the dose plan ask for the same Whens."""
        hit = self._when_memo.get((kind, id(w)))
        if hit is not None and hit[0] is w:
            return hit[1]
        mask = compute(w)
        mask.flags.writeable = False  # shared by every caller of the partition
        self._when_memo[(kind, id(w))] = (w, mask)
        return mask

    def _surely(self, w: When) -> np.ndarray:
        ok = np.ones(len(self.age), dtype=bool)
        for v, bounds in self._ranges(w):
            ok &= _bounds(v, *bounds)
        if w.hepatic:
            ok &= self.hepatic_in(w.hepatic)
        if w.conditions:
            ok &= self.has(w.conditions)
        if w.opioid_tolerant is not None:
            ok &= self.tolerant == float(w.opioid_tolerant)  # NaN (unknown) is never equal
        if w.pregnant is not None:
            ok &= self.pregnant == float(w.pregnant)
        if w.albumin_known is not None:
            ok &= self.albumin_known == w.albumin_known
        return ok

    def _possibly(self, w: When) -> np.ndarray:
        no = np.zeros(len(self.age), dtype=bool)
        for v, bounds in self._ranges(w):
            no |= _violated(v, *bounds)
        if w.hepatic:
            no |= self.hepatic.notna().to_numpy(dtype=bool) & ~self.hepatic_in(w.hepatic)
        if w.conditions:
            no |= ~self.has(w.conditions)
        if w.opioid_tolerant is not None:
            no |= ~np.isnan(self.tolerant) & (self.tolerant != float(w.opioid_tolerant))
        if w.pregnant is not None:
            no |= ~np.isnan(self.pregnant) & (self.pregnant != float(w.pregnant))
        if w.albumin_known is not None:
            no |= self.albumin_known != w.albumin_known
        return ~no

    def _ranges(self, w: When) -> Iterator[tuple[np.ndarray, tuple]]:
        """The numeric facts `w` bounds, with its bounds (lo, hi, over, below); unbounded ones left out."""
        for v, bounds in (
            (self.age, (w.age_min, w.age_max, w.age_over, w.age_below)),
            (self.weight, (w.weight_min_kg, w.weight_max_kg, None, w.weight_below)),
            (self.crcl, (w.crcl_min, w.crcl_max, w.crcl_over, w.crcl_below)),
            (self.qtc, (w.qtc_min, w.qtc_max, w.qtc_over, w.qtc_below)),
            (self.calcium, (None, None, w.calcium_over, w.calcium_below)),
            (self.platelets, (None, None, None, w.platelets_below)),
            (self.anc, (None, None, None, w.anc_below)),
            (self.hb, (None, None, None, w.hemoglobin_below)),
        ):
            if any(b is not None for b in bounds):
                yield v, bounds


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


def patient_facts(codes: pd.Index, patients: Patients, f: Formulary) -> PatientFacts:
    return PatientFacts(codes, patients, f)


def fits_caution(c, o: Order, t: frozenset[str]) -> bool:
    """Whether caution `c` selects order `o` with tags `t` (rules.patient: _selected, PRN, dose number)."""
    n_ = o.dose_number or 1
    return bool(
        c.keys & t
        and (not c.routes or o.route in c.routes)
        and (c.prn is None or o.prn == c.prn)
        and (c.dose_number_max is None or n_ <= c.dose_number_max)
        and (c.dose_number_min is None or n_ >= c.dose_number_min)
    )
