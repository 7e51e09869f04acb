"""The safety layer's knowledge (rules/data/safety.toml): opioid-naive starting doses, what
needs opioid tolerance, plausibility ceilings, salt-to-element conversions and companions.

Validated at load like every rule table: a dangling drug, class, route or source, or a quantity
that does not convert to the drug's unit, stops the program."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

from marshmallow import fields, validate

from formulary import Formulary, KnowledgeError, Source
from formulary import load as load_formulary
from formulary.loader import ID, SEVERITIES, _amount, _Strict, load_sources, read_toml, validated
from rules.knowledge import knowledge

Severity = validate.OneOf(SEVERITIES)


class _Quoted(_Strict):
    source = fields.String(required=True)
    quote = fields.String(load_default="", validate=validate.Length(max=500))  # the source's own sentence
    location = fields.String(load_default="", validate=validate.Length(max=200))  # where it stands in it
    verified = fields.Boolean(load_default=True)
    note = fields.String(load_default="")


class NaiveStartSchema(_Quoted):
    drug = fields.String(required=True, validate=ID)
    routes = fields.List(fields.String(), required=True, validate=validate.Length(min=1))
    max_single = fields.String(required=True)


class LongActingSchema(_Quoted):
    classes = fields.List(fields.String(validate=ID), required=True)
    routes = fields.List(fields.String(), load_default=list)  # the long-acting routes (patches)
    except_routes = fields.List(fields.String(), load_default=list)  # covered by another rule
    names = fields.List(fields.String(), load_default=list)  # ER products named in the order text
    severity = fields.String(required=True, validate=Severity)
    unknown_severity = fields.String(required=True, validate=Severity)
    message = fields.String(required=True)
    recommendation = fields.String(required=True)


class CeilingSchema(_Quoted):
    drug = fields.String(required=True, validate=ID)
    routes = fields.List(fields.String(), required=True, validate=validate.Length(min=1))
    max_single = fields.String(required=True)
    highest_labelled = fields.String(required=True)


class SaltSchema(_Quoted):
    drug = fields.String(required=True, validate=ID)
    salt = fields.String(required=True)
    element = fields.String(required=True)
    fraction = fields.Float(required=True, validate=validate.Range(min=0.01, max=1))
    read_as_salt_above = fields.String(required=True)


class NaloxoneSchema(_Quoted):
    mme = fields.Float(required=True)
    with_classes = fields.List(fields.String(validate=ID), required=True)
    antidote_classes = fields.List(fields.String(validate=ID), required=True)
    severity = fields.String(required=True, validate=Severity)


class SafetySchema(_Strict):
    source = fields.Dict()
    naive_start = fields.List(fields.Nested(NaiveStartSchema), required=True)
    long_acting = fields.Nested(LongActingSchema, required=True)
    ceiling = fields.List(fields.Nested(CeilingSchema), required=True)
    salt = fields.List(fields.Nested(SaltSchema), load_default=list)
    naloxone = fields.Nested(NaloxoneSchema, required=True)


class Cited(Protocol):
    """A safety row's citation: its source id, the sentence quoted from it, and whether confirmed."""

    @property
    def source(self) -> str: ...
    @property
    def quote(self) -> str: ...
    @property
    def location(self) -> str: ...
    @property
    def verified(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class NaiveStart:
    """The highest labelled starting single dose for a patient who is not opioid tolerant."""

    drug: str
    routes: tuple[str, ...]
    max_single: float
    source: str
    quote: str
    location: str
    verified: bool


@dataclass(frozen=True, slots=True)
class LongActing:
    classes: frozenset[str]
    routes: tuple[str, ...]
    except_routes: tuple[str, ...]
    names: re.Pattern
    severity: str
    unknown_severity: str
    message: str
    recommendation: str
    source: str
    quote: str
    location: str
    verified: bool


@dataclass(frozen=True, slots=True)
class Ceiling:
    """A single dose no label comes near: above it the order is a unit or decimal error."""

    drug: str
    routes: tuple[str, ...]
    max_single: float
    highest_labelled: str
    source: str
    quote: str
    location: str
    verified: bool


@dataclass(frozen=True, slots=True)
class Salt:
    drug: str
    salt: str
    element: str
    fraction: float
    read_as_salt_above: float
    source: str
    quote: str
    location: str
    verified: bool


@dataclass(frozen=True, slots=True)
class Naloxone:
    mme: float
    with_classes: frozenset[str]
    antidote_classes: frozenset[str]
    severity: str
    source: str
    quote: str
    location: str
    verified: bool


@dataclass(frozen=True)
class Safety:
    naive_start: dict[tuple[str, str], NaiveStart]  # (drug, route) →
    long_acting: LongActing
    ceilings: dict[tuple[str, str], Ceiling]
    salts: dict[str, Salt]
    naloxone: Naloxone
    sources: dict[str, Source]


def _unit(f: Formulary, drug: str, routes: Sequence[str], where: str) -> str:
    if drug not in f.drugs:
        raise KnowledgeError(f"{where}: unknown drug {drug!r}")
    d = f.drugs[drug]
    if bad := set(routes) - set(d.routes):
        raise KnowledgeError(f"{where}: {drug} has no routes {sorted(bad)}")
    units = {d.unit_for(r) for r in routes}
    if len(units) != 1:
        raise KnowledgeError(f"{where}: routes {routes} have different dose units")
    return units.pop()


def load_safety(f: Formulary, sources: dict[str, Source]) -> Safety:
    data = validated(SafetySchema(), read_toml("rules", "safety.toml")[0], "safety.toml")
    sources = {**sources}
    for sid, src in load_sources(data).items():
        if sid in sources:
            raise KnowledgeError(f"safety.toml: source {sid!r} is already defined")
        sources[sid] = src

    def cite(r: dict[str, Any], where: str) -> dict[str, Any]:
        if r["source"] not in sources:
            raise KnowledgeError(f"{where}: unknown source {r['source']!r}")
        if r["quote"].strip() and not r["location"].strip():
            raise KnowledgeError(f"{where}: a quote needs its location")
        keys = ("source", "quote", "location", "verified")
        return {k: r[k] for k in keys}

    def classes(ids: list[str], where: str) -> frozenset[str]:
        if bad := set(ids) - f.classes.keys():
            raise KnowledgeError(f"{where}: unknown classes {sorted(bad)}")
        return frozenset(ids)

    starts: dict[tuple[str, str], NaiveStart] = {}
    for r in data["naive_start"]:
        w = f"safety.toml naive_start {r['drug']}"
        unit = _unit(f, r["drug"], r["routes"], w)
        start = NaiveStart(r["drug"], tuple(r["routes"]), _amount(r["max_single"], unit, w), **cite(r, w))
        starts.update({(r["drug"], route): start for route in r["routes"]})
    ceilings: dict[tuple[str, str], Ceiling] = {}
    for r in data["ceiling"]:
        w = f"safety.toml ceiling {r['drug']}"
        unit = _unit(f, r["drug"], r["routes"], w)
        ceiling = Ceiling(r["drug"], tuple(r["routes"]), _amount(r["max_single"], unit, w),
                          r["highest_labelled"], **cite(r, w))  # fmt: skip
        ceilings.update({(r["drug"], route): ceiling for route in r["routes"]})
    salts: dict[str, Salt] = {}
    for r in data["salt"]:
        w = f"safety.toml salt {r['drug']}"
        unit = _unit(f, r["drug"], f.drugs[r["drug"]].routes[:1] if r["drug"] in f.drugs else [], w)
        salts[r["drug"]] = Salt(r["drug"], r["salt"], r["element"], r["fraction"],
                                _amount(r["read_as_salt_above"], unit, w), **cite(r, w))  # fmt: skip
    la = data["long_acting"]
    w = "safety.toml long_acting"
    names = re.compile(r"\b(?:" + "|".join(la["names"]) + r")\b", re.IGNORECASE)
    long_acting = LongActing(classes(la["classes"], w), tuple(la["routes"]),
                             tuple(la["except_routes"]), names, la["severity"], la["unknown_severity"],
                             la["message"], la["recommendation"], **cite(la, w))  # fmt: skip
    nx = data["naloxone"]
    w = "safety.toml naloxone"
    naloxone = Naloxone(nx["mme"], classes(nx["with_classes"], w), classes(nx["antidote_classes"], w),
                        nx["severity"], **cite(nx, w))  # fmt: skip
    return Safety(starts, long_acting, ceilings, salts, naloxone, sources)


@cache
def safety() -> Safety:
    return load_safety(load_formulary(), knowledge().sources)
