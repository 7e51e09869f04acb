"""Reads the compact tables that widen what the checker recognises: ingredients beyond the dose-
checked formulary (ingredients.tsv), RxNorm clinical drugs by code (rxnorm.tsv) and curated
products (products.toml). Validated at load like every other data file; a bad row stops start-up.

The tables are plain tab-separated text, read once: hundreds of rows cost a few milliseconds,
where the same rows as TOML would cost a noticeable part of the start-up budget.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from marshmallow import fields, validate

from formulary.loader import ID, KnowledgeError, _Strict, validated
from formulary.model import RELEASES, Code, Drug, DrugClass, Part, Product
from formulary.names import Strength
from formulary.units import UnitError, conversion_factor

_ATC = re.compile(r"^[A-Z]\d\d[A-Z]{2}\d\d$")
_CODE = re.compile(r"^(\d+)=([A-Z][A-Z0-9_]*)$")
COLUMNS = ("id", "name", "classes", "atc", "rxcui", "synonyms", "brands", "unit")
FORMS = (
    "tablet",
    "capsule",
    "patch",
    "liquid",
    "injection",
    "suppository",
    "transmucosal",
    "sublingual",
    "nasal spray",
    "film",
    "powder",
    "topical",
    "inhalation",
    "enema",
    "pack",
)
FORM_ROUTES = {
    "tablet": "oral",
    "capsule": "oral",
    "sublingual": "oral",
    "transmucosal": "oral",
    "film": "oral",
    "powder": "oral",
    "patch": "transdermal",
    "suppository": "rectal",
    "enema": "rectal",
    "nasal spray": "intranasal",
    "topical": "topical",
    "inhalation": "inhaled",
}


def rows(text: str, where: str, columns: tuple[str, ...]) -> Iterable[tuple[int, dict[str, str]]]:
    """Data rows of a `#`-commented TSV whose first other line is the header."""
    header = None
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        cells = line.split("\t")
        if header is None:
            if tuple(cells) != columns:
                raise KnowledgeError(f"{where}:{n}: header must be {' '.join(columns)}")
            header = cells
            continue
        if len(cells) != len(columns):
            raise KnowledgeError(f"{where}:{n}: {len(cells)} columns, expected {len(columns)}")
        yield n, dict(zip(columns, cells, strict=True))


def _list(cell: str) -> list[str]:
    return [x.strip() for x in cell.split(";") if x.strip()]


def _codes(cell: str, where: str) -> list[tuple[str, str]]:
    out = []
    for item in _list(cell):
        m = _CODE.match(item)
        if not m:
            raise KnowledgeError(f"{where}: rxcui {item!r} must be CODE=SOURCE")
        out.append((m.group(1), m.group(2)))
    return out


def load_ingredients(
    text: str, known: dict[str, Drug], classes: dict[str, DrugClass]
) -> tuple[list[Drug], dict[str, tuple[tuple[str, str], ...]]]:
    """New reference-only drugs, and extra (code, source) pairs for drugs already known."""
    where = "formulary/data/ingredients.tsv"
    by_prefix: dict[str, set[str]] = {}
    for c in classes.values():
        for p in c.atc_prefixes:
            by_prefix.setdefault(p, set()).add(c.id)
    units_ok: set[str] = set()
    new: list[Drug] = []
    extra: dict[str, tuple[tuple[str, str], ...]] = {}
    for n, r in rows(text, where, COLUMNS):
        here = f"{where}:{n} [{r['id']}]"
        if not re.fullmatch(r"[a-z][a-z0-9_]*", r["id"]):
            raise KnowledgeError(f"{here}: id is not lower_snake_case")
        codes = _codes(r["rxcui"], here)
        if r["classes"] == "=":
            if r["id"] not in known:
                raise KnowledgeError(f"{here}: '=' row for a drug the formulary does not have")
            extra[r["id"]] = tuple(codes)
            continue
        atc = _list(r["atc"])
        if bad := [a for a in atc if not _ATC.match(a)]:
            raise KnowledgeError(f"{here}: bad ATC codes {bad}")
        own = set(_list(r["classes"]))
        if unknown := own - classes.keys():
            raise KnowledgeError(f"{here}: unknown classes {sorted(unknown)}")
        by_atc = {c for a in atc for n in range(1, 8) for c in by_prefix.get(a[:n], ())}
        if r["unit"] not in units_ok:
            try:
                conversion_factor(r["unit"], r["unit"])
            except UnitError as exc:
                raise KnowledgeError(f"{here}: unit {exc}") from exc
            units_ok.add(r["unit"])
        new.append(
            Drug(
                id=r["id"],
                name=r["name"],
                kind="supplement" if "supplement" in own else "drug",
                classes=frozenset(own | by_atc),
                dose_unit=r["unit"],
                synonyms=tuple(_list(r["synonyms"])),
                brands=tuple(_list(r["brands"])),
                atc=tuple(atc),
                rxcui=tuple(c for c, _ in codes),
                source="VOC",
                reference_only=True,
            )
        )
    return new, extra


def with_codes(drug: Drug, codes: tuple[tuple[str, str], ...]) -> Drug:
    return replace(drug, rxcui=tuple(dict.fromkeys((*drug.rxcui, *(c for c, _ in codes)))))


def load_rxnorm(text: str) -> dict[str, tuple[str, str]]:
    """RxCUI → (normalised name, the value sets that list it)."""
    where = "formulary/data/rxnorm.tsv"
    out: dict[str, tuple[str, str]] = {}
    for n, r in rows(text, where, ("rxcui", "name", "sets")):
        if not r["rxcui"].isdigit() or not r["name"]:
            raise KnowledgeError(f"{where}:{n}: bad row")
        if r["rxcui"] in out:
            raise KnowledgeError(f"{where}:{n}: rxcui {r['rxcui']} listed twice")
        out[r["rxcui"]] = (r["name"], r["sets"])
    return out


SNOMED_KINDS = ("substance", "medicinal_product", "clinical_drug")
_VERHOEFF_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 2, 3, 4, 0, 6, 7, 8, 9, 5), (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7), (4, 0, 1, 2, 3, 9, 5, 6, 7, 8), (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2), (7, 6, 5, 9, 8, 2, 1, 0, 4, 3), (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)  # fmt: skip
_VERHOEFF_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 5, 7, 6, 2, 8, 3, 0, 9, 4), (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7), (9, 4, 5, 3, 1, 2, 6, 8, 7, 0), (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5), (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)  # fmt: skip


def is_sctid(code: str) -> bool:
    """A well-formed SNOMED CT concept id: 6-18 digits, a concept partition ("00" core, "10"
    extension) and a valid Verhoeff check digit, so a mistyped id cannot enter the data."""
    if not (code.isdigit() and 6 <= len(code) <= 18 and code[0] != "0" and code[-3:-1] in ("00", "10")):
        return False
    check = 0
    for i, ch in enumerate(reversed(code)):
        check = _VERHOEFF_D[check][_VERHOEFF_P[i % 8][int(ch)]]
    return check == 0


def load_snomed(
    text: str, drugs: dict[str, Drug], products: dict[str, Product], sources: Iterable[str]
) -> dict[str, str]:
    """SNOMED CT concept id → the drug id or product id it names (one target per id)."""
    where = "formulary/data/snomed.tsv"
    known = set(sources)
    out: dict[str, str] = {}
    for n, r in rows(text, where, ("sctid", "target", "kind", "display", "source")):
        here = f"{where}:{n} [{r['sctid']}]"
        if not is_sctid(r["sctid"]):
            raise KnowledgeError(f"{here}: not a SNOMED CT concept id (digits, partition or check digit)")
        if r["sctid"] in out:
            raise KnowledgeError(f"{here}: listed twice")
        if r["target"] not in drugs and r["target"] not in products:
            raise KnowledgeError(f"{here}: {r['target']!r} is neither a drug nor a product")
        if r["kind"] not in SNOMED_KINDS:
            raise KnowledgeError(f"{here}: kind must be one of {', '.join(SNOMED_KINDS)}")
        if r["source"] not in known:
            raise KnowledgeError(f"{here}: unknown source {r['source']!r}")
        if not r["display"].strip():
            raise KnowledgeError(f"{here}: the term as the source gives it is required")
        out[r["sctid"]] = r["target"]
    return out


def tty_of(name: str) -> str:
    """RxNorm term type from the shape of a normalised name."""
    pack = name.lstrip().startswith("{")
    branded = name.rstrip().endswith("]")
    return ("BPCK" if branded else "GPCK") if pack else ("SBD" if branded else "SCD")


# --- curated products (products.toml) -----------------------------------------------------------


class _BrandSchema(_Strict):
    name = fields.String(required=True)
    strengths = fields.List(fields.String(), load_default=list)  # which of the family's strengths


class ProductSchema(_Strict):
    id = fields.String(required=True, validate=ID)
    name = fields.String(required=True)
    ingredients = fields.List(fields.String(validate=ID), required=True, validate=validate.Length(min=1))
    units = fields.List(fields.String(), load_default=list)  # per ingredient; default the drug's unit
    per = fields.String(load_default="unit", validate=validate.OneOf(("unit", "mL", "h")))
    strengths = fields.List(fields.String(), required=True, validate=validate.Length(min=1))
    form = fields.String(required=True, validate=validate.OneOf(FORMS))
    release = fields.String(required=True, validate=validate.OneOf(RELEASES))
    route = fields.String()
    names = fields.List(fields.String(), load_default=list)
    brands = fields.List(fields.Nested(_BrandSchema), load_default=list)
    number_names = fields.Dict(keys=fields.String(), values=fields.List(fields.String()), load_default=dict)
    source = fields.String(required=True)
    note = fields.String(load_default="")


def _amounts(text: str, n: int, where: str) -> tuple[float, ...]:
    """'10/325' → (10.0, 325.0): one number per ingredient, in the family's units."""
    parts = [p.strip() for p in text.split("/")]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError as exc:
        raise KnowledgeError(f"{where}: strength {text!r} is not numbers separated by '/'") from exc
    if len(values) != n:
        raise KnowledgeError(f"{where}: strength {text!r} has {len(values)} numbers for {n} ingredients")
    return values


