"""Reads the formulary's TOML files, validates them with marshmallow, and builds frozen records.

A bad file must stop the program at start-up (and fail CI), never surface at request time:
every quantity is parsed and converted here, every class and source reference resolved.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from importlib import resources
from typing import Any

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate, validates_schema

from formulary.model import LIMIT_FIELDS, RELEASES, DoseLimit, Drug, DrugClass, Source, When
from formulary.units import UnitError, conversion_factor

ID = validate.Regexp(r"^[a-z][a-z0-9_]*$", error="ids are lower_snake_case")
SEVERITIES = ("contraindicated", "major", "moderate", "minor", "info")
CATEGORIES = (
    "dose_single",
    "dose_daily",
    "frequency",
    "duration",
    "course",
    "weight_based",
    "unit",
    "interaction",
    "duplication",
    "renal",
    "hepatic",
    "age",
    "condition",
    "monitoring",
    "opioid_load",
    "unrecognized",
    "input",
)
HEPATIC_LEVELS = ("none", "mild", "moderate", "severe")


class KnowledgeError(RuntimeError):
    """A data file is broken. Raised at load, so the program never starts on bad knowledge."""


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class SourceSchema(_Strict):
    label = fields.String(required=True, validate=validate.Length(min=3))
    url = fields.String(load_default="")
    verified = fields.Boolean(load_default=True)
    note = fields.String(load_default="")


LOUD = ("contraindicated", "major")


class Evidence(_Strict):
    """The sentence a rule rests on, quoted from its source, and where in the source it stands.

    A rule that can stop an order (major, contraindicated) must show its quote, so a pharmacist can
    check it without leaving the card; a quote without a location cannot be found again.
    """

    evidence_quote = fields.String(load_default="", validate=validate.Length(max=500))
    evidence_location = fields.String(load_default="", validate=validate.Length(max=200))

    @validates_schema
    def _quoted(self, data: dict[str, Any], **_: Any) -> None:
        quote, where = data.get("evidence_quote", ""), data.get("evidence_location", "")
        if data.get("severity", "major") in LOUD and not (quote.strip() and where.strip()):
            raise ValidationError("a major/contraindicated rule needs evidence_quote and evidence_location")
        if quote.strip() and not where.strip():
            raise ValidationError("evidence_quote needs an evidence_location")
        if data.get("severity", "major") in LOUD and data.get("verified") is False:
            raise ValidationError("an unverified rule cannot be major or contraindicated: downgrade it")


class WhenSchema(_Strict):
    age_min = fields.Float()
    age_max = fields.Float()
    age_over = fields.Float()
    age_below = fields.Float()
    weight_max_kg = fields.Float()
    weight_min_kg = fields.Float()
    weight_below = fields.Float()
    crcl_min = fields.Float()
    crcl_max = fields.Float()
    crcl_below = fields.Float()
    crcl_over = fields.Float()
    hepatic = fields.List(fields.String(validate=validate.OneOf(HEPATIC_LEVELS)))
    conditions = fields.List(fields.String(validate=ID))
    opioid_tolerant = fields.Boolean()
    qtc_min = fields.Float()
    qtc_over = fields.Float()
    qtc_max = fields.Float()
    qtc_below = fields.Float()
    calcium_below = fields.Float(metadata={"unit": "mg/dL, albumin-corrected when albumin is known"})
    calcium_over = fields.Float()
    albumin_known = fields.Boolean()
    platelets_below = fields.Float(metadata={"unit": "10^9/L"})
    anc_below = fields.Float(metadata={"unit": "10^9/L"})
    hemoglobin_below = fields.Float(metadata={"unit": "g/dL"})
    pregnant = fields.Boolean()


class LimitSchema(Evidence):
    routes = fields.List(fields.String(), required=True, validate=validate.Length(min=1))
    source = fields.String(required=True)
    when = fields.Nested(WhenSchema, load_default=dict)
    category = fields.String(validate=validate.OneOf(CATEGORIES))
    severity = fields.String(load_default="major", validate=validate.OneOf(SEVERITIES))
    max_single = fields.String()
    max_daily = fields.String()
    min_interval_h = fields.Float(validate=validate.Range(min=0, min_inclusive=False))
    max_duration_days = fields.Float(validate=validate.Range(min=0, min_inclusive=False))
    course_max_doses = fields.Integer(validate=validate.Range(min=1))
    max_single_per_kg = fields.String()
    max_daily_per_kg = fields.String()
    recommendation = fields.String(load_default="")
    note = fields.String(load_default="")
    verified = fields.Boolean(load_default=True)
    single_above = fields.String()  # the row covers orders whose single dose is above this
    single_upto = fields.String()  # ... and at most this
    tolerance = fields.Float(validate=validate.Range(min=0, max=0.05))
    dose_number_min = fields.Integer(validate=validate.Range(min=2))  # unnumbered doses count as first
    release = fields.String(validate=validate.OneOf(RELEASES))  # absent: products of either release
    # product lines (products.toml names or brands); resolved and checked once products are loaded
    products = fields.List(fields.String(validate=validate.Length(min=1)), validate=validate.Length(min=1))

    @validates_schema
    def _says_something(self, data: dict[str, Any], **_: Any) -> None:
        keys = set(LIMIT_FIELDS)
        if not keys & data.keys():
            raise ValidationError("a limit row must set at least one limit")


class DrugSchema(_Strict):
    id = fields.String(required=True, validate=ID)
    name = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(("drug", "supplement")))
    classes = fields.List(fields.String(validate=ID), load_default=list)
    dose_unit = fields.String(required=True)
    routes = fields.List(fields.String(), load_default=list)
    route_units = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict)
    synonyms = fields.List(fields.String(), load_default=list)
    brands = fields.List(fields.String(), load_default=list)
    atc = fields.List(fields.String(validate=validate.Regexp(r"^[A-Z]\d\d[A-Z]{2}\d\d$")), load_default=list)
    rxcui = fields.List(fields.String(validate=validate.Regexp(r"^\d+$")), load_default=list)
    iu_per_ug = fields.Float(validate=validate.Range(min=0, min_inclusive=False))
    plain_release = fields.String(validate=validate.OneOf(RELEASES))
    limit = fields.List(fields.Nested(LimitSchema), load_default=list)
    source = fields.String(required=True)
    note = fields.String(load_default="")


class ClassSchema(_Strict):
    name = fields.String(required=True)
    atc_prefixes = fields.List(
        fields.String(validate=validate.Regexp(r"^[A-Z][0-9A-Z]*$")), load_default=list
    )
    parents = fields.List(fields.String(validate=ID), load_default=list)


class VocabularySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    routes = fields.Dict(keys=fields.String(validate=ID), values=fields.List(fields.String()), required=True)
    conditions = fields.Dict(
        keys=fields.String(validate=ID), values=fields.List(fields.String()), required=True
    )


def read_toml(package: str, name: str) -> tuple[dict[str, Any], bytes]:
    """Return the parsed file and its raw bytes (the bytes feed knowledge_version)."""
    raw = (resources.files(package) / "data" / name).read_bytes()
    try:
        return tomllib.loads(raw.decode("utf-8")), raw
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise KnowledgeError(f"{package}/data/{name}: {exc}") from exc


def validated(schema: Schema, data: Any, where: str, many: bool = False) -> Any:
    try:
        return schema.load(data, many=many)
    except ValidationError as exc:
        raise KnowledgeError(f"{where}: {exc.messages}") from exc


def load_sources(data: dict[str, Any]) -> dict[str, Source]:
    out, schema = {}, SourceSchema()  # one instance: making a schema copies its fields
    for key, value in data.get("source", {}).items():
        out[key] = Source(id=key, **validated(schema, value, f"sources.toml [{key}]"))
    return out


def load_classes(data: dict[str, Any]) -> dict[str, DrugClass]:
    out, schema = {}, ClassSchema()
    for key, value in data.get("class", {}).items():
        if not re.fullmatch(r"[a-z][a-z0-9_]*", key):
            raise KnowledgeError(f"classes.toml: class id {key!r} is not lower_snake_case")
        v = validated(schema, value, f"classes.toml [{key}]")
        out[key] = DrugClass(
            id=key, name=v["name"], atc_prefixes=tuple(v["atc_prefixes"]), parents=tuple(v["parents"])
        )
    for c in out.values():
        for p in c.parents:
            if p not in out:
                raise KnowledgeError(f"classes.toml [{c.id}]: unknown parent class {p!r}")
    return out


def _amount(text: str, unit: str, where: str, per_kg: bool = False) -> float:
    """Convert a quantity string like '4 g' or '55 kBq/kg' to a float in `unit` (per kg)."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?\d+)?)\s*(.+?)\s*", text)
    if not m:
        raise KnowledgeError(f"{where}: {text!r} is not a quantity")
    value, u = float(m.group(1)), m.group(2)
    if per_kg:
        if not re.search(r"/\s*kg$", u):
            raise KnowledgeError(f"{where}: {text!r} must be per kg")
        u = re.sub(r"/\s*kg$", "", u)
    try:
        return value * conversion_factor(u, unit)
    except UnitError as exc:
        raise KnowledgeError(f"{where}: {exc} (drug unit is {unit})") from exc


