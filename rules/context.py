"""What every rule evaluator receives: the patient, the interpreted orders and the knowledge.

Derived patient facts (estimated CrCl, normalised conditions) are computed once here so that
no evaluator recomputes or re-derives them differently.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Protocol

from checker.model import Patient
from checker.orders import Order
from checker.quantities import num
from formulary import Formulary, When, key
from rules.model import Knowledge


@dataclass(frozen=True, slots=True)
class Renal:
    """The renal function the rules judge by, and which measure it is.

    Labels give their renal bands in CrCl (mL/min); many order-entry systems send only eGFR
    (mL/min/1.73m²). The measure, in order of preference: CrCl as given; CrCl estimated by
    Cockcroft-Gault from creatinine, age, weight and sex; eGFR as given. The bands are applied to
    whichever is known, and every finding that used one names it (an eGFR is not a CrCl, and the
    two differ most in the small and the old, so the reader must see which was used)."""

    value: float | None = None
    measure: str | None = None  # "CrCl" or "eGFR"; None: renal function unknown
    estimated: bool = False  # CrCl by Cockcroft-Gault

    @property
    def known(self) -> bool:
        return self.value is not None

    @property
    def phrase(self) -> str:
        """ "CrCl 38 mL/min", "eGFR 5 mL/min/1.73m²"."""
        if self.measure == "eGFR":
            return f"eGFR {_num(self.value)} mL/min/1.73m²"
        return f"CrCl {_num(self.value)} mL/min"

    def evidence(self) -> dict[str, str | None]:
        """What a renal finding's evidence holds: the measure and its value (None when unknown)."""
        if self.measure == "eGFR":
            return {"renal_measure": "eGFR", "egfr": _num(self.value)}
        ev: dict[str, str | None] = {"crcl_ml_min": _num(self.value) if self.known else None}
        if self.known:
            ev["renal_measure"] = "CrCl"
        if self.estimated:
            ev["crcl_estimated"] = "Cockcroft-Gault"
        return ev

    def note(self) -> str:
        """The sentence a renal finding ends with when its measure is not a CrCl as given."""
        if self.estimated:
            return f" CrCl estimated at {_num(self.value)} mL/min by Cockcroft-Gault."
        if self.measure == "eGFR":
            return f" Judged on {self.phrase}: CrCl was neither given nor estimable."
        return ""


def _num(value: float | None) -> str:
    return num(value) if value is not None else "unknown"


def renal_function(patient: Patient, crcl: tuple[float | None, bool]) -> Renal:
    """The one decision of what renal function is known (see `Renal`): the bands, the evidence and
    the "renal function unknown" check all read it, so they cannot disagree."""
    value, estimated = crcl
    if value is not None:
        return Renal(value, "CrCl", estimated)
    if patient.egfr is not None:
        return Renal(patient.egfr, "eGFR")
    return Renal()


@dataclass
class Context:
    patient: Patient
    orders: list[Order]
    formulary: Formulary
    knowledge: Knowledge = field(default_factory=lambda: _loaded_knowledge())
    _matches: dict[int, bool | None] = field(default_factory=dict, repr=False)

    @cached_property
    def conditions(self) -> frozenset[str]:
        f = self.formulary
        return frozenset(f.conditions[key(c)] for c in self.patient.conditions if key(c) in f.conditions)

    @cached_property
    def unknown_conditions(self) -> tuple[str, ...]:
        return tuple(c for c in self.patient.conditions if key(c) not in self.formulary.conditions)

    @cached_property
    def unused_conditions(self) -> tuple[str, ...]:
        """Conditions the vocabulary understands but no rule of this knowledge reads ("falls"): the
        patient is not checked against them, and the report must say so, not pass them in silence."""
        f, read = self.formulary, conditions_read(self.formulary, self.knowledge)
        return tuple(c for c in self.patient.conditions if f.conditions.get(key(c), "") not in read | {""})

    @cached_property
    def pregnant(self) -> bool | None:
        """Pregnancy as the rules judge it: the `pregnant` field; when it is not given, a problem list
        naming pregnancy (order entry often sends only the conditions). A field given wins: a problem
        list keeps a pregnancy long after the delivery."""
        if self.patient.pregnant is not None:
            return self.patient.pregnant
        return True if PREGNANCY in self.conditions else None

    @cached_property
    def crcl(self) -> tuple[float | None, bool]:
        """CrCl in mL/min and whether it was estimated (Cockcroft-Gault) rather than given. Rules
        judge renal function by `renal`, which falls back to eGFR."""
        p = self.patient
        if p.crcl_ml_min is not None:
            return p.crcl_ml_min, False
        scr, age, weight = p.serum_creatinine_mg_dl, p.age_years, p.weight_kg
        if scr is None or age is None or weight is None or p.sex not in ("male", "female"):
            return None, False
        # Cockcroft-Gault (1976): (140 - age) × weight / (72 × SCr), × 0.85 for women.
        value = (140 - age) * weight / (72 * max(scr, 0.1))
        return (value * 0.85 if p.sex == "female" else value), True

    @cached_property
    def renal(self) -> Renal:
        """The renal measure the rules use: CrCl given, else estimated, else eGFR (`renal_function`)."""
        return renal_function(self.patient, self.crcl)

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
    def tags(self) -> dict[tuple[int, int], frozenset[str]]:
        """Per order line, the selector keys it answers to ("drug:x", "class:y"), for indexed rule
        look-up. Keyed by `Order.line`: a combination product's lines share one medication index."""
        return {o.line: line_tags(o.drug_id, o.classes) for o in self.orders}

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


