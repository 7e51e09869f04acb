"""Reads and validates the rule tables in `rules/data/`. A dangling drug, class, route, condition
or source reference stops the load: a broken rule must never be skipped silently."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from formulary import Formulary, KnowledgeError, When
from formulary.loader import (
    CATEGORIES,
    ID,
    LOUD,
    SEVERITIES,
    Evidence,
    WhenSchema,
    _Strict,
    load_sources,
    read_toml,
    validated,
)
from rules.model import (
    Caution,
    Cited,
    Duplication,
    Interaction,
    Knowledge,
    MmeFactor,
    MmeThreshold,
    RequiredCheck,
    Selector,
)

RULE_FILES = (
    "sources.toml",
    "interactions.toml",
    "duplication.toml",
    "cautions.toml",
    "checks.toml",
    "opioids.toml",
)
NEEDS = (
    "renal_function",
    "serum_calcium",
    "blood_counts",
    "qtc",
    "opioid_tolerant",
    "dental_exam_done",
    "weight",
    "hepatic_function",
    "age",
)
_SEL = validate.Regexp(r"^(class:)?[a-z][a-z0-9_]*$", error="a drug id or class:<id>")
Severity = validate.OneOf(SEVERITIES)


class ExampleSchema(_Strict):
    medications = fields.List(fields.Dict(), required=True, validate=validate.Length(min=1))
    patient = fields.Dict(load_default=dict)
    expect = fields.Boolean(required=True)


class InteractionSchema(Evidence):
    id = fields.String(required=True, validate=validate.Regexp(r"^[a-z0-9_]+$"))
    a = fields.String(required=True, validate=_SEL)
    b = fields.String(required=True, validate=_SEL)
    also = fields.String(validate=_SEL)
    a_routes = fields.List(fields.String(), load_default=list)
    b_routes = fields.List(fields.String(), load_default=list)
    severity = fields.String(required=True, validate=Severity)
    group = fields.String(load_default="")
    effect = fields.String(required=True, validate=validate.Length(min=5))
    mechanism = fields.String(load_default="")
    management = fields.String(required=True, validate=validate.Length(min=5))
    source = fields.String(required=True)
    verified = fields.Boolean(load_default=True)
    note = fields.String(load_default="")
    examples = fields.List(fields.Nested(ExampleSchema), load_default=list)  # run by the tests
    when = fields.Nested(WhenSchema)  # the patients the row is for; without it, every patient

    @validates_schema
    def _band_says_something(self, data: dict[str, Any], **_: Any) -> None:
        if "when" in data and not data["when"]:
            raise ValidationError("an empty `when` selects every patient: leave it out")


class DuplicationSchema(Evidence):
    id = fields.String(required=True)
    note = fields.String(load_default="")
    selector = fields.String(required=True, validate=_SEL)
    severity = fields.String(required=True, validate=Severity)
    scheduled_only = fields.Boolean(load_default=False)
    prn_only = fields.Boolean(load_default=False)  # two as-needed orders: a prompt to pick one
    message = fields.String(required=True)
    recommendation = fields.String(required=True)
    source = fields.String(required=True)
    verified = fields.Boolean(load_default=True)


class CautionSchema(Evidence):
    id = fields.String(required=True)
    drugs = fields.List(fields.String(validate=_SEL), required=True, validate=validate.Length(min=1))
    except_drugs = fields.List(fields.String(validate=_SEL), load_default=list)  # members left out
    routes = fields.List(fields.String(), load_default=list)
    category = fields.String(required=True, validate=validate.OneOf(CATEGORIES))
    severity = fields.String(required=True, validate=Severity)
    when = fields.Nested(WhenSchema, required=True)
    prn = fields.Boolean()
    dose_number_max = fields.Integer()
    dose_number_min = fields.Integer()
    message = fields.String(required=True)
    recommendation = fields.String(required=True)
    source = fields.String(required=True)
    verified = fields.Boolean(load_default=True)
    note = fields.String(load_default="")

    @validates_schema
    def _not_always(self, data: dict[str, Any], **_: Any) -> None:
        if not data["when"] and "prn" not in data:
            raise ValidationError("a caution needs a `when` (otherwise it fires for everyone)")


class CheckSchema(Evidence):
    id = fields.String(required=True)
    drugs = fields.List(fields.String(validate=_SEL), required=True, validate=validate.Length(min=1))
    routes = fields.List(fields.String(), load_default=list)
    needs = fields.List(fields.String(validate=validate.OneOf(NEEDS)), load_default=list)
    with_drugs = fields.List(fields.String(validate=_SEL), load_default=list)
    unless = fields.Nested(WhenSchema)  # patients the check is not for (hypercalcaemia: no calcium advice)
    when = fields.Nested(WhenSchema)  # the only patients it is for (liver disease: the grade is needed)
    severity = fields.String(required=True, validate=Severity)
    message = fields.String(required=True)
    recommendation = fields.String(required=True)
    source = fields.String(required=True)
    verified = fields.Boolean(load_default=True)
    note = fields.String(load_default="")


class FactorSchema(_Strict):
    drug = fields.String(required=True, validate=ID)
    routes = fields.List(fields.String(), required=True)
    factor = fields.Float(required=True, validate=validate.Range(min=0, min_inclusive=False))
    unit = fields.String(required=True, validate=validate.OneOf(("mg", "ug/h")))
    source = fields.String(required=True)


class ThresholdSchema(Evidence):
    mme = fields.Float(required=True)
    note = fields.String(load_default="")
    severity = fields.String(required=True, validate=Severity)
    message = fields.String(required=True)
    recommendation = fields.String(required=True)
    source = fields.String(required=True)


class OpioidsSchema(_Strict):
    source = fields.Dict()  # [source.X] tables, validated separately
    factor = fields.List(fields.Nested(FactorSchema), required=True)
    threshold = fields.List(fields.Nested(ThresholdSchema), required=True)
    mme_source = fields.String(required=True)
    mme_evidence_quote = fields.String(load_default="", validate=validate.Length(max=500))
    mme_evidence_location = fields.String(load_default="", validate=validate.Length(max=200))
    cancer_conditions = fields.List(fields.String(validate=ID), required=True)
    left_out = fields.List(fields.String(validate=ID), load_default=list)


def _selector(text: str, f: Formulary, where: str) -> Selector:
    if text.startswith("class:"):
        sel = Selector("class", text[6:])
        if sel.id not in f.classes:
            raise KnowledgeError(f"{where}: unknown class {sel.id!r}")
    else:
        sel = Selector("drug", text)
        if sel.id not in f.drugs:
            raise KnowledgeError(f"{where}: unknown drug {sel.id!r}")
    return sel


def _routes(routes: list[str], f: Formulary, where: str) -> tuple[str, ...]:
    known = set(f.routes.values())
    if bad := [r for r in routes if r not in known]:
        raise KnowledgeError(f"{where}: unknown routes {bad}")
    return tuple(routes)


def _when(data: dict[str, Any], f: Formulary, where: str) -> When:
    fields_: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    when = When(**fields_)  # the schema checked each field's type
    if bad := set(when.conditions) - set(f.conditions.values()):
        raise KnowledgeError(f"{where}: unknown conditions {sorted(bad)}")
    return when


def _rows(data: dict[str, Any], key: str, schema: _Strict, name: str) -> list[dict[str, Any]]:
    rows = [
        validated(schema, r, f"{name} {key} #{i} ({r.get('id', '?')})")
        for i, r in enumerate(data.get(key, []))
    ]
    ids = [r["id"] for r in rows if "id" in r]
    if len(ids) != len(set(ids)):
        raise KnowledgeError(f"{name}: duplicate ids {sorted({i for i in ids if ids.count(i) > 1})}")
    return rows


# A site's own [[interaction]] rows, in interactions.toml's format (checker.site), added before the
# knowledge is first loaded and validated with the packaged rows.
_LOCAL: list[tuple[str, dict[str, Any]]] = []


def add_local(name: str, data: dict[str, Any]) -> None:
    _LOCAL.append((name, data))


def load_knowledge(f: Formulary) -> Knowledge:
    parsed = {name: read_toml("rules", name)[0] for name in RULE_FILES}
    sources = dict(f.sources)
    for name, data in parsed.items():
        for sid, src in load_sources(data).items():
            if sid in sources:
                raise KnowledgeError(f"rules/{name}: source {sid!r} is already defined")
            sources[sid] = src

    def cite(sid: str, where: str, severity: str = "") -> str:
        if sid not in sources:
            raise KnowledgeError(f"{where}: unknown source {sid!r}")
        if severity in LOUD and not sources[sid].verified:
            raise KnowledgeError(f"{where}: a {severity} rule cites unverified source {sid!r}")
        return sid

    interactions: list[Any] = []
    tables = (("interactions.toml", parsed["interactions.toml"]), *_LOCAL)
    for r, where in [(r, file) for file, data in tables
                     for r in _rows(data, "interaction", InteractionSchema(), file)]:  # fmt: skip
        w = f"{where} [{r['id']}]"
        if any(i.id == r["id"] for i in interactions):
            raise KnowledgeError(f"{w}: interaction id {r['id']!r} is already defined")
        interactions.append(
            Interaction(
                id=r["id"],
                a=_selector(r["a"], f, w),
                b=_selector(r["b"], f, w),
                also=_selector(r["also"], f, w) if r.get("also") else None,
                a_routes=_routes(r["a_routes"], f, w),
                b_routes=_routes(r["b_routes"], f, w),
                severity=r["severity"],
                group=r["group"] or r["id"],
                effect=r["effect"],
                mechanism=r["mechanism"],
                management=r["management"],
                source=cite(r["source"], w, r["severity"]),
                verified=r["verified"],
                evidence_quote=r["evidence_quote"],
                evidence_location=r["evidence_location"],
                when=_when(r["when"], f, w) if r.get("when") else None,
            )
        )
    dup_data = parsed["duplication.toml"]
    dups = []
    for r in _rows(dup_data, "duplication", DuplicationSchema(), "duplication.toml"):
        w = f"duplication.toml [{r['id']}]"
        dups.append(
            Duplication(
                id=r["id"],
                selector=_selector(r["selector"], f, w),
                severity=r["severity"],
                scheduled_only=r["scheduled_only"],
                prn_only=r["prn_only"],
                message=r["message"],
                recommendation=r["recommendation"],
                source=cite(r["source"], w, r["severity"]),
                verified=r["verified"],
                evidence_quote=r["evidence_quote"],
                evidence_location=r["evidence_location"],
            )
        )
    same = [d for d in dups if d.id == "same_ingredient"]
    if len(same) != 1:
        raise KnowledgeError("duplication.toml: exactly one row must have id 'same_ingredient'")
    cautions = []
    for r in _rows(parsed["cautions.toml"], "caution", CautionSchema(), "cautions.toml"):
        w = f"cautions.toml [{r['id']}]"
        cautions.append(
            Caution(
                id=r["id"],
                drugs=tuple(_selector(s, f, w) for s in r["drugs"]),
                category=r["category"],
                severity=r["severity"],
                when=_when(r["when"], f, w),
                message=r["message"],
                recommendation=r["recommendation"],
                source=cite(r["source"], w, r["severity"]),
                routes=_routes(r["routes"], f, w),
                prn=r.get("prn"),
                dose_number_max=r.get("dose_number_max"),
                dose_number_min=r.get("dose_number_min"),
                verified=r["verified"],
                evidence_quote=r["evidence_quote"],
                evidence_location=r["evidence_location"],
                except_drugs=tuple(_selector(s, f, w) for s in r["except_drugs"]),
            )
        )
    checks = []
    for r in _rows(parsed["checks.toml"], "check", CheckSchema(), "checks.toml"):
        w = f"checks.toml [{r['id']}]"
        if not r["needs"] and not r["with_drugs"]:
            raise KnowledgeError(f"{w}: a check needs `needs` or `with_drugs`")
        checks.append(
            RequiredCheck(
                id=r["id"],
                drugs=tuple(_selector(s, f, w) for s in r["drugs"]),
                needs=tuple(r["needs"]),
                severity=r["severity"],
                message=r["message"],
                recommendation=r["recommendation"],
                source=cite(r["source"], w, r["severity"]),
                routes=_routes(r["routes"], f, w),
                with_drugs=tuple(_selector(s, f, w) for s in r["with_drugs"]),
                verified=r["verified"],
                evidence_quote=r["evidence_quote"],
                evidence_location=r["evidence_location"],
                unless=_when(r["unless"], f, w) if r.get("unless") else None,
                when=_when(r["when"], f, w) if r.get("when") else None,
            )
        )
    op = validated(OpioidsSchema(), parsed["opioids.toml"], "opioids.toml")
    factors = []
    for r in op["factor"]:
        w = f"opioids.toml factor {r['drug']}"
        if r["drug"] not in f.drugs:
            raise KnowledgeError(f"{w}: unknown drug")
        factors.append(
            MmeFactor(r["drug"], _routes(r["routes"], f, w), r["factor"], r["unit"], cite(r["source"], w))
        )
    thresholds = tuple(
        sorted(
            (
                MmeThreshold(
                    t["mme"],
                    t["severity"],
                    t["message"],
                    t["recommendation"],
                    cite(t["source"], f"opioids.toml threshold {t['mme']:g}", t["severity"]),
                    t["evidence_quote"],
                    t["evidence_location"],
                )
                for t in op["threshold"]
            ),
            key=lambda t: -t.mme,
        )
    )
    bad = set(op["cancer_conditions"]) - set(f.conditions.values())
    if bad:
        raise KnowledgeError(f"opioids.toml: unknown cancer_conditions {sorted(bad)}")
    if bad := set(op["left_out"]) - set(f.drugs):
        raise KnowledgeError(f"opioids.toml: unknown left_out drugs {sorted(bad)}")
    return Knowledge(
        interactions=tuple(interactions),
        duplications=tuple(d for d in dups if d.id != "same_ingredient"),
        same_ingredient=same[0],
        cautions=tuple(cautions),
        checks=tuple(checks),
        mme_factors=tuple(factors),
        mme_thresholds=thresholds,
        mme_source=cite(op["mme_source"], "opioids.toml"),
        cancer_conditions=tuple(op["cancer_conditions"]),
        sources=sources,
        mme_evidence=Cited(op["mme_evidence_quote"], op["mme_evidence_location"]),
        mme_left_out=tuple(op["left_out"]),
    )
