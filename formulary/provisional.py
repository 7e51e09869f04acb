"""Drugs and classes the clinical rules name before the wider vocabulary defines them.

`provisional.toml` holds entries (laxatives, naloxone, muscle relaxants, antipsychotics,
Z-drugs, St John's wort, edoxaban) that the safety rules need to exist. They are added only
where no other data file defines the same class or drug id (or name): when the vocabulary
tables define them, theirs win and these rows are ignored, so the two never disagree at load.
Classes go in before any drug takes classes from its ATC code (`add_provisional_classes`),
drugs after every other source of drugs (`add_provisional_drugs`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from formulary.loader import ClassSchema, build_drugs, validated
from formulary.model import Drug, DrugClass

FILE = "provisional.toml"


def add_provisional(
    data: dict[str, Any], drugs: dict[str, Drug], classes: dict[str, DrugClass], key: Callable[[str], str]
) -> tuple[dict[str, Drug], dict[str, DrugClass]]:
    """`drugs` and `classes` with this file's entries added where their ids are free."""
    classes = add_provisional_classes(data, classes)
    return add_provisional_drugs(data, drugs, key), classes


def add_provisional_classes(data: dict[str, Any], classes: dict[str, DrugClass]) -> dict[str, DrugClass]:
    """Classes first: where drugs take classes from their ATC codes, they must exist before them."""
    classes = dict(classes)
    schema = ClassSchema()
    for cid, value in data.get("class", {}).items():
        if cid in classes:
            continue
        v = validated(schema, value, f"{FILE} [{cid}]")
        classes[cid] = DrugClass(cid, v["name"], tuple(v["atc_prefixes"]), tuple(v["parents"]))
    return classes


def add_provisional_drugs(
    data: dict[str, Any], drugs: dict[str, Drug], key: Callable[[str], str]
) -> dict[str, Drug]:
    """Drugs last: after every other source, so an id or name defined elsewhere wins."""
    drugs = dict(drugs)
    taken = {key(n) for d in drugs.values() for n in (d.id, d.name, *d.synonyms, *d.brands)}
    taken_atc = {a for d in drugs.values() for a in d.atc}
    for d in build_drugs(data.get("drug", []), FILE):
        names = {key(n) for n in (d.id, d.name, *d.synonyms, *d.brands)}
        if d.id in drugs or names & taken or set(d.atc) & taken_atc:
            continue
        drugs[d.id] = d
        taken |= names
    return drugs