@lru_cache(maxsize=4096)
def line_tags(drug_id: str | None, classes: frozenset[str]) -> frozenset[str]:
    """The selector keys an order line answers to: "drug:<id>" and "class:<c>" for each class."""
    return frozenset((f"drug:{drug_id}", *(f"class:{c}" for c in classes)))


PREGNANCY = "pregnancy"  # the vocabulary's condition that also answers the rules' pregnancy bands
_READ: dict[tuple[int, int], tuple[object, object, frozenset[str]]] = {}


def conditions_read(f: Formulary, k: Knowledge) -> frozenset[str]:
    """Every condition some rule reads: in any `When` of the formulary or the rule knowledge (found by
    walking them, so a new table or row is counted with no edit here), the cancer conditions of the
    opioid load, and pregnancy when a band reads pregnancy status. Kept per (formulary, knowledge)."""
    hit = _READ.get((id(f), id(k)))
    if hit is None or hit[0] is not f or hit[1] is not k:
        found: set[str] = set(k.cancer_conditions)
        seen: set[int] = set()

        def walk(x: object) -> None:
            if isinstance(x, (str, int, float, bool)) or x is None or id(x) in seen:
                return
            seen.add(id(x))
            if isinstance(x, When):
                found.update(x.conditions)
                if x.pregnant is not None:
                    found.add(PREGNANCY)
            elif isinstance(x, dict):
                for v in x.values():
                    walk(v)
            elif isinstance(x, (list, tuple, set, frozenset)):
                for v in x:
                    walk(v)
            elif hasattr(x, "__dataclass_fields__"):
                for name in x.__dataclass_fields__:
                    walk(getattr(x, name, None))

        walk(f)
        walk(k)
        hit = _READ[(id(f), id(k))] = (f, k, frozenset(found))
    return hit[2]


def _loaded_knowledge() -> Knowledge:
    """The process's rule knowledge, for a Context built without one (patient facts only)."""
    from rules.knowledge import knowledge

    return knowledge()


class PatientFacts(Protocol):
    """The raw patient fields a `When` reads: a `Patient`, or the evaluators' declared view of one."""

    @property
    def age_years(self) -> float | None: ...
    @property
    def weight_kg(self) -> float | None: ...
    @property
    def hepatic_impairment(self) -> str | None: ...
    @property
    def opioid_tolerant(self) -> bool | None: ...
    @property
    def pregnant(self) -> bool | None: ...
    @property
    def albumin_g_dl(self) -> float | None: ...
    @property
    def qtc_ms(self) -> float | None: ...
    @property
    def platelets_10e9_l(self) -> float | None: ...
    @property
    def anc_10e9_l(self) -> float | None: ...
    @property
    def hemoglobin_g_dl(self) -> float | None: ...


class Facts(Protocol):
    """What `match` and `missing` read: the real `Context` (partition) or a `ContextView` (evaluate)."""

    @property
    def patient(self) -> PatientFacts: ...
    @property
    def renal(self) -> Renal: ...
    @property
    def conditions(self) -> frozenset[str]: ...
    @property
    def corrected_calcium(self) -> float | None: ...
    @property
    def pregnant(self) -> bool | None: ...