def load_products(
    data: list[dict[str, Any]], drugs: dict[str, Drug], sources: Iterable[str], routes: set[str]
) -> tuple[dict[str, Product], dict[str, list[str]], dict[str, tuple[str, ...]]]:
    """Products by id; product ids by name key (brands, names); family members by family name key.

    Each family row expands to one product per strength: id `<family>_<strength>`.
    """
    from formulary.keys import key

    schema, known_sources = ProductSchema(), set(sources)
    products: dict[str, Product] = {}
    names: dict[str, list[str]] = {}
    families: dict[str, tuple[str, ...]] = {}
    for i, raw in enumerate(data):
        v = validated(schema, raw, f"products.toml product #{i} ({raw.get('id', '?')})")
        where = f"products.toml [{v['id']}]"
        if bad := [d for d in v["ingredients"] if d not in drugs]:
            raise KnowledgeError(f"{where}: unknown ingredients {bad}")
        if v["source"] not in known_sources:
            raise KnowledgeError(f"{where}: unknown source {v['source']!r}")
        if v.get("route") and v["route"] not in routes:
            raise KnowledgeError(f"{where}: unknown route {v['route']!r}")
        units = v["units"] or [drugs[d].dose_unit for d in v["ingredients"]]
        if len(units) != len(v["ingredients"]):
            raise KnowledgeError(f"{where}: one unit per ingredient")
        for u in units:
            try:
                conversion_factor(u, u)
            except UnitError as exc:
                raise KnowledgeError(f"{where}: {exc}") from exc
        members = []
        for s in v["strengths"]:
            amounts = _amounts(s, len(units), where)
            pid = f"{v['id']}_{s.replace('/', '_').replace('.', 'p')}"
            per = v["per"]
            unit_text = units[0] if len(set(units)) == 1 else ""
            label = "/".join(
                f"{a:g}" + ("" if unit_text else f" {u}") for a, u in zip(amounts, units, strict=True)
            )
            label = f"{label} {unit_text}".strip() + ("/mL" if per == "mL" else "")
            brands = tuple(b["name"] for b in v["brands"] if not b["strengths"] or s in b["strengths"])
            products[pid] = Product(
                id=pid,
                name=f"{v['name']} {label}",
                parts=tuple(
                    Part(d, a, u, per) for d, a, u in zip(v["ingredients"], amounts, units, strict=True)
                ),
                form=v["form"],
                release=v["release"],
                route=v.get("route") or FORM_ROUTES.get(v["form"]),
                brands=brands,
                source=v["source"],
                family=v["id"],
            )
            members.append(pid)
            for number, texts in v["number_names"].items():
                if number == s:
                    for t in texts:
                        names.setdefault(key(t), []).append(pid)
        for text in (v["name"], *v["names"], *(b["name"] for b in v["brands"])):
            k = key(text)
            fam = (
                [m for m in members if text in products[m].brands]
                if text in {b["name"] for b in v["brands"]}
                else members
            )
            families[k] = tuple(dict.fromkeys((*families.get(k, ()), *fam)))
    return products, names, families


def product_from_parts(
    pid: str,
    name: str,
    drugs: tuple[Drug, ...],
    strengths: tuple[Strength | None, ...],
    form: str | None,
    release: str | None,
    route: str | None,
    brand: str | None,
    codes: tuple[Code, ...],
    source: str,
    pack: bool = False,
    volume_ml: float | None = None,
) -> Product:
    """A product read from a name: strengths kept as written (unit and per), ingredients resolved."""
    parts = []
    for d, s in zip(drugs, strengths, strict=True):
        if s is None:
            parts.append(Part(d.id, None))
        elif s.per == "mL" and volume_ml and form == "injection":  # "1 ML morphine 4 MG/ML Injection"
            parts.append(Part(d.id, s.value * volume_ml, s.unit, "unit"))
        else:
            unit = f"{s.unit}/h" if s.per == "h" else s.unit
            parts.append(Part(d.id, s.value, unit, "unit" if s.per == "h" else s.per))
    return Product(
        id=pid,
        name=name,
        parts=tuple(parts),
        form=form,
        release=release,
        route=route or FORM_ROUTES.get(form or ""),
        brands=(brand,) if brand else (),
        codes=codes,
        source=source,
        pack=pack,
    )
