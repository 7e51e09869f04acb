"""Frozen records of what the formulary knows. Built once by the loader, shared read-only."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Source:
    """Where a number or a statement comes from."""

    id: str
    label: str
    url: str = ""
    verified: bool = True
    note: str = ""


@dataclass(frozen=True, slots=True)
class When:
    """The patients a limit is written for. Every bound given must hold.

    `*_min`/`*_max` are inclusive, `*_over`/`*_below` exclusive, so label bands such as
    "CrCl 30-59", "50-60", "> 75 years" and "< 50 kg" are written exactly as the label says.
    """

    age_min: float | None = None
    age_max: float | None = None
    age_over: float | None = None
    age_below: float | None = None
    weight_max_kg: float | None = None
    weight_min_kg: float | None = None
    weight_below: float | None = None
    crcl_min: float | None = None
    crcl_max: float | None = None
    crcl_below: float | None = None
    crcl_over: float | None = None
    hepatic: tuple[str, ...] = ()
    conditions: tuple[str, ...] = ()
    opioid_tolerant: bool | None = None
    qtc_min: float | None = None
    qtc_over: float | None = None
    qtc_max: float | None = None
    qtc_below: float | None = None
    calcium_below: float | None = None
    calcium_over: float | None = None
    albumin_known: bool | None = None  # whether the calcium above could be albumin-corrected
    platelets_below: float | None = None
    anc_below: float | None = None
    hemoglobin_below: float | None = None
    pregnant: bool | None = None

    @property
    def uses_crcl(self) -> bool:
        return any(v is not None for v in (self.crcl_min, self.crcl_max, self.crcl_over, self.crcl_below))

    def crcl_band(self) -> str:
        """The CrCl band as people write it: "CrCl 30-59 mL/min" style, exact about edges."""
        bounds = [(self.crcl_min, "≥"), (self.crcl_over, ">"), (self.crcl_max, "≤"), (self.crcl_below, "<")]
        text = " and ".join(f"{sign}{value:g}" for value, sign in bounds if value is not None)
        return f"CrCl {text} mL/min"


RELEASES = ("immediate", "extended")  # a product's release type, as products.toml and limits write it

LIMIT_FIELDS = (
    "max_single",
    "max_daily",
    "min_interval_h",
    "max_duration_days",
    "course_max_doses",
    "max_single_per_kg",
    "max_daily_per_kg",
)


@dataclass(frozen=True, slots=True)
class DoseLimit:
    """One labelled limit row. Quantities are plain floats in the drug's canonical unit."""

    routes: tuple[str, ...]
    source: str
    when: When = field(default_factory=When)
    category: str | None = None
    severity: str = "major"
    max_single: float | None = None
    max_daily: float | None = None
    min_interval_h: float | None = None
    max_duration_days: float | None = None
    course_max_doses: int | None = None
    max_single_per_kg: float | None = None
    max_daily_per_kg: float | None = None
    recommendation: str = ""
    note: str = ""
    verified: bool = True
    evidence_quote: str = ""  # the one sentence of the source the limit rests on
    evidence_location: str = ""  # where it stands: "Section 2.1", "Table 2", "Boxed Warning"
    # The regimen a row is written for, by the order's single dose: Reclast's 5 mg once yearly and
    # Zometa's 4 mg every 3-4 weeks are both zoledronic acid. None: every dose.
    single_above: float | None = None
    single_upto: float | None = None
    # From which dose of a course the row applies (ketorolac: 20 mg first oral dose, 10 mg after).
    dose_number_min: int | None = None
    # Relative margin for the label's own rounding (Xofigo: 55 kBq/kg written as 1.49 uCi/kg).
    tolerance: float = 0.0
    # The release type the row is written for (OxyContin every 12 h is extended-release oxycodone;
    # IR oxycodone is given every 4-6 h). None: products of either release.
    release: str | None = None
    # The product lines the row is written for, as the data names them (brands or names of
    # products.toml: Hysingla ER is once daily, Zohydro ER every 12 h, both ER hydrocodone), and the
    # products.toml rows they resolve to at load. Empty: every product of the drug.
    products: tuple[str, ...] = ()
    families: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Drug:
    id: str
    name: str
    kind: str
    classes: frozenset[str]
    dose_unit: str
    routes: tuple[str, ...] = ()
    route_units: tuple[tuple[str, str], ...] = ()
    synonyms: tuple[str, ...] = ()
    brands: tuple[str, ...] = ()
    atc: tuple[str, ...] = ()
    rxcui: tuple[str, ...] = ()
    iu_per_ug: float | None = None
    limits: tuple[DoseLimit, ...] = ()
    source: str = ""
    note: str = ""
    reference_only: bool = False  # known for its names, codes and classes; no dose rules of its own
    # The release a plain order of the drug (no product, no IR/ER word) is judged as by limits
    # written for one release: "morphine 15 mg q4h" is immediate-release morphine. None: not known.
    plain_release: str | None = None

    def unit_for(self, route: str | None) -> str:
        """Canonical dose unit for a route: fentanyl patches are dosed in µg/h, injections in µg."""
        for r, u in self.route_units:
            if r == route:
                return u
        return self.dose_unit


@dataclass(frozen=True, slots=True)
class DrugClass:
    id: str
    name: str
    atc_prefixes: tuple[str, ...] = ()
    parents: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Part:
    """One active ingredient of a product: `amount` of `unit` per dose unit, per mL or per hour."""

    drug: str
    amount: float | None
    unit: str = ""
    per: str = "unit"  # unit (tablet, capsule, patch, suppository, actuation) | mL | h


@dataclass(frozen=True, slots=True)
class Code:
    code: str
    tty: str  # SCD, SBD, GPCK, BPCK
    source: str


@dataclass(frozen=True, slots=True)
class Product:
    """A product as ordered: its ingredients with strengths, dose form and release type.

    Products come from products.toml (curated, with their sources) or are read from an RxNorm
    clinical-drug name the checker was sent (id "rxcui_<code>" or "name").
    """

    id: str
    name: str
    parts: tuple[Part, ...]
    form: str | None = None
    release: str | None = None  # immediate | extended | None (not stated)
    route: str | None = None  # route the form implies (patch → transdermal), if any
    brands: tuple[str, ...] = ()
    codes: tuple[Code, ...] = ()
    source: str = ""
    pack: bool = False
    # The products.toml row (product line) this is, or, for a product read from an RxNorm name, the
    # one it matches by ingredients, strength, form and release: limits may be written for a line.
    family: str = ""

    @property
    def drugs(self) -> tuple[str, ...]:
        return tuple(p.drug for p in self.parts)

    @property
    def strengths_known(self) -> bool:
        return not self.pack and all(p.amount is not None for p in self.parts)