def _limit(row: dict[str, Any], drug: dict[str, Any], where: str) -> DoseLimit:
    """A validated limit row of a validated (not yet built) drug row."""
    unit_for: dict[str, str] = dict(drug["route_units"])
    routes = tuple(row["routes"])
    units: set[str] = {unit_for.get(r, drug["dose_unit"]) for r in routes}
    if len(units) != 1:
        raise KnowledgeError(f"{where}: routes {routes} have different dose units {units}")
    unit = units.pop()

    def amount(key: str, per_kg: bool = False) -> float | None:
        return _amount(row[key], unit, f"{where}.{key}", per_kg=per_kg) if key in row else None

    w = row["when"]
    when_fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in w.items()}
    when = When(**when_fields)  # the schema checked each field's type
    plain: dict[str, Any] = {
        k: row[k]
        for k in (
            "min_interval_h",
            "max_duration_days",
            "course_max_doses",
            "category",
            "recommendation",
            "note",
            "verified",
            "evidence_quote",
            "evidence_location",
            "tolerance",
            "dose_number_min",
            "release",
        )
        if k in row
    }
    if "products" in row:
        plain["products"] = tuple(row["products"])
    return DoseLimit(
        routes=routes, source=row["source"], when=when, severity=row["severity"],
        max_single=amount("max_single"), max_daily=amount("max_daily"), single_above=amount("single_above"),
        single_upto=amount("single_upto"), max_single_per_kg=amount("max_single_per_kg", per_kg=True),
        max_daily_per_kg=amount("max_daily_per_kg", per_kg=True), **plain,
    )  # fmt: skip


