"""Frozen rule records. Row shapes follow the HL7 PDDI minimal information model (drugs,
consequence, severity, mechanism, action, evidence) and GenPRES-style inclusive bounds."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from formulary import Source, When


@dataclass(frozen=True, slots=True)
class Selector:
    """A drug id, or every member of a class (`class:nsaid`)."""

    kind: str  # "drug" | "class"
    id: str
    key: str = ""  # "drug:<id>" or "class:<id>": the tag an order carries when covered (Context.tags)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", f"{self.kind}:{self.id}")

    def matches(self, drug_id: str | None, classes: frozenset[str]) -> bool:
        return drug_id == self.id if self.kind == "drug" else self.id in classes

    @property
    def specificity(self) -> int:
        return 2 if self.kind == "drug" else 1

    def __str__(self) -> str:
        return self.id if self.kind == "drug" else f"class:{self.id}"


@dataclass(frozen=True, slots=True)
class Interaction:
    id: str
    a: Selector
    b: Selector
    severity: str
    effect: str
    mechanism: str
    management: str
    source: str
    group: str
    also: Selector | None = None
    a_routes: tuple[str, ...] = ()
    b_routes: tuple[str, ...] = ()
    verified: bool = True
    evidence_quote: str = ""  # the one sentence of the source the rule rests on
    evidence_location: str = ""  # where it stands in the source: "Section 7", "Table 2", "Boxed Warning"
    # The patients the row is written for (Beers: adults 65 and over). None: every patient. A row
    # with a band outranks the unbanded row of its pair and group when the patient is known to match.
    when: When | None = None


@dataclass(frozen=True, slots=True)
class Duplication:
    id: str
    selector: Selector
    severity: str
    scheduled_only: bool
    message: str
    recommendation: str
    source: str
    verified: bool = True
    evidence_quote: str = ""  # the one sentence of the source the rule rests on
    evidence_location: str = ""  # where it stands in the source: "Section 7", "Table 2", "Boxed Warning"
    prn_only: bool = False


@dataclass(frozen=True, slots=True)
class Caution:
    """A patient-context caution: drug(s) × a patient state (renal, hepatic, age, condition, labs)."""

    id: str
    drugs: tuple[Selector, ...]
    category: str
    severity: str
    when: When
    message: str
    recommendation: str
    source: str
    routes: tuple[str, ...] = ()
    prn: bool | None = None
    dose_number_max: int | None = None
    dose_number_min: int | None = None
    verified: bool = True
    evidence_quote: str = ""  # the one sentence of the source the rule rests on
    evidence_location: str = ""  # where it stands in the source: "Section 7", "Table 2", "Boxed Warning"
    except_drugs: tuple[Selector, ...] = ()  # members of `drugs` the source leaves out (COX-2 NSAIDs)
    keys: frozenset[str] = frozenset()  # the selector tags, derived: see __post_init__
    except_keys: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "keys", frozenset(s.key for s in self.drugs))
        object.__setattr__(self, "except_keys", frozenset(s.key for s in self.except_drugs))


@dataclass(frozen=True, slots=True)
class RequiredCheck:
    """Information that must be known (or a co-medication that must be present) before a drug."""

    id: str
    drugs: tuple[Selector, ...]
    needs: tuple[str, ...]
    severity: str
    message: str
    recommendation: str
    source: str
    routes: tuple[str, ...] = ()
    with_drugs: tuple[Selector, ...] = ()
    verified: bool = True
    evidence_quote: str = ""  # the one sentence of the source the rule rests on
    evidence_location: str = ""  # where it stands in the source: "Section 7", "Table 2", "Boxed Warning"
    unless: When | None = None  # the check is not for patients who match (calcium advice in hypercalcaemia)
    when: When | None = None  # the check is only for patients who match (liver disease: the grade is needed)
    keys: frozenset[str] = frozenset()  # the selector tags, derived: see __post_init__

    def __post_init__(self) -> None:
        object.__setattr__(self, "keys", frozenset(s.key for s in self.drugs))


@dataclass(frozen=True, slots=True)
class MmeFactor:
    drug: str
    routes: tuple[str, ...]
    factor: float
    unit: str
    source: str


@dataclass(frozen=True, slots=True)
class MmeThreshold:
    mme: float
    severity: str
    message: str
    recommendation: str
    source: str
    evidence_quote: str = ""  # the one sentence of the source the rule rests on
    evidence_location: str = ""  # where it stands in the source: "Section 7", "Table 2", "Boxed Warning"


@dataclass(frozen=True, slots=True)
class Cited:
    """A quoted sentence and where it stands, for a rule whose record holds nothing else (the MME total)."""

    evidence_quote: str = ""
    evidence_location: str = ""


@dataclass(frozen=True)
class Knowledge:
    """All rule tables. Indexes are derived once on first use (cached_property on a frozen record)."""

    interactions: tuple[Interaction, ...]
    duplications: tuple[Duplication, ...]
    same_ingredient: Duplication
    cautions: tuple[Caution, ...]
    checks: tuple[RequiredCheck, ...]
    mme_factors: tuple[MmeFactor, ...]
    mme_thresholds: tuple[MmeThreshold, ...]
    mme_source: str
    cancer_conditions: tuple[str, ...]
    sources: dict[str, Source]
    mme_evidence: Cited = Cited()  # the sentence behind the MME total (opioid_load.total)
    mme_left_out: tuple[str, ...] = ()  # drugs the MME table leaves out by design (not "incomplete")

    @cached_property
    def cautions_by_key(self) -> dict[str, tuple[Caution, ...]]:
        """Cautions keyed by each drug/class they name, so only cautions an order can meet are tried."""
        out: dict[str, list[Caution]] = {}
        for c in self.cautions:
            for k in c.keys:
                out.setdefault(k, []).append(c)
        return {k: tuple(v) for k, v in out.items()}

    @cached_property
    def duplications_by_key(self) -> dict[str, tuple[Duplication, ...]]:
        """Duplication rows keyed by their selector's tag."""
        out: dict[str, list[Duplication]] = {}
        for r in self.duplications:
            out.setdefault(r.selector.key, []).append(r)
        return {k: tuple(v) for k, v in out.items()}

    @cached_property
    def interaction_tags(self) -> frozenset[str]:
        """Every drug/class tag some interaction row names: orders without one cannot interact."""
        return frozenset(s.key for r in self.interactions for s in (r.a, r.b, r.also) if s is not None)

    @cached_property
    def interactions_by_a(self) -> dict[str, tuple[Interaction, ...]]:
        """Interactions keyed by their `a` selector, so a pair of orders meets only rules that can match."""
        out: dict[str, list[Interaction]] = {}
        for r in self.interactions:
            out.setdefault(r.a.key, []).append(r)
        return {k: tuple(v) for k, v in out.items()}
