"""From what a client sent (a name, an RxCUI, an ATC code, a SNOMED CT concept id) to ingredients
and, where the text or code says enough, the product with its strengths.

Order of trust: a code the formulary holds; an RxNorm clinical-drug code read through its
normalised name; a name the formulary holds (ingredient, brand, synonym, curated product or
product family); a product name read for its ingredients and strengths. Nothing is guessed: a
name with one unknown ingredient is unknown, and fuzzy matches are only ever offered as
suggestions, never used.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from formulary.model import Code, Drug, Product
from formulary.names import NameParts, Strength, parse, release_of, without_salt
from formulary.units import UnitError, conversion_factor
from formulary.vocabulary import FORM_ROUTES, product_from_parts, tty_of

if TYPE_CHECKING:
    from formulary import Formulary


_ER_SUFFIXES = ("er", "xr", "cr", "sr", "la", "xl")


@dataclass(frozen=True, slots=True)
class Resolved:
    """The active ingredients ordered and, when known, the product (strengths, form, release).

    `choices` are the products a brand or family name covers when no strength was given;
    `unknown` the ingredient names of a combination the formulary does not know (the known ones
    are still checked, and the order says what was not); `unnamed` the strengths a name gives
    beyond the ingredients it names ("oxycodone 5-325 mg": "325 mg"), never guessed.
    """

    drugs: tuple[Drug, ...]
    product: Product | None = None
    choices: tuple[Product, ...] = ()
    release: str | None = None
    route: str | None = None
    unknown: tuple[str, ...] = ()
    unnamed: tuple[str, ...] = ()

    @property
    def family(self) -> str | None:
        """The product line ordered (a products.toml row), when the name or code says: a product of
        one, or a brand whose products, whatever the strength, are all of one."""
        if self.product is not None:
            return self.product.family or None
        lines = {p.family for p in self.choices}
        return lines.pop() or None if len(lines) == 1 else None


def resolve(
    f: Formulary, name: str | None, rxcui: str | None = None, atc: str | None = None
) -> Resolved | None:  # noqa: E501
    if rxcui:
        hit = _by_rxcui(f, rxcui.strip())
        if hit:
            return hit
    if atc and (d := f.by_code(atc=atc)):
        return Resolved((d,))
    if name:
        if name.strip().isdigit() and (hit := by_snomed(f, name)):  # a SNOMED CT id in the name column
            return hit
        return _by_name(f, name)
    return None


def by_snomed(f: Formulary, code: str) -> Resolved | None:
    target = f.snomed.get(code.strip())
    if target is None:
        return None
    if target in f.drugs:
        return Resolved((f.drugs[target],))
    p = f.products[target]
    return Resolved(_drugs(f, p), p, release=p.release, route=p.route)


def _by_rxcui(f: Formulary, code: str) -> Resolved | None:
    if d := f.by_code(rxcui=code):
        return Resolved((d,))
    row = f.rxnorm.get(code)
    if row is None:
        return None
    hit = _by_name(f, row[0], Code(code, tty_of(row[0]), "RX_CDC" if row[1] != "omtk" else "RX_OMTK"))
    return hit


def _by_name(f: Formulary, text: str, code: Code | None = None) -> Resolved | None:
    """Cached per formulary and text: the same names come back on every order of a regimen."""
    k = (text.strip(), code)
    if k not in f._resolved:
        if len(f._resolved) > 16384:
            f._resolved.clear()
        f._resolved[k] = _resolve_text(f, k[0], code)
    return f._resolved[k]


def _resolve_text(f: Formulary, text: str, code: Code | None) -> Resolved | None:
    from formulary.keys import key

    if code is None:
        k = key(text)
        if pids := f.product_names.get(k):
            p = f.products[pids[0]]
            return Resolved(_drugs(f, p), p, release=p.release, route=p.route)
        if k in f.families:  # a brand or family before the ingredient it shares a name with
            return _family(f, f.families[k], None, text)
        if d := f.lookup(text):
            return Resolved((d,))
    parts = parse(text)
    if parts is None:
        d = f.lookup(without_salt(text.lower()))
        return Resolved((d,)) if d else _each_word(f, text)
    return _from_parts(f, text, parts, code)


def _each_word(f: Formulary, text: str) -> Resolved | None:
    """ "glucosamine chondroitin": ingredient names run together, with no strengths or separators.
    Read as a combination only when every word names an ingredient, so a name with one unknown word
    stays unknown (and is reported) rather than being read as part of itself."""
    words = text.split()
    if len(words) < 2:
        return None
    found = [f.lookup(w) for w in words]
    drugs = tuple({d.id: d for d in found if d is not None}.values())
    return Resolved(drugs) if all(found) and len(drugs) > 1 else None


def _drugs(f: Formulary, p: Product) -> tuple[Drug, ...]:
    return tuple(f.drugs[x] for x in p.drugs)


def _family(
    f: Formulary, members: tuple[str, ...], strengths: tuple[Strength | None, ...] | None, text: str,
    route: str | None = None,
) -> Resolved | None:
    """A brand or family named, with or without its strengths ("Norco", "Norco 10/325"), and with
    the route its dose form names: "Voltaren gel" is none of the Voltaren tablets."""
    products = tuple(f.products[m] for m in members)
    if route:
        products = tuple(p for p in products if p.route == route)
    if not products:
        return None
    release = release_of(text)
    if release:
        products = tuple(p for p in products if p.release == release)
        if not products:
            return None
    if strengths and any(s is not None for s in strengths):
        products = tuple(p for p in products if _same_strengths(p, strengths))
        if not products:
            return None
    first = products[0]
    if len(products) == 1:
        return Resolved(_drugs(f, first), first, release=first.release, route=first.route)
    same = all(p.drugs == first.drugs for p in products)
    drugs = _drugs(f, first) if same else tuple({d.id: d for p in products for d in _drugs(f, p)}.values())
    releases, routes = {p.release for p in products}, {p.route for p in products}
    return Resolved(drugs, None, products, release=releases.pop() if len(releases) == 1 else release,
                    route=routes.pop() if len(routes) == 1 else None)  # "Fentora": buccal at any strength


def _same_strengths(p: Product, strengths: tuple[Strength | None, ...]) -> bool:
    given = [s for s in strengths if s is not None]
    if len(given) != len(p.parts):
        return False
    for part, s in zip(p.parts, given, strict=True):
        if (s.per == "mL") != (part.per == "mL"):
            return False  # 5 mg per tablet is not 5 mg per mL
        try:
            if s.explicit:
                value = s.value * conversion_factor(f"{s.unit}/h" if s.per == "h" else s.unit, part.unit)
            else:
                value = s.value  # "Duragesic 25": the number in the family's own unit
        except UnitError:
            return False
        if part.amount is None or abs(value - part.amount) > 1e-6 * max(1.0, part.amount):
            return False
    return True


def _ingredient(f: Formulary, name: str) -> Drug | None:
    return f.lookup(name) or f.lookup(without_salt(name))


def _from_parts(f: Formulary, text: str, parts: NameParts, code: Code | None) -> Resolved | None:
    from formulary.keys import key

    if len(parts.names) == 1:
        k = key(parts.names[0])
        drug = _ingredient(f, parts.names[0])
        fam = f.families.get(k)
        wider = False  # the brand names more ingredients than the generic written before it
        if not fam and parts.brand and (branded := f.families.get(key(parts.brand))):
            # the brand beside the generic ("oxyCODONE (OXYCONTIN) 10 mg") says the product line
            # when its products contain that ingredient; "oxyCODONE (PERCOCET) 5-325 mg" is Percocet
            if drug is None or all(drug.id in f.products[m].drugs for m in branded):
                fam = branded
                wider = drug is not None and any(len(f.products[m].drugs) > 1 for m in branded)
        if not fam and drug is None and parts.release == "extended":
            # "Hysingla ER 20 mg": a brand whose name carries its release word (the parse took it off)
            fam = next((f.families[k + s] for s in _ER_SUFFIXES if k + s in f.families), None)
        if fam:
            hit = _family(f, fam, parts.strengths, text, parts.route)
            if hit is None and wider:  # strengths that are not the brand's: its ingredients, unread
                hit = _family(f, fam, None, text, parts.route)
            if hit is not None or drug is None:
                return hit
        if drug is None:
            return None
        drugs: tuple[Drug, ...] = (drug,)
        strengths = tuple(_own_unit(s, drug) for s in parts.strengths[:1])
        # "oxycodone 5-325 mg": more strengths than ingredients named; the rest is not guessed
        unread = tuple(s.text() for s in parts.strengths[1:] if s is not None)
    else:
        unread = ()
        found = [_ingredient(f, n) for n in parts.names]
        if all(d is None for d in found):
            return None
        unknown = tuple(n for n, d in zip(parts.names, found, strict=True) if d is None)
        drugs = tuple(d for d in found if d is not None)
        strengths = tuple(s for s, d in zip(parts.strengths, found, strict=True) if d is not None)
        if unknown:
            product = product_from_parts(
                "",
                text,
                drugs,
                strengths,
                parts.form,
                parts.release,
                parts.route,
                parts.brand,
                (),
                "",
                parts.pack,
                parts.volume_ml,
            )
            return Resolved(drugs, product, release=parts.release, route=product.route, unknown=unknown)
    release = parts.release or ("immediate" if code else None)  # RxNorm names say "Extended Release"
    has_strength = any(s is not None for s in strengths)
    if not has_strength and not parts.pack and code is None:
        choices = f.by_ingredients.get(frozenset(d.id for d in drugs), ())
        products = tuple(
            f.products[c] for c in choices if release is None or f.products[c].release == release
        )
        return Resolved(drugs, None, products, release=release, route=parts.route, unnamed=unread)
    if code is None and (known := _curated(f, drugs, strengths, release, parts.form)):
        return Resolved(drugs, known, release=known.release, route=known.route, unnamed=unread)
    pid = f"rxcui_{code.code}" if code else ""
    product = product_from_parts(
        pid,
        text,
        drugs,
        strengths,
        parts.form,
        release,
        parts.route,
        parts.brand,
        (code,) if code else (),
        code.source if code else "",
        parts.pack,
        parts.volume_ml,
    )
    if code is not None and not parts.pack and (line := _line_of(f, drugs, strengths, release, parts)):
        product = replace(product, family=line)
    return Resolved(drugs, product, release=release, route=product.route, unnamed=unread)


def _line_of(
    f: Formulary,
    drugs: tuple[Drug, ...],
    strengths: tuple[Strength | None, ...],
    release: str | None,
    parts: NameParts,
) -> str:
    """The product line an RxNorm name is ("... 24 HR Extended Release Oral Tablet [Hysingla]"): the
    curated product of the same ingredients, strength, release and form, or else of its brand."""
    hit = _curated(f, drugs, strengths, release, parts.form)
    if hit is None and parts.brand:
        from formulary.keys import key

        fam = f.families.get(key(parts.brand)) or next(
            (f.families[key(parts.brand) + s] for s in _ER_SUFFIXES if key(parts.brand) + s in f.families), ()
        )
        lines = {f.products[m].family for m in fam}
        return lines.pop() if len(lines) == 1 else ""
    return hit.family if hit is not None else ""


def _curated(
    f: Formulary,
    drugs: tuple[Drug, ...],
    strengths: tuple[Strength | None, ...],
    release: str | None,
    form: str | None,
) -> Product | None:
    """The curated product a typed name with strengths describes ("oxycodone-APAP 5-325 mg")."""
    wanted = {d.id: s for d, s in zip(drugs, strengths, strict=False)}
    found = []
    for pid in f.by_ingredients.get(frozenset(wanted), ()):
        p = f.products[pid]
        if release and p.release != release:
            continue
        if _same_strengths(p, tuple(wanted.get(part.drug) for part in p.parts)):
            found.append(p)
    if form:
        # another form only where it is taken the same way (a caplet for a tablet); an injection is
        # never the oral solution of the same strength ("morphine 2 mg/mL injection" was read as oral)
        route = FORM_ROUTES.get(form)
        found = [p for p in found if p.form == form] or [p for p in found if route and p.route == route]
    if release is None and found and all(p.release == "extended" for p in found):
        return None  # a name that does not say extended release is not read as one ("hydrocodone 10 mg")
    # "morphine 30 mg" is an IR and an ER tablet: the name alone does not say which, so neither
    return found[0] if len({(p.release, p.form) for p in found}) == 1 else None


def _own_unit(s: Strength | None, drug: Drug) -> Strength | None:
    """A bare number after an ingredient name ("fentanyl 25") is in that drug's dose unit."""
    if s is None or s.explicit:
        return s
    return Strength(s.value, drug.dose_unit.split("/")[0], "h" if "/h" in drug.dose_unit else "unit")


