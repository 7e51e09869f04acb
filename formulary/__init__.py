"""The formulary: drugs, supplements and co-medications, their classes, routes and dose limits.

`load()` reads and validates every data file once per process; everything after that is
dictionary look-ups on frozen records.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

from formulary.keys import key
from formulary.loader import LOUD, KnowledgeError, build_drugs, load_classes, load_sources, read_toml
from formulary.model import DoseLimit, Drug, DrugClass, Part, Product, Source, When
from formulary.vocabulary import load_ingredients, load_products, load_rxnorm, load_snomed, with_codes

if TYPE_CHECKING:  # formulary.resolve imports this package: a type only
    from formulary.resolve import Resolved

__all__ = [
    "Formulary", "KnowledgeError", "load", "key", "Drug", "DoseLimit", "DrugClass", "Source", "When",
    "Product", "Part",
]  # fmt: skip

DATA_FILES = (
    "vocabulary.toml",
    "sources.toml",
    "classes.toml",
    "drugs.toml",
    "supplements.toml",
    "comedications.toml",
    "products.toml",
    "provisional.toml",
)
TABLES = ("ingredients.tsv", "rxnorm.tsv", "snomed.tsv")
KNOWLEDGE_RELEASE = "2026.11.1"
# A site's local entries ([[drug]] and [source.ID] tables in the packaged files' formats), added
# by `add_local` before the first load and validated and indexed with the packaged ones.
_LOCAL: list[tuple[str, dict]] = []


def add_local(name: str, data: dict) -> None:
    """Layer a site file's drug and source tables over the packaged formulary (checker.site)."""
    _LOCAL.append((name, data))
    load.cache_clear()


@dataclass(frozen=True)
class Formulary:
    drugs: dict[str, Drug]
    classes: dict[str, DrugClass]
    sources: dict[str, Source]
    routes: dict[str, str]  # alias key → canonical route
    conditions: dict[str, str]  # alias key → canonical condition
    digest: str
    _index: dict[str, str] = field(repr=False, default_factory=dict)
    _atc_index: dict[str, str] = field(repr=False, default_factory=dict)
    _expanded: dict[frozenset[str], frozenset[str]] = field(repr=False, default_factory=dict, compare=False)
    products: dict[str, Product] = field(default_factory=dict)
    product_names: dict[str, list[str]] = field(repr=False, default_factory=dict)  # key → product ids
    families: dict[str, tuple[str, ...]] = field(repr=False, default_factory=dict)  # brand/family key → ids
    by_ingredients: dict[frozenset[str], tuple[str, ...]] = field(repr=False, default_factory=dict)
    rxnorm: dict[str, tuple[str, str]] = field(repr=False, default_factory=dict)  # rxcui → (name, sets)
    snomed: dict[str, str] = field(repr=False, default_factory=dict)  # SNOMED CT id → drug or product id
    extended_ingredients: frozenset[str] = frozenset()  # ingredients with an extended-release product
    _resolved: dict = field(repr=False, default_factory=dict, compare=False)
    _names: list[str] = field(repr=False, default_factory=list, compare=False)
    _suggested: dict = field(repr=False, default_factory=dict, compare=False)

    def lookup(self, name: str) -> Drug | None:
        """Find a drug by id, name, brand, synonym, ATC code or RxCUI."""
        k = key(name)
        drug_id = self._index.get(k) or self._atc_index.get(name.strip().upper())
        return self.drugs.get(drug_id) if drug_id else None

    def resolve(
        self, name: str | None, rxcui: str | None = None, atc: str | None = None
    ) -> Resolved | None:
        """Ingredients (and product, when the name or code says) of what was ordered; None if unknown."""
        from formulary.resolve import resolve

        return resolve(self, name, rxcui, atc)

    def suggest(self, text: str, limit: int = 3) -> list[str]:
        """Known names closest to a name the formulary does not know: offered, never used.
        Remembered per name: an audit meets the same misspelling in many rows."""
        hit = self._suggested.get((text, limit))
        if hit is None:
            hit = self._suggested[(text, limit)] = self._suggest(text, limit)
        return list(hit)

    def _suggest(self, text: str, limit: int) -> list[str]:
        from rapidfuzz import fuzz, process, utils

        if not self._names:
            names = {n: None for d in self.drugs.values() for n in (d.name.split(" (")[0], *d.brands)}
            names.update({n: None for n in self.display_families})
            self._names.extend(sorted(names))
        found = process.extract(text, self._names, scorer=fuzz.WRatio, processor=utils.default_process,
                                limit=limit, score_cutoff=80)  # fmt: skip
        return list(dict.fromkeys(name for name, _, _ in found))  # a second filler thread: no repeats

    @property
    def display_families(self) -> list[str]:
        return sorted({b for p in self.products.values() for b in p.brands})

    def by_snomed(self, code: str) -> Resolved | None:
        """What a SNOMED CT concept id names: an ingredient, or a curated product; None if unknown."""
        from formulary.resolve import by_snomed

        return by_snomed(self, code)

    def by_code(self, rxcui: str | None = None, atc: str | None = None) -> Drug | None:
        if rxcui and (d := self._index.get("rxcui" + key(rxcui))):
            return self.drugs[d]
        if atc and (d := self._atc_index.get(atc.strip().upper())):
            return self.drugs[d]
        return None

    def classes_for_atc(self, atc: str) -> frozenset[str]:
        """Classes an outside drug belongs to, judged by its ATC code alone."""
        code = atc.strip().upper()
        found = {c.id for c in self.classes.values() if any(code.startswith(p) for p in c.atc_prefixes)}
        return self.expand_classes(found)

    def expand_classes(self, classes: frozenset[str] | set[str]) -> frozenset[str]:
        """Add every ancestor class, so a rule on `opioid` covers a drug tagged `strong_opioid`.
        Kept per set of classes: every order of a drug asks for the same."""
        hit = self._expanded.get(frozen := frozenset(classes))
        if hit is not None:
            return hit
        out, todo = set(frozen), list(frozen)
        while todo:
            for p in self.classes[todo.pop()].parents:
                if p not in out:
                    out.add(p)
                    todo.append(p)
        self._expanded[frozen] = result = frozenset(out)
        return result

    def route(self, text: str | None) -> str | None:
        return self.routes.get(key(text)) if text else None

    @property
    def version(self) -> str:
        return f"{KNOWLEDGE_RELEASE}+{self.digest[:8]}"


