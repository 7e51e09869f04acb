"""Dose-reduction criteria of the direct oral anticoagulants (rules/data/anticoagulants.toml).

Apixaban's "two of three" (age, weight, creatinine) cannot be a dose-limit band, whose bounds
must all hold; here each row counts the criteria the patient meets. A criterion whose fact is
unknown and could complete the count makes a monitoring finding instead of a silent pass."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

from marshmallow import fields, validate

from checker.findings import finding, source_block
from checker.model import Finding
from checker.quantities import num, qty
from formulary import KnowledgeError, Source
from formulary import load as load_formulary
from formulary.loader import ID, _amount, _Strict, load_sources, read_toml, validated
from rules.context import Context
from rules.knowledge import knowledge
from rules.mechanism import ContextView, Evaluator, Input, Unit

FACT_NAMES = {"age_years": "patient.age_years", "weight_kg": "patient.weight_kg",
              "serum_creatinine_mg_dl": "patient.serum_creatinine_mg_dl", "crcl": "crcl"}  # fmt: skip


class CriterionSchema(_Strict):
    fact = fields.String(required=True, validate=validate.OneOf(tuple(FACT_NAMES)))
    min = fields.Float()
    max = fields.Float()
    label = fields.String(required=True)


class ReductionSchema(_Strict):
    id = fields.String(required=True, validate=ID)
    drug = fields.String(required=True, validate=ID)
    max_single = fields.String(required=True)
    min_criteria = fields.Integer(required=True, validate=validate.Range(min=1))
    criteria = fields.List(fields.Nested(CriterionSchema), required=True, validate=validate.Length(min=1))
    source = fields.String(required=True)
    quote = fields.String(load_default="", validate=validate.Length(max=500))  # the label's own sentence
    location = fields.String(load_default="", validate=validate.Length(max=200))  # where it stands in it
    verified = fields.Boolean(load_default=True)
    recommendation = fields.String(required=True)


class FileSchema(_Strict):
    source = fields.Dict()
    reduction = fields.List(fields.Nested(ReductionSchema), required=True)


@dataclass(frozen=True, slots=True)
class Criterion:
    fact: str
    min: float | None
    max: float | None
    label: str

    def met(self, value: float | None) -> bool | None:
        if value is None:
            return None
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)


@dataclass(frozen=True, slots=True)
class Reduction:
    id: str
    drug: str
    max_single: float
    min_criteria: int
    criteria: tuple[Criterion, ...]
    source: str
    quote: str
    location: str
    verified: bool
    recommendation: str
    facts: tuple[str, ...]


@dataclass(frozen=True)
class Reductions:
    by_drug: dict[str, tuple[Reduction, ...]]
    sources: dict[str, Source]


@cache
def reductions() -> Reductions:
    f, sources = load_formulary(), dict(knowledge().sources)
    data = validated(FileSchema(), read_toml("rules", "anticoagulants.toml")[0], "anticoagulants.toml")
    sources.update(load_sources(data))
    out: dict[str, list[Reduction]] = {}
    for r in data["reduction"]:
        w = f"anticoagulants.toml [{r['id']}]"
        if r["drug"] not in f.drugs:
            raise KnowledgeError(f"{w}: unknown drug {r['drug']!r}")
        if r["source"] not in sources:
            raise KnowledgeError(f"{w}: unknown source {r['source']!r}")
        if r["quote"].strip() and not r["location"].strip():
            raise KnowledgeError(f"{w}: a quote needs its location")
        crit = tuple(Criterion(c["fact"], c.get("min"), c.get("max"), c["label"]) for c in r["criteria"])
        facts = tuple(dict.fromkeys(FACT_NAMES[c.fact] for c in crit))
        unit = f.drugs[r["drug"]].dose_unit
        out.setdefault(r["drug"], []).append(Reduction(
            r["id"], r["drug"], _amount(r["max_single"], unit, w), r["min_criteria"], crit, r["source"],
            r["quote"], r["location"], r["verified"], r["recommendation"], facts))  # fmt: skip
    return Reductions({k: tuple(v) for k, v in out.items()}, sources)


def reduction_units(ctx: Context) -> Iterator[Unit]:
    """One unit per reduction row and order of its drug."""
    table = reductions().by_drug
    for o in ctx.orders:
        if o.drug_id is None:
            continue
        for r in table.get(o.drug_id, ()):
            yield Unit(r, (o,), r.facts)


def _value(fact: str, ctx: ContextView) -> float | None:
    return ctx.crcl[0] if fact == "crcl" else getattr(ctx.patient, fact)


def evaluate_reduction(inp: Input) -> Iterator[Finding]:
    r, (o,) = inp.item, inp.orders
    if o.dose is None or o.dose <= r.max_single * (1 + 1e-9):
        return
    states = [(c, c.met(_value(c.fact, inp.ctx))) for c in r.criteria]
    met = [c.label for c, v in states if v]
    unknown = [c.label for c, v in states if v is None]
    a, b = qty(o.dose, o.unit), qty(r.max_single, o.unit)
    src = source_block(reductions(), r.source, r.verified)
    if r.quote:
        src["quote"], src["location"] = r.quote, r.location
    name = o.drug.name
    if len(met) >= r.min_criteria:
        yield finding(
            "dose.reduction_criteria", "dose_single", "moderate", (o.drug.id,), (o.index,),
            f"{name} {a} per dose, but the patient meets the criteria for the reduced dose of {b} "
            f"({'; '.join(met)}).",
            r.recommendation, {"actual": a, "limit": b, "criteria_met": met}, src,
            rule=f"dose.reduction.{r.id}",
        )  # fmt: skip
    elif len(met) + len(unknown) >= r.min_criteria:
        yield finding(
            "monitoring.reduction_criteria.unknown", "monitoring", "minor", (o.drug.id,), (o.index,),
            f"{name} {a} per dose: whether the reduced dose of {b} applies depends on facts not recorded "
            f"({'; '.join(unknown)}).",
            f"Record them. {r.recommendation}", {"actual": a, "limit": b, "missing": unknown}, src,
            rule=f"dose.reduction.{r.id}",
        )  # fmt: skip


DOSE_REDUCTIONS = Evaluator(
    "dose_reductions", reduction_units, evaluate_reduction, reads=("drug", "dose", "unit")
)


def catalogue_rows() -> list[dict]:
    red = reductions()
    rows = []
    for rs in red.by_drug.values():
        for r in rs:
            src = red.sources[r.source]
            summary = f"{num(r.max_single)} per dose when {r.min_criteria} of: " + "; ".join(
                c.label for c in r.criteria
            )
            rows.append({"id": f"dose.reduction.{r.id}", "category": "dose_single", "severity": "moderate",
                         "drugs": [r.drug], "summary": summary, "source": src.label,
                         "verified": r.verified and src.verified,
                         "evidence_quote": r.quote, "evidence_location": r.location})  # fmt: skip
    return rows
