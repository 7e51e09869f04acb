"""The one rule mechanism: each evaluator declares its units and exactly what it reads of each.

An evaluator splits a regimen into *units* (the patient, one drug's orders, one interaction
row's candidates, one caution …) and, for a unit, reads only the order attributes and patient
facts it declares. Its findings are a pure function of that declared input, so the engine keys
a memo on it: the same unit seen again — in the next request, or in the next patient of a
million-row audit — costs one dictionary look-up. The batch audit calls the engine and gets the
same memo with no code of its own (the idea of Bazel actions and salsa queries: a computation
is keyed on exactly the inputs it declares, and reading anything else is an error).

The evaluator receives views built *from the key itself*: an attribute or fact it did not
declare is not there, and reading it raises `UndeclaredRead`, in production as in tests. The
partition step (`units`) reads the real orders for speed; with `MEDCHECK_STRICT_READS=1` (the
test suite sets it) it gets views limited to its declared `selects` too.

A unit covers order *lines*: a combination product is one medication with a line per active
ingredient. Medication indexes inside a unit's findings are local to the unit (0 … n-1 over its
medications, shared by the lines of one medication); the engine maps them back to the request's
indexes, in `Finding.medications` and in evidence entries named `medication` (an int) or `orders`
(a list of ints).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from checker.model import Finding
from formulary import Formulary, When
from rules.context import facets, match, missing

STRICT = os.environ.get("MEDCHECK_STRICT_READS") == "1"
MEMO_ENTRIES = 150_000  # entries of all a memo's tables together before it starts over (~300 MB)
MEMO_CHECK_EVERY = 1_000  # regimens between two looks at the memo's size
MEMO_VALUES = 4_096  # per unit and facts read: patients' values kept before they start over
MEMO_PLACES = 64  # per memo entry: the position tuples its placed findings are kept for


class UndeclaredRead(AttributeError):
    """An evaluator read an order attribute or patient fact its declaration does not name."""


@dataclass(frozen=True, slots=True)
class Unit:
    """One thing an evaluator judges: a knowledge item, the orders it covers, the facts it needs.

    `item` must be long-lived knowledge (a rule row, a drug id) or a tuple of such: it is part
    of the memo key. `facts` adds to the evaluator's static `facts` for this unit only (a drug's
    limits read the facts their bands name, no others)."""

    item: Hashable
    orders: tuple[Any, ...] = ()  # the Context's orders (ingredient lines) the unit covers
    facts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Evaluator:
    """A rule evaluator and its declaration.

    reads:   order attributes `evaluate` reads, for every order of a unit ("drug" is given as the
             formulary's Drug, keyed by its id; "name" is the drug's name or the text as ordered).
    facts:   patient facts `evaluate` reads for every unit (see FACTS).
    selects: order attributes `units` reads to partition the regimen.
    """

    name: str
    units: Callable[[Any], Iterable[Unit]]
    evaluate: Callable[[Input], Iterable[Finding]]
    reads: tuple[str, ...] = ()
    facts: tuple[str, ...] = ()
    selects: tuple[str, ...] = ("drug_id", "classes", "route")

    def __post_init__(self) -> None:
        unknown = set(self.facts) - set(FACTS)
        if unknown:
            raise ValueError(f"{self.name}: unknown patient facts {sorted(unknown)}")


# Patient facts by name, read from the engine's Context. Raw fields are "patient.<field>";
# the rest are derived once per patient in rules/context.py.
FACTS: dict[str, Callable[[Any], Any]] = {
    **{
        f"patient.{name}": (lambda n: lambda ctx: getattr(ctx.patient, n))(name)
        for name in (
            "age_years", "weight_kg", "sex", "crcl_ml_min", "serum_creatinine_mg_dl", "egfr",
            "hepatic_impairment", "qtc_ms", "serum_calcium_mg_dl", "albumin_g_dl", "platelets_10e9_l",
            "anc_10e9_l", "hemoglobin_g_dl", "opioid_tolerant", "dental_exam_done", "pregnant",
        )
    },  # fmt: skip
    "crcl": lambda ctx: ctx.crcl,
    "renal": lambda ctx: ctx.renal,
    "corrected_calcium": lambda ctx: ctx.corrected_calcium,
    "conditions": lambda ctx: ctx.conditions,
    "unknown_conditions": lambda ctx: ctx.unknown_conditions,
    "unused_conditions": lambda ctx: ctx.unused_conditions,
    "pregnant": lambda ctx: ctx.pregnant,  # the field, else a pregnancy condition
}

# Order attributes with a derivation of their own; any other name is the Order's attribute.
_DERIVED: dict[str, Callable[[Any], Any]] = {
    "drug": lambda o: o.drug.id if o.drug else None,
    "name": lambda o: (
        (f"{o.drug.name} (in {o.input})" if o.parts > 1 else o.drug.name) if o.drug else o.input
    ),
}


def when_facts(when: When) -> tuple[str, ...]:
    """The patient facts a `When` band reads (and its finding's evidence shows)."""
    w, out = when, []
    if (w.age_min, w.age_max, w.age_over, w.age_below) != (None,) * 4:
        out.append("patient.age_years")
    if (w.weight_min_kg, w.weight_max_kg, w.weight_below) != (None,) * 3:
        out.append("patient.weight_kg")
    if w.uses_crcl:
        out.append("renal")  # CrCl given, else estimated, else eGFR: rules.context.Renal
    if w.hepatic:
        out.append("patient.hepatic_impairment")
    if w.conditions:
        out.append("conditions")
    if w.opioid_tolerant is not None:
        out.append("patient.opioid_tolerant")
    if w.pregnant is not None:
        out.append("pregnant")
        out.append("conditions")  # pregnancy may come from the conditions
    if (w.qtc_min, w.qtc_max, w.qtc_over, w.qtc_below) != (None,) * 4:
        out.append("patient.qtc_ms")
    if (w.calcium_below, w.calcium_over) != (None, None):
        out.append("corrected_calcium")
    if w.albumin_known is not None or (w.calcium_below, w.calcium_over) != (None, None):
        out.append("patient.albumin_g_dl")
    for bound, fact in ((w.platelets_below, "platelets_10e9_l"), (w.anc_below, "anc_10e9_l"),
                        (w.hemoglobin_below, "hemoglobin_g_dl")):  # fmt: skip
        if bound is not None:
            out.append(f"patient.{fact}")
    return tuple(out)


class OrderView:
    """One order line of a unit, as declared: its medication's local `index`, its ingredient
    `part`, and the declared attributes only."""

    __slots__ = ("index", "part", "_values", "_formulary", "_owner", "_order")

    def __init__(self, index: int, part: int, values: dict[str, Any], formulary: Formulary, owner: str,
                 order: Any = None):  # fmt: skip
        self.index, self.part, self._values = index, part, values
        self._formulary, self._owner = formulary, owner
        self._order = order  # the real order, for the engine only (partition views under strict reads)

    @property
    def line(self) -> tuple[int, int]:
        return (self.index, self.part)

    def __getattr__(self, name: str) -> Any:
        try:
            value = self._values[name]
        except KeyError:
            raise UndeclaredRead(f"{self._owner} read order.{name} without declaring it") from None
        if name == "drug" and value is not None:
            return self._formulary.drugs[value]
        return value

    @property
    def drug_id(self) -> str | None:
        if "drug" in self._values:
            return self._values["drug"]
        return self.__getattr__("drug_id")

    @property
    def scheduled(self) -> bool:
        return not self.__getattr__("prn")


class PatientView:
    """The patient's declared raw fields (facts named "patient.<field>")."""

    __slots__ = ("_facts", "_owner")

    def __init__(self, facts: Mapping[str, Any], owner: str):
        self._facts, self._owner = facts, owner

    def __getattr__(self, name: str) -> Any:
        try:
            return self._facts[f"patient.{name}"]
        except KeyError:
            raise UndeclaredRead(f"{self._owner} read patient.{name} without declaring it") from None


class Band:
    """A `When` read as a whole (through `ctx.matches` or `ctx.missing_for`): the memo keeps the
    outcome of each of its tests, not the values of the facts they read. A dose row for patients
    under 50 kg reads the weight, but 60 and 61 kg give the same findings: keyed on the test's
    outcome, they share one evaluation. Held once per (long-lived) `When`, hashed by identity."""

    __slots__ = ("when", "facts", "tests")

    def __init__(self, when: When):
        self.when, self.facts = when, when_facts(when)
        self.tests = tuple(test for _, test in facets(when))

    def outcome(self, ctx: Any) -> tuple[bool | None, ...]:
        return tuple(test(ctx) for test in self.tests)


_BANDS: dict[int, Band] = {}


def band(when: When) -> Band:
    b = _BANDS.get(id(when))
    if b is None or b.when is not when:
        b = _BANDS[id(when)] = Band(when)
    return b


class _Read(Mapping[str, Any]):
    """A unit's declared facts, each fetched from the patient when first read and recorded: the
    memo keeps findings under the facts an evaluation actually read, with their values, and the
    bands it tested, with their outcomes."""

    __slots__ = ("_declared", "_fetch", "_ctx", "_owner", "read")

    def __init__(self, declared: tuple[str, ...], fetch: Callable[[str], Any], ctx: Any, owner: str):
        self._declared, self._fetch, self._ctx, self._owner = declared, fetch, ctx, owner
        self.read: dict[str | Band, Any] = {}

    def __getitem__(self, name: str) -> Any:
        try:
            return self.read[name]
        except KeyError:
            if name not in self._declared:
                raise
        value = self.read[name] = self._fetch(name)
        return value

    def band(self, when: When) -> tuple[bool | None, ...]:
        """The outcomes of `when`'s tests for this patient, read from the real Context (the same
        values the declared facts hold) once its facts are known to be declared."""
        b = band(when)
        out = self.read.get(b)
        if out is None:
            for name in b.facts:
                if name not in self._declared:
                    raise UndeclaredRead(f"{self._owner} tested a band on {name} without declaring it")
            out = self.read[b] = b.outcome(self._ctx)
        return out

    def __iter__(self) -> Iterator[str]:
        return iter(self._declared)

    def __len__(self) -> int:
        return len(self._declared)


class ContextView:
    """What `evaluate` sees of the Context: the declared facts, the formulary and the knowledge."""

    def __init__(self, facts: Mapping[str, Any], formulary: Formulary, knowledge: Any, owner: str):
        self._facts, self._owner = facts, owner
        self.formulary, self.knowledge = formulary, knowledge
        self.patient = PatientView(facts, owner)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._facts[name]
        except KeyError:
            raise UndeclaredRead(f"{self._owner} read the patient's {name} without declaring it") from None

    def has_condition(self, name: str) -> bool:
        return name in self.conditions

    def matches(self, when: When) -> bool | None:
        if isinstance(self._facts, _Read):
            out = self._facts.band(when)
            return False if False in out else None if None in out else True
        return match(when, self)

    def missing_for(self, when: When) -> list[str]:
        if isinstance(self._facts, _Read):
            out = self._facts.band(when)
            return [name for (name, _), v in zip(facets(when), out, strict=True) if v is None]
        return missing(when, self)


@dataclass(frozen=True, slots=True)
class Input:
    """A unit's declared input: the item, its orders (local indexes) and the patient's facts."""

    item: Any
    orders: tuple[OrderView, ...]
    ctx: ContextView

    @property
    def knowledge(self) -> Any:
        return self.ctx.knowledge

    @property
    def formulary(self) -> Formulary:
        return self.ctx.formulary


def _item_key(item: Any) -> Hashable:
    """Knowledge rows by identity (they live as long as the knowledge, and so does the memo):
    hashing a frozen row's every field on each look-up would cost more than the evaluation."""
    if isinstance(item, str):
        return item
    if isinstance(item, tuple):
        return tuple(_item_key(x) for x in item)
    return id(item)


def _order_key(o: Any, reads: Sequence[str]) -> tuple:
    return tuple(_DERIVED[a](o) if a in _DERIVED else getattr(o, a) for a in reads)


def _remap_evidence(value: Any, meds: Sequence[int], key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _remap_evidence(v, meds, k) for k, v in value.items()}
    if isinstance(value, list):
        if key == "orders" and all(type(v) is int for v in value):
            return list(dict.fromkeys(meds[v] for v in value))
        return [_remap_evidence(v, meds) for v in value]
    if key == "medication" and type(value) is int:
        return meds[value]
    return value


def _remap(found: Finding, meds: Sequence[int]) -> Finding:
    return replace(
        found,
        medications=tuple(sorted({meds[i] for i in found.medications})),
        evidence=_remap_evidence(found.evidence, meds),
    )


class Memo:
    """Findings per evaluator and declared input, for one formulary and knowledge base."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[Any, Any]] = {}
        self._regimens = 0

    def table(self, name: str) -> dict[Any, Any]:
        return self.tables.setdefault(name, {})

    def regimen_done(self) -> None:
        """Bound the memo's memory for a process that checks regimens without end (a server, a
        worker of a 4M-row audit): every `MEMO_CHECK_EVERY` regimens, a memo over `MEMO_ENTRIES`
        entries in all starts over. Its tables grow with the distinct units seen, which on the
        audit benchmark is about one entry per patient until the limit."""
        self._regimens += 1
        if self._regimens % MEMO_CHECK_EVERY == 0 and sum(map(len, self.tables.values())) > MEMO_ENTRIES:
            self.tables.clear()


def _real(o: Any) -> Any:
    return o._order if isinstance(o, OrderView) else o


class _Hit:
    """A unit's findings with local indexes, and the same findings mapped onto each regimen's
    medication indexes seen so far: the same unit recurs at the same few positions, so mapping is
    done once per position tuple, not once per patient."""

    __slots__ = ("found", "placed")

    def __init__(self, found: tuple[Finding, ...]):
        self.found = found
        self.placed: dict[tuple[int, ...], tuple[Finding, ...]] = {}

    def at(self, meds: tuple[int, ...]) -> tuple[Finding, ...]:
        out = self.placed.get(meds)
        if out is None:
            if meds == tuple(range(len(meds))):
                out = self.found
            else:
                out = tuple(_remap(f, meds) for f in self.found)
            if len(self.placed) < MEMO_PLACES:
                self.placed[meds] = out
        return out


_NONE = _Hit(())


def run_evaluator(ev: Evaluator, ctx: Any, memo: Memo) -> Iterable[Finding]:
    """Every unit of `ev` in this regimen: from the memo, or evaluated on its declared input.

    The memo is keyed first on the unit's item and order lines, then on the patient facts the
    evaluation *read*, with their values (facts are fetched as they are read). A dose unit whose
    doses break no limit reads no fact, so it is one entry for every patient, whatever their
    age or weight; one that breaks an age-banded limit reads the age, and is kept per age. The
    evaluation is a function of what it read, so a patient with the same values of the same
    facts gets the same findings (the idea of build systems with dynamic dependencies)."""
    table, known = memo.table(ev.name), memo.table(ev.name + "/orders")
    reads = ev.reads
    values: dict[str | Band, Any] = {}  # this patient's facts and band outcomes, each fetched once

    def fact(name: str | Band) -> Any:
        v = values.get(name, values)
        if v is values:
            v = values[name] = FACTS[name](ctx) if isinstance(name, str) else name.outcome(ctx)
        return v

    out: list[Finding] = []
    for unit in ev.units(_Selecting(ev, ctx) if STRICT else ctx):
        orders = [_real(o) for o in unit.orders] if STRICT else unit.orders
        meds = tuple(sorted({o.index for o in orders}))
        local = {g: n for n, g in enumerate(meds)}
        facts = ev.facts + unit.facts if unit.facts else ev.facts
        okeys = []
        for o in orders:
            entry = known.get(id(o))  # the entry holds the order, so its id is not reused meanwhile
            if entry is None or entry[0] is not o:
                entry = known[id(o)] = (o, _order_key(o, reads))
            okeys.append((local[o.index], o.part, entry[1]))
        key = (_item_key(unit.item), facts, tuple(okeys))
        paths = table.get(key)  # {names read: {their values: findings}}
        hit = None
        if paths is not None:
            for names, by_values in paths.items():
                hit = by_values.get(tuple(map(fact, names)))
                if hit is not None:
                    break
        else:
            paths = table[key] = {}
        if hit is None:
            read = _Read(facts, fact, ctx, ev.name)
            found = tuple(ev.evaluate(_input(ev, unit, okeys, read, ctx)))
            hit = _Hit(found) if found else _NONE
            by_values = paths.setdefault(tuple(read.read), {})
            if len(by_values) >= MEMO_VALUES:
                by_values.clear()
            by_values[tuple(read.read.values())] = hit
        if hit.found:
            out.extend(hit.at(meds))
    return out


def _input(ev: Evaluator, unit: Unit, okeys: list[tuple], facts: Mapping[str, Any], ctx: Any) -> Input:
    views = tuple(
        OrderView(n, part, dict(zip(ev.reads, k, strict=True)), ctx.formulary, ev.name)
        for n, part, k in okeys
    )
    return Input(unit.item, views, ContextView(facts, ctx.formulary, ctx.knowledge, ev.name))


class _Selecting:
    """The Context as `units` may see it under MEDCHECK_STRICT_READS: orders limited to `selects`."""

    def __init__(self, ev: Evaluator, ctx: Any):
        self._ctx = ctx
        self.orders = [
            OrderView(o.index, o.part, {a: (_DERIVED[a](o) if a in _DERIVED else getattr(o, a))
                                        for a in ev.selects}, ctx.formulary, f"{ev.name}.units", o)
            for o in ctx.orders
        ]  # fmt: skip

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)