def _check_references(f: Formulary) -> None:
    canonical_routes = set(f.routes.values())
    for d in f.drugs.values():
        where = f"formulary [{d.id}]"
        if unknown := set(d.classes) - f.classes.keys():
            raise KnowledgeError(f"{where}: unknown classes {sorted(unknown)}")
        if d.source not in f.sources:
            raise KnowledgeError(f"{where}: unknown source {d.source!r}")
        for r in [*d.routes, *(r for r, _ in d.route_units)]:
            if r not in canonical_routes:
                raise KnowledgeError(f"{where}: unknown route {r!r}")
        for lim in d.limits:
            if lim.source not in f.sources:
                raise KnowledgeError(f"{where}: limit cites unknown source {lim.source!r}")
            if lim.severity in LOUD and not f.sources[lim.source].verified:
                raise KnowledgeError(f"{where}: a {lim.severity} limit cites unverified {lim.source!r}")
            if bad := set(lim.routes) - set(d.routes):
                raise KnowledgeError(f"{where}: limit for routes {sorted(bad)} it lacks")
            if bad := set(lim.when.conditions) - set(f.conditions.values()):
                raise KnowledgeError(f"{where}: limit names unknown conditions {sorted(bad)}")


def _scope_products(
    drugs: dict[str, Drug], products: dict[str, Product], families: dict[str, tuple[str, ...]]
) -> None:
    """Resolve each limit row's `products` to the product lines (products.toml rows) it is written
    for. A name products.toml does not have, or a line without the drug, stops the load: a typo must
    not leave a row that silently covers nothing. A row for lines of one release is of that release,
    so an order of the other release never meets it."""
    lines: dict[str, list[Product]] = {}
    for p in products.values():
        lines.setdefault(p.family, []).append(p)
    for drug_id, d in list(drugs.items()):
        if any(lim.products for lim in d.limits):
            limits = tuple(_scoped(d, j, lim, lines, products, families) if lim.products else lim
                           for j, lim in enumerate(d.limits))  # fmt: skip
            drugs[drug_id] = replace(d, limits=limits)


def _scoped(
    d: Drug,
    j: int,
    lim: DoseLimit,
    lines: dict[str, list[Product]],
    products: dict[str, Product],
    families: dict[str, tuple[str, ...]],
) -> DoseLimit:
    where = f"formulary [{d.id}] limit #{j}"
    found: set[str] = set()
    for name in lim.products:
        members = [name] if name in lines else [products[m].family for m in families.get(key(name), ())]
        if not members:
            raise KnowledgeError(f"{where}: unknown product {name!r} (not a name, brand or id of "
                                 "products.toml)")  # fmt: skip
        found.update(members)
    if bad := sorted(fam for fam in found if d.id not in lines[fam][0].drugs):
        raise KnowledgeError(f"{where}: products {bad} do not contain {d.id}")
    releases = {p.release for fam in found for p in lines[fam]}
    if lim.release and releases != {lim.release}:
        named = sorted(map(str, releases))
        raise KnowledgeError(f"{where}: release {lim.release!r}, but the products are {named}")
    release = lim.release or (next(iter(releases)) if len(releases) == 1 else None)
    return replace(lim, families=frozenset(found), release=release)