class RuleContext(Facts, Protocol):
    """What an evaluator's `evaluate` step reads of the Context (it is given a `ContextView`); the
    real `Context` satisfies it too, so helpers serve both steps."""

    @property
    def formulary(self) -> Formulary: ...
    @property
    def knowledge(self) -> Knowledge: ...
    def matches(self, when: When) -> bool | None: ...
    def missing_for(self, when: When) -> list[str]: ...


def _bounds(value: float | None, lo: float | None = None, hi: float | None = None, over: float | None = None,
            below: float | None = None) -> bool | None:  # fmt: skip
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


Facet = tuple[str, Callable[[Facts], "bool | None"]]
_FACETS: dict[int, tuple[When, tuple[Facet, ...]]] = {}


def _range(get: Callable[[Facts], float | None], *bounds: float | None) -> Callable[[Facts], bool | None]:
    return lambda ctx: _bounds(get(ctx), *bounds)


def facets(when: When) -> tuple[Facet, ...]:
    """The tests a `When` actually sets, built once per (long-lived) `When` object."""
    hit = _FACETS.get(id(when))
    if hit is not None and hit[0] is when:
        return hit[1]
    w, out = when, list[Facet]()
    ranges: tuple[tuple[str, Callable[[Facts], float | None], tuple[float | None, ...]], ...] = (
        ("age", lambda c: c.patient.age_years, (w.age_min, w.age_max, w.age_over, w.age_below)),
        ("weight", lambda c: c.patient.weight_kg, (w.weight_min_kg, w.weight_max_kg, None, w.weight_below)),
        (
            "renal function (CrCl or eGFR)",
            lambda c: c.renal.value,
            (w.crcl_min, w.crcl_max, w.crcl_over, w.crcl_below),
        ),  # noqa: E501
    )
    for name, get, bounds in ranges:
        if any(b is not None for b in bounds):
            out.append((name, _range(get, *bounds)))
    if w.hepatic:
        out.append(("hepatic function", lambda c: None if c.patient.hepatic_impairment is None
                    else c.patient.hepatic_impairment in w.hepatic))  # fmt: skip
    if w.conditions:
        out.append(("conditions", lambda c: any(x in c.conditions for x in w.conditions)))
    if w.opioid_tolerant is not None:
        out.append(("opioid tolerance", lambda c: None if c.patient.opioid_tolerant is None
                    else c.patient.opioid_tolerant == w.opioid_tolerant))  # fmt: skip
    if w.pregnant is not None:
        out.append(("pregnancy status", lambda c: None if c.pregnant is None else c.pregnant == w.pregnant))
    if w.albumin_known is not None:  # always answerable: albumin is given or it is not
        out.append(("albumin", lambda c: (c.patient.albumin_g_dl is not None) == w.albumin_known))
    labs: tuple[tuple[str, Callable[[Facts], float | None], tuple[float | None, ...]], ...] = (
        ("QTc", lambda c: c.patient.qtc_ms, (w.qtc_min, w.qtc_max, w.qtc_over, w.qtc_below)),
        ("serum calcium", lambda c: c.corrected_calcium, (None, None, w.calcium_over, w.calcium_below)),
        ("platelet count", lambda c: c.patient.platelets_10e9_l, (None, None, None, w.platelets_below)),
        ("neutrophil count (ANC)", lambda c: c.patient.anc_10e9_l, (None, None, None, w.anc_below)),
        ("haemoglobin", lambda c: c.patient.hemoglobin_g_dl, (None, None, None, w.hemoglobin_below)),
    )
    for name, get, bounds in labs:
        if any(b is not None for b in bounds):
            out.append((name, _range(get, *bounds)))
    _FACETS[id(when)] = (when, tuple(out))
    return tuple(out)


def _parts(when: When, ctx: Facts) -> dict[str, bool | None]:
    return {name: test(ctx) for name, test in facets(when)}


def match(when: When, ctx: Facts) -> bool | None:
    unknown = False
    for _, test in facets(when):
        v = test(ctx)
        if v is False:
            return False
        unknown = unknown or v is None
    return None if unknown else True


def missing(when: When, ctx: Facts) -> list[str]:
    return [name for name, v in _parts(when, ctx).items() if v is None]