def build_drugs(rows: Iterable[dict[str, Any]], where: str) -> list[Drug]:
    out, schema = [], DrugSchema()  # one instance (with its nested ones): making a schema copies its fields
    for i, raw in enumerate(rows):
        d = validated(schema, raw, f"{where} drug #{i} ({raw.get('id', '?')})")
        here = f"{where} [{d['id']}]"
        for u in [d["dose_unit"], *d["route_units"].values()]:
            try:
                conversion_factor(u, u)
            except UnitError as exc:
                raise KnowledgeError(f"{here}: dose unit {exc}") from exc
        d["route_units"] = tuple(sorted(d["route_units"].items()))
        limits = tuple(_limit(r, d, f"{here} limit #{j}") for j, r in enumerate(d.pop("limit")))
        out.append(
            Drug(
                id=d["id"],
                name=d["name"],
                kind=d["kind"],
                classes=frozenset(d["classes"]),
                dose_unit=d["dose_unit"],
                routes=tuple(d["routes"]),
                route_units=d["route_units"],
                synonyms=tuple(d["synonyms"]),
                brands=tuple(d["brands"]),
                atc=tuple(d["atc"]),
                rxcui=tuple(d["rxcui"]),
                iu_per_ug=d.get("iu_per_ug"),
                plain_release=d.get("plain_release"),
                limits=limits,
                source=d["source"],
                note=d["note"],
            )
        )
    return out
