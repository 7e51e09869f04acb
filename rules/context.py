"""What every rule evaluator receives: the patient, the interpreted orders and the knowledge.

Derived patient facts (estimated CrCl, normalised conditions) are computed once here so that
no evaluator recomputes or re-derives them differently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from checker.model import Patient
from checker.orders import Order
from formulary import Formulary, When, key


@dataclass
class Context:
    patient: Patient
    orders: list[Order]
    formulary: Formulary
    knowledge: object = None
    _matches: dict[int, bool | None] = field(default_factory=dict, repr=False)

    @cached_property
    def conditions(self) -> frozenset[str]:
        f = self.formulary
        return frozenset(f.conditions[key(c)] for c in self.patient.conditions if key(c) in f.conditions)

    @cached_property
    def unknown_conditions(self) -> tuple[str, ...]:
        return tuple(c for c in self.patient.conditions if key(c) not in self.formulary.conditions)

    @cached_property
    def crcl(self) -> tuple[float | None, bool]:
        """CrCl in mL/min and whether it was estimated (Cockcroft-Gault) rather than given."""
        p = self.patient
        if p.crcl_ml_min is not None:
            return p.crcl_ml_min, False
        if None in (p.serum_creatinine_mg_dl, p.age_years, p.weight_kg) or p.sex not in ("male", "female"):  # noqa: E501
            return None, False
        # Cockcroft-Gault (1976): (140 - age) × weight / (72 × SCr), × 0.85 for women.
        scr = max(p.serum_creatinine_mg_dl, 0.1)
        value = (140 - p.age_years) * p.weight_kg / (72 * scr)
        return (value * 0.85 if p.sex == "female" else value), True

    @cached_property
    def corrected_calcium(self) -> float | None:
        """Serum calcium in mg/dL, albumin-corrected when albumin is known (Payne: +0.8 per g/dL below 4)."""
        p = self.patient
        if p.serum_calcium_mg_dl is None:
            return None
        if p.albumin_g_dl is None:
            return p.serum_calcium_mg_dl
        return p.serum_calcium_mg_dl + 0.8 * (4.0 - p.albumin_g_dl)

    @cached_property
    def tags(self) -> dict[int, frozenset[str]]:
        """Per order, the selector keys it answers to ("drug:x", "class:y"), for indexed rule look-up."""
        return {
            o.index: frozenset((f"drug:{o.drug_id}", *(f"class:{c}" for c in o.classes))) for o in self.orders
        }

    @cached_property
    def by_drug(self) -> dict[str, list[Order]]:
        out: dict[str, list[Order]] = {}
        for o in self.orders:
            if o.drug:
                out.setdefault(o.drug.id, []).append(o)
        return out

    def has_condition(self, name: str) -> bool:
        return name in self.conditions

    def matches(self, when: When) -> bool | None:
        """Does the patient fall under `when`? None when a needed fact is unknown.

        Memoised per `When` object: the same knowledge rows are asked about many times per check.
        """
        key = id(when)
        if key not in self._matches:
            self._matches[key] = match(when, self)
        return self._matches[key]

    def missing_for(self, when: When) -> list[str]:
        return missing(when, self)


def _bounds(value: float | None, lo=None, hi=None, over=None, below=None) -> bool | None:
    if lo is None and hi is None and over is None and below is None:
        return True
    if value is None:
        return None
    return (
        (lo is None or value >= lo)
        and (hi is None or value <= hi)
        and (over is None or value > over)
        and (below is None or value < below)
    )


def _parts(when: When, ctx: Context) -> dict[str, bool | None]:
    p = ctx.patient
    parts = {
        "age": _bounds(p.age_years, when.age_min, when.age_max, when.age_over, when.age_below),
        "weight": _bounds(p.weight_kg, when.weight_min_kg, when.weight_max_kg, None, when.weight_below),
        "renal function (CrCl)": _bounds(
            ctx.crcl[0], when.crcl_min, when.crcl_max, when.crcl_over, when.crcl_below
        ),
    }
    if when.hepatic:
        h = p.hepatic_impairment
        parts["hepatic function"] = None if h is None else h in when.hepatic
    if when.conditions:
        parts["conditions"] = any(c in ctx.conditions for c in when.conditions)
    if when.opioid_tolerant is not None:
        t = p.opioid_tolerant
        parts["opioid tolerance"] = None if t is None else t == when.opioid_tolerant
    if when.pregnant is not None:
        parts["pregnancy status"] = None if p.pregnant is None else p.pregnant == when.pregnant
    labs = (
        ("QTc", p.qtc_ms, when.qtc_min, when.qtc_max, when.qtc_over, when.qtc_below),
        ("serum calcium", ctx.corrected_calcium, None, None, when.calcium_over, when.calcium_below),
        ("platelet count", p.platelets_10e9_l, None, None, None, when.platelets_below),
        ("neutrophil count (ANC)", p.anc_10e9_l, None, None, None, when.anc_below),
        ("haemoglobin", p.hemoglobin_g_dl, None, None, None, when.hemoglobin_below),
    )
    for name, value, lo, hi, over, below in labs:
        if (lo, hi, over, below) != (None, None, None, None):
            parts[name] = _bounds(value, lo, hi, over, below)
    return parts


def match(when: When, ctx: Context) -> bool | None:
    parts = _parts(when, ctx).values()
    if any(v is False for v in parts):
        return False
    return None if any(v is None for v in parts) else True


def missing(when: When, ctx: Context) -> list[str]:
    return [name for name, v in _parts(when, ctx).items() if v is None]