def product_codes(f: Formulary) -> dict[str, tuple[Code, ...]]:
    """RxNorm codes of the curated products, found by reading every name of rxnorm.tsv (each code
    with the value set or table it comes from). Built on first use - pages and catalogues ask for
    it, a check never does - and kept on the formulary."""
    if "codes" in f._resolved:
        return f._resolved["codes"]
    from formulary.keys import key

    out: dict[str, list[Code]] = {}
    for code, (name, sets) in f.rxnorm.items():
        parts = parse(name)
        if parts is None or parts.pack:
            continue
        found = [_ingredient(f, n) for n in parts.names]
        if any(d is None for d in found) or any(s is None for s in parts.strengths):
            continue
        drugs = tuple(d for d in found if d is not None)
        release = parts.release or "immediate"
        hit = _curated(f, drugs, parts.strengths, release, parts.form)
        if hit is None and parts.brand and (fam := f.families.get(key(parts.brand))):
            hit = next((f.products[m] for m in fam if _same_strengths(f.products[m], parts.strengths)), None)
        if hit is not None:
            source = "RX_OMTK" if sets == "omtk" else "RX_CDC"
            out.setdefault(hit.id, []).append(Code(code, tty_of(name), source))
    f._resolved["codes"] = result = {k: tuple(v) for k, v in out.items()}
    return result
