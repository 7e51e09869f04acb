"""Reading product names as order-entry systems write them, without knowing the product first.

RxNorm normalised names ("acetaminophen 325 MG / oxycodone hydrochloride 5 MG Oral Tablet
[Percocet]", "Abuse-Deterrent 12 HR oxycodone hydrochloride 10 MG Extended Release Oral Tablet",
"{28 (...) } Pack"), SNOMED / dm+d product names ("Paracetamol 240mg suppository (product)",
"Fentanyl 25micrograms/hour patch") and the shapes pharmacists type ("oxycodone-acetaminophen
5-325 mg tablet", "Norco 10/325") all carry the same facts: ingredient names with strengths, a
dose form, a release type and sometimes a brand. This module pulls those facts out as text; the
formulary then decides which ingredients it knows. Pure functions, cached per distinct name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

# Strength units as written → the unit pint knows. "UNT" is RxNorm's "units".
_UNITS = {
    "mg": "mg",
    "milligram": "mg",
    "milligrams": "mg",
    "g": "g",
    "gm": "g",
    "gram": "g",
    "grams": "g",
    "mcg": "ug",
    "ug": "ug",
    "µg": "ug",
    "microgram": "ug",
    "micrograms": "ug",
    "unt": "IU",
    "unit": "IU",
    "units": "IU",
    "iu": "IU",
    "u": "IU",
    "meq": "mEq",
    "mmol": "mmol",
}
_PER = {
    "ml": "mL",
    "hr": "h",
    "h": "h",
    "hour": "h",
    "hours": "h",
    "actuat": "actuation",
    "dose": "unit",
    "24hr": "day",
    "day": "day",
    "tablet": "unit",
    "tab": "unit",
    "capsule": "unit",
    "patch": "unit",
}
_NUM = r"(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+(?:[.,]\d+)?)"
_UNIT_RE = "|".join(sorted(map(re.escape, _UNITS), key=len, reverse=True))
_PER_RE = "|".join(sorted(map(re.escape, _PER), key=len, reverse=True))
# "10 MG", "0.025 MG/HR", "5 mg/5 mL", "25micrograms/hour", "100 UNT/ML"
_STRENGTH = re.compile(
    rf"(?<![\w.])(?P<num>{_NUM})\s*(?P<unit>{_UNIT_RE})\b(?:\s*/\s*(?P<pnum>{_NUM})?\s*(?P<per>{_PER_RE})\b)?",
    re.IGNORECASE,
)
_BARE = re.compile(rf"(?<![\w.])(?P<num>{_NUM})(?:\s*(?P<unit>{_UNIT_RE})\b)?", re.IGNORECASE)

# Dose forms, most specific first: (pattern, canonical form, route hint, release implied).
_FORMS: tuple[tuple[str, str, str | None, str | None], ...] = (
    (
        r"transdermal\s+(?:system|patch)|\bpatch(?:es)?\b|\bTD\b|matrix\s+delivery",
        "patch",
        "transdermal",
        "extended",
    ),  # noqa: E501
    (r"sublingual\s+(?:tablet|film)|\bSL\b", "sublingual", "oral", None),
    (
        r"buccal\s+(?:tablet|film)|buccal|lozenge|troche|oral\s+transmucosal|\blollipop",
        "transmucosal",
        "oral",
        None,
    ),  # noqa: E501
    (r"nasal\s+spray|nasal\s+solution|metered\s+dose\s+nasal", "nasal spray", "intranasal", None),
    # before "liquid" and "gel": a softgel or liquid-gel is a capsule swallowed whole
    (r"\bsoft\s*gels?\b|\bliqui(?:d\s*|-)?gels?\b|\bgel\s*caps?\b", "capsule", "oral", None),
    (r"suppositor(?:y|ies)|rectal", "suppository", "rectal", None),
    (r"enema", "enema", "rectal", None),
    (r"inhal\w*|nebuli[sz]\w*|metered\s+dose\s+inhaler", "inhalation", "inhaled", None),
    (
        r"(?:oral\s+)?(?:solution|syrup|elixir|liquid|concentrate|suspension|drops?|tincture)\b",
        "liquid",
        None,
        None,
    ),  # noqa: E501
    (
        r"inject\w*|prefilled\s+syringe|cartridge|auto-?injector|\bvial\b|infusion|\bpen\b",
        "injection",
        None,
        None,
    ),  # noqa: E501
    (r"(?:oral\s+)?(?:capsules?|caps?)\b|gelcaps?\b", "capsule", "oral", None),
    (r"(?:oral\s+)?(?:tablets?|tabs?|caplets?)\b|\bchewable\b|\bODT\b", "tablet", "oral", None),
    (r"granules|powder|packet|sachet", "powder", "oral", None),
    (r"(?:topical\s+)?\b(?:cream|ointment|gel|lotion)\b", "topical", "topical", None),
    (r"\bfilm\b", "film", "oral", None),
)
_FORM_RES = tuple((re.compile(p, re.IGNORECASE), f, r, rel) for p, f, r, rel in _FORMS)
_EXTENDED = re.compile(
    r"extended[- ]release|controlled[- ]release|sustained[- ]release|prolonged[- ]release|"
    r"modified[- ]release|long[- ]acting|\b\d+\s*HR\b|\b(?:ER|XR|XL|SR|CR|LA|ERT|ER/?CR|MR|PR)\b|"
    r"\bcontin\b|liposomal",
    re.IGNORECASE,
)
_IMMEDIATE = re.compile(r"immediate[- ]release|\bIR\b|short[- ]acting", re.IGNORECASE)
_NOISE = re.compile(
    r"\b(?:abuse[- ]deterrent|oral|extended[- ]release|controlled[- ]release|sustained[- ]release|"
    r"prolonged[- ]release|modified[- ]release|delayed[- ]release|immediate[- ]release|"
    r"disintegrating|chewable|effervescent|enteric[- ]coated|film[- ]coated|gastro[- ]resistant|"
    r"orally|each|per|po|generic|liposomal|\d+\s*HR|\d+\s*DAY|\d+\s*ACTUAT|\d+-bead|ER|XR|XL|SR|CR|LA|IR|DR|EC|ODT|MR|PR|USP|hcl)\b",
    re.IGNORECASE,
)
_SUFFIX = re.compile(
    r"\s*\((?:product|medicinal product|clinical drug|substance|real clinical drug)\)\s*$", re.IGNORECASE
)
_BRAND = re.compile(r"\s*\[([^\]]+)\]\s*$")
_PAREN_BRAND = re.compile(r"\s+\(([A-Za-z][^()]*)\)\s*$")
# Epic's display names put the brand after the generic: "oxyCODONE (ROXICODONE) 5 mg tablet"
_INNER_BRAND = re.compile(r"(?<=[\w.])\s*\(([A-Za-z][^()]*)\)\s*(?=\S)")
_PACK = re.compile(r"^\s*\{(?P<body>.*)\}\s*Pack\b", re.IGNORECASE | re.DOTALL)
_VOLUME = re.compile(rf"^\s*(?P<num>{_NUM})\s*ML\s+(?=\D)", re.IGNORECASE)  # RxNorm "1 ML morphine ..."
_SPLIT = re.compile(r"\s+/\s+|\s*\+\s*|\s+and\s+|\s+with\s+|\s*,\s*|\s*/\s*|-(?=[a-z])", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Strength:
    """An amount per dose unit (tablet, patch, actuation), per mL, or per hour (patches)."""

    value: float
    unit: str  # mg, ug, g, IU, mEq
    per: str = "unit"  # unit | mL | h | actuation | day
    explicit: bool = True  # False: a bare number ("Norco 10/325"); its unit is the product's

    def text(self) -> str:
        per = "" if self.per == "unit" else f"/{self.per}"
        return f"{self.value:g} {self.unit}{per}"


@dataclass(frozen=True, slots=True)
class NameParts:
    """What a product name says. `names` are lower-cased ingredient names as written."""

    names: tuple[str, ...]
    strengths: tuple[Strength | None, ...]
    form: str | None = None
    route: str | None = None
    release: str | None = None
    brand: str | None = None
    pack: bool = False
    volume_ml: float | None = None


def _num(text: str) -> float:
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+", text):  # "100,000 units": thousands, not a decimal comma
        return float(text.replace(",", ""))
    return float(text.replace(",", "."))


def _strength(m: re.Match) -> Strength:
    value, unit = _num(m.group("num")), _UNITS[m.group("unit").lower()]
    per = _PER[m.group("per").lower()] if m.group("per") else "unit"
    if m.group("pnum"):  # "5 mg/5 mL" → 1 mg/mL
        value /= _num(m.group("pnum"))
    if per == "day" and unit in ("mg", "ug"):  # "25 mcg/24hr" patch strengths: keep per hour
        value, per = value / 24, "h"
    return Strength(value, unit, per)


def form_of(text: str) -> tuple[str | None, str | None, str | None]:
    """(form, route hint, release implied by the form) of the first dose form the text names."""
    for rx, form, route, release in _FORM_RES:
        if rx.search(text):
            return form, route, release
    return None, None, None


def release_of(text: str, implied: str | None = None) -> str | None:
    if _IMMEDIATE.search(text):
        return "immediate"
    if _EXTENDED.search(text):
        return "extended"
    return implied


def _strip_forms(text: str) -> str:
    for rx, *_ in _FORM_RES:
        text = rx.sub(" ", text)
    return _NOISE.sub(" ", text)


def _clean_name(text: str) -> str:
    t = re.sub(r"[()\[\]{}\"']", " ", _strip_forms(text))
    return re.sub(r"\s+", " ", t).strip(" -/,.;:").lower()


_PERCENT = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)?\s*%")
# A strength restated in brackets after a strength: "25 mcg (1,000 unit)", "1,250 mg (500 mg
# elemental)". Read as two strengths, the second was taken for an ingredient the name does not name.
_RESTATED = re.compile(
    rf"((?<![\w.]){_NUM}\s*(?:{_UNIT_RE})\b(?:\s+[a-z]+)?)\s*\(\s*{_NUM}\s*(?:{_UNIT_RE})\b[^()]*\)",
    re.IGNORECASE,
)


@lru_cache(maxsize=8192)
def parse(text: str) -> NameParts | None:
    """Split a product name into ingredient names, strengths, form, release and brand.

    None when the text names no strength and no dose form: a plain name, for the formulary's
    own name index to answer.
    """
    t = _SUFFIX.sub("", text.strip())
    # "1% gel", "5% patch": a concentration, not an amount per unit (read as 1 mg it would check a
    # gram of gel as a milligram); left out, so the order's dose says what it says.
    t = _PERCENT.sub(" ", t)
    t = _RESTATED.sub(r"\1", t)
    brand = None
    if m := _BRAND.search(t):
        brand, t = m.group(1).strip(), t[: m.start()]
    elif (m := _PAREN_BRAND.search(t)) and not _STRENGTH.search(m.group(1)):
        brand, t = m.group(1).strip(), t[: m.start()]  # "Capecitabine 500mg oral tablet (Xeloda)"
    elif (m := _INNER_BRAND.search(t)) and not _STRENGTH.search(m.group(1)):
        brand, t = m.group(1).strip(), f"{t[: m.start()]} {t[m.end() :]}"
    if m := _PACK.match(t):
        return _pack(m.group("body"), brand)
    volume = None
    if m := _VOLUME.match(t):
        volume, t = _num(m.group("num")), t[m.end() :]
    form, route, implied = form_of(t)
    release = release_of(t, implied) or (release_of(brand) if brand else None)  # "(MS CONTIN) 15 mg"
    if " / " in t and _STRENGTH.search(t):  # RxNorm: "a 325 MG / b 5 MG Oral Tablet"
        names, strengths = [], []
        for seg in re.split(r"\s+/\s+", t):
            s = _STRENGTH.search(seg)
            names.append(_clean_name(seg[: s.start()] if s else seg))
            strengths.append(_strength(s) if s else None)
        return NameParts(tuple(names), tuple(strengths), form, route, release, brand, False, volume)
    return _free(t, form, route, release, brand, volume)


def _free(
    t: str, form: str | None, route: str | None, release: str | None, brand: str | None, volume: float | None
) -> NameParts | None:
    """Shapes people type: "oxycodone-acetaminophen 5-325 mg tab", "Norco 10/325", "APAP 500mg",
    and "acetaminophen 325 mg and oxycodone 5 mg oral tablet" (a name before each strength)."""
    full = list(_STRENGTH.finditer(t))
    if len(full) >= 2:
        chunks = [t[: full[0].start()]] + [
            t[a.end() : b.start()] for a, b in zip(full, full[1:], strict=False)
        ]
        names = [
            _clean_name(re.sub(r"^\s*(?:and|&|\+|,|with|/)\s*", "", c, flags=re.IGNORECASE)) for c in chunks
        ]
        if all(names):
            strengths = tuple(_strength(m) for m in full)
            return NameParts(tuple(names), strengths, form, route, release, brand, False, volume)
    first = _BARE.search(t)
    while first and not _looks_like_strength(t, first):
        first = _BARE.search(t, first.end())
    if first is None:
        if form is None and release is None:
            return None
        return NameParts((_clean_name(t),), (None,), form, route, release, brand, False, volume)
    head, tail = t[: first.start()], t[first.start() :]
    listed = _strength_list(tail)
    parsed = tuple(n for n in (_clean_name(x) for x in _SPLIT.split(head)) if n) or (_clean_name(head),)
    if len(parsed) > 1 and len(listed) not in (len(parsed), 0):
        parsed = (_clean_name(head),)  # "oxycodone and acetaminophen 5 mg" may still be a single name
        listed = listed[:1]
    if len(parsed) == 1 and len(listed) > 1:  # "Norco 10/325": one brand, several strengths
        return NameParts(parsed, tuple(listed), form, route, release, brand, False, volume)
    if len(parsed) == 1 and len(listed) == 1 and (also := _joined(tail)):
        parsed = (*parsed, also)  # "Caltrate 600+D3": D3 of unstated strength (padded below)
    padded = tuple(listed) + (None,) * (len(parsed) - len(listed))
    return NameParts(parsed, padded, form, route, release, brand, False, volume)


# "+ D3" after a calcium product is vitamin D3; elsewhere "D" is too short to be a drug's name.
_JOINED_SHORT = {"d": "vitamin d", "d3": "vitamin d3", "d2": "vitamin d2"}
_NOT_INGREDIENTS = frozenset("food meal meals water milk juice applicator spacer syringe".split())
_JOINER = re.compile(r"(?:\+|&|\bwith\b|\band\b)\s*(?P<rest>[a-z][\w .'-]*)$", re.IGNORECASE)


def _joined(tail: str) -> str | None:
    """The ingredient named after the strength with "+", "&", "with" or "and" ("calcium carbonate
    600 mg with vitamin D", "Os-Cal 500 + D"): a second ingredient, not to be dropped unread."""
    m = _JOINER.search(tail)
    if m is None:
        return None
    name = _clean_name(m.group("rest"))
    if name.split(" ")[0] in _NOT_INGREDIENTS:
        return None
    return _JOINED_SHORT.get(name, name) or None


def _looks_like_strength(t: str, m: re.Match) -> bool:
    """'Tylenol #3' and 'Tylenol No. 3' are names, not strengths; '3350' in PEG 3350 is a name."""
    before = t[: m.start()].rstrip()
    if before.endswith(("#", "No.", "no.", "No", "no")):
        return False
    if (
        m.group("unit") is None and t[m.end() : m.end() + 1].isspace() and _STRENGTH.match(t, m.end() + 1)
    ):  # "PEG 3350 17 g": a name's number
        return False
    return not (
        m.group("unit") is None
        and re.match(r"\s*[a-z]", t[m.end() :], re.IGNORECASE)
        and not re.match(r"\s*(?:/|-|mg|tab|cap)", t[m.end() :], re.IGNORECASE)
    )


def _strength_list(tail: str) -> list[Strength]:
    """'5-325 mg', '5/325', '10 mg/325 mg', '25micrograms/hour', '5 mg/5 mL', '2.4/24 mg/mL'."""
    full = list(_STRENGTH.finditer(tail))
    if len(full) > 1:
        return [_strength(m) for m in full]
    m = re.match(
        rf"\s*(?P<nums>{_NUM}(?:\s*[-/]\s*{_NUM})*)\s*(?P<unit>{_UNIT_RE})?\b"
        rf"(?:\s*/\s*(?P<pnum>{_NUM})?\s*(?P<per>{_PER_RE})\b)?",
        tail,
        re.IGNORECASE,
    )
    if not m:
        return [_strength(full[0])] if full else []
    nums = [_num(n) for n in re.split(r"\s*[-/]\s*", m.group("nums"))]
    if len(nums) == 1 and full:
        return [_strength(full[0])]
    unit = _UNITS[m.group("unit").lower()] if m.group("unit") else "mg"
    per = _PER[m.group("per").lower()] if m.group("per") else "unit"
    scale = _num(m.group("pnum")) if m.group("pnum") else 1.0
    return [Strength(n / scale, unit, per, bool(m.group("unit"))) for n in nums]


def _pack(body: str, brand: str | None) -> NameParts:
    """A pack lists its contents: '{21 (a 1 MG Oral Tablet) / 7 (inert) } Pack'. Ingredients only."""
    names: list[str] = []
    for inner in re.findall(r"\(([^()]*(?:\([^()]*\)[^()]*)*)\)", body):
        p = parse(inner)
        for n in p.names if p else ():
            if n and n not in names:
                names.append(n)
    return NameParts(tuple(names), (None,) * len(names), "pack", None, None, brand, True)


SALTS = frozenset(
    """hydrochloride hcl bitartrate tartrate sulfate sulphate phosphate citrate sodium potassium calcium
    magnesium maleate mesylate besylate succinate fumarate acetate hyclate hydrobromide bromide
    napsylate polistirex terephthalate lactate gluconate dipotassium disodium monohydrate trihydrate
    dihydrochloride medoxomil cilexetil erbumine tromethamine pamoate decanoate palmitate dimesylate
    saccharate aspartate chloride resin""".split()
)


def without_salt(name: str) -> str:
    """'oxycodone hydrochloride' → 'oxycodone'; 'docusate sodium' → 'docusate'."""
    words = [w for w in name.split() if w not in SALTS]
    return " ".join(words) if words else name