def _index(drugs: dict[str, Drug]) -> tuple[dict[str, str], dict[str, str]]:
    index: dict[str, str] = {}
    atc: dict[str, str] = {}

    def put(table: dict[str, str], k: str, drug_id: str) -> None:
        if table.get(k, drug_id) != drug_id:
            raise KnowledgeError(f"name {k!r} points to both {table[k]!r} and {drug_id!r}")
        table[k] = drug_id

    for d in drugs.values():
        for name in (d.id, d.name, *d.synonyms, *d.brands):
            put(index, key(name), d.id)
        for code in d.rxcui:
            put(index, "rxcui" + code, d.id)
        for code in d.atc:
            put(atc, code, d.id)
    return index, atc


def _all_sources(parsed: dict[str, dict]) -> dict[str, Source]:
    """Any data file may carry `[source.ID]` tables; ids are global and may not repeat."""
    out: dict[str, Source] = {}
    for name, data in parsed.items():
        for sid, src in load_sources(data).items():
            if sid in out:
                raise KnowledgeError(f"{name}: source {sid!r} is defined twice")
            out[sid] = src
    return out


@cache
def load() -> Formulary:
    """The formulary, loaded once per process: from the packaged files' snapshot when there is one
    (`formulary.snapshot`), else read, validated and indexed here. A site's local drugs are
    never snapshotted: they are the site file's, read each start."""
    if _LOCAL:
        return _build()
    from formulary.snapshot import snapshot

    return snapshot("formulary", _build)


def _build() -> Formulary:
    """Load, validate and index the formulary."""
    parsed, digest = {}, hashlib.sha256()
    for name in DATA_FILES:
        parsed[name], raw = read_toml("formulary", name)
        digest.update(name.encode() + b"\0" + raw)
    vocab = parsed["vocabulary.toml"]
    from formulary.loader import VocabularySchema, validated

    v = validated(VocabularySchema(), vocab, "vocabulary.toml")
    routes = {key(a): r for r, aliases in v["routes"].items() for a in (r, *aliases)}
    conditions = {key(a): c for c, aliases in v["conditions"].items() for a in (c, *aliases)}
    drugs: dict[str, Drug] = {}
    for name in ("drugs.toml", "supplements.toml", "comedications.toml"):
        for d in build_drugs(parsed[name].get("drug", []), name):
            if d.id in drugs:
                raise KnowledgeError(f"{name}: duplicate drug id {d.id!r}")
            drugs[d.id] = d
    from formulary.provisional import add_provisional_classes, add_provisional_drugs

    # Provisional classes before the ingredient table (whose rows may name them), provisional drugs
    # after it (they are added only where no other file defines the id or name).
    classes = add_provisional_classes(parsed["provisional.toml"], load_classes(parsed["classes.toml"]))
    tables = {}
    for name in TABLES:
        raw = (resources.files("formulary") / "data" / name).read_bytes()
        digest.update(name.encode() + b"\0" + raw)
        tables[name] = raw.decode("utf-8")
    new, extra = load_ingredients(tables["ingredients.tsv"], drugs, classes)
    for d in new:
        if d.id in drugs:
            raise KnowledgeError(f"ingredients.tsv: drug id {d.id!r} is already in the formulary")
        drugs[d.id] = d
    for drug_id, codes in extra.items():
        drugs[drug_id] = with_codes(drugs[drug_id], codes)
    drugs = add_provisional_drugs(parsed["provisional.toml"], drugs, key)
    # A site's local drugs last, after every packaged file (checker.site).
    for name, data in _LOCAL:
        parsed[name] = data
        for d in build_drugs(data.get("drug", []), name):
            if d.id in drugs:
                raise KnowledgeError(f"{name}: drug id {d.id!r} is already in the formulary")
            drugs[d.id] = d
    index, atc = _index(drugs)
    sources = _all_sources(parsed)
    products, product_names, families = load_products(
        parsed["products.toml"].get("product", []), drugs, sources, set(routes.values())
    )
    _scope_products(drugs, products, families)
    by_ingredients: dict[frozenset[str], tuple[str, ...]] = {}
    for p in products.values():
        k = frozenset(p.drugs)
        by_ingredients[k] = (*by_ingredients.get(k, ()), p.id)
    f = Formulary(
        drugs=drugs,
        classes=classes,
        sources=sources,
        routes=routes,
        conditions=conditions,
        digest=digest.hexdigest(),
        _index=index,
        _atc_index=atc,
        products=products,
        product_names=product_names,
        families=families,
        by_ingredients=by_ingredients,
        rxnorm=load_rxnorm(tables["rxnorm.tsv"]),
        extended_ingredients=frozenset(
            d for p in products.values() if p.release == "extended" for d in p.drugs
        ),
    )
    f.snomed.update(load_snomed(tables["snomed.tsv"], drugs, products, sources))
    for sid in {s for _, codes in extra.items() for _, s in codes} | {"VOC", "RX_CDC", "RX_OMTK"}:
        if sid not in sources:
            raise KnowledgeError(f"ingredients.tsv / rxnorm.tsv cite unknown source {sid!r}")
    _check_references(f)
    return f
