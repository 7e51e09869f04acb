"""Free-text sigs ("1 g PO q6h PRN pain", "300 mg qHS → up to 1.2 g TID") into structured parts.

The parser never raises: whatever it cannot place is returned in `unparsed`, so the engine can
say exactly what it did not understand instead of passing the order silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from checker.frequency import Frequency, parse_frequency

_SUPERSCRIPT = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789")
_NUM = r"\d+(?:\.\d+)?"
_UNIT = (
    r"(?:k|m|g|µ|μ|u)?bq(?:/kg)?|(?:m|µ|μ|u)?ci(?:/kg)?|"
    r"(?:mg|g|mcg|µg|μg|ug|ng)(?:\s*/\s*(?:kg|h|hr|hour|day|d|24\s*h))?|"
    r"(?:iu|units?|meq|mmol)(?:/kg)?|cells?(?:/kg)?|ml|"
    r"tabs?|tablets?|caps?|capsules?|patch(?:es)?|sprays?|puffs?|drops?"
)
_DOSE_RE = re.compile(rf"(?<![\w.])({_NUM})(?:\s*(?:-|to)\s*({_NUM}))?\s*({_UNIT})(?![a-z])")
_ROUTES = (
    (r"iv\s*/\s*po|iv\s+bolus|iv|i\.v\.|intravenous(?:ly)?", "iv"),
    (r"po|p\.o\.|orally|oral|by mouth|per os", "oral"),
    (r"sub-?\s?q|s\.?c\.?|subcut(?:aneous(?:ly)?)?|sq", "sc"),
    (r"im|i\.m\.|intramuscular(?:ly)?", "im"),
    (r"td|transdermal(?:ly)?|patch(?:es)?", "transdermal"),
    (
        r"intranasal(?:ly)?|nasal(?:ly)?|(?:in\s+)?(?:alternate|each|one)\s+nostrils?|in\s+nostrils?",
        "intranasal",
    ),  # noqa: E501
    (r"topical(?:ly)?|to skin", "topical"),
    (r"intra-?articular|facet[- ]joint(?:\s+injection)?", "intra_articular"),
    (r"per\s+level|surgical\s+implant|graft", "implant"),
    (r"pr|rectal(?:ly)?", "rectal"),
)
_ROUTE_RE = [(re.compile(rf"(?<![\w/])(?:{p})(?![\w])"), r) for p, r in _ROUTES]
_FREQ_PATTERNS = (
    r"(?:q|every|each)\s*\d+(?:\.\d+)?(?:\s*(?:-|to)\s*\d+(?:\.\d+)?)?\s*(?:hours?|hrs?|h|days?|d|weeks?|wks?|w|months?|mo)\b",  # noqa: E501
    r"\d+\s*(?:x|times)\s*(?:a|per|/)?\s*(?:day|daily|week|weekly)",
    r"(?:once|twice|thrice|one|two|three|four)\s+times\s+(?:a\s+)?(?:daily|day)|(?:twice|thrice)\s+(?:a\s+)?(?:daily|day)",  # noqa: E501
    r"once\s+(?:a\s+)?(?:daily|day|weekly|week|monthly|month)|once\s+only",
    r"every\s+other\s+day|on\s+alternate\s+days|alternate\s+days|every\s+(?:day|week|month|night|morning|evening)",  # noqa: E501
    r"at\s+bedtime|at\s+night|in\s+the\s+(?:morning|evening)|nightly|bedtime",
    r"q\.?h\.?s\.?|b\.?i\.?d\.?|t\.?i\.?d\.?|q\.?i\.?d\.?|q\.?o\.?d\.?|q\.?d\.?|qam|qpm|hs|od|daily|weekly|monthly|hourly",  # noqa: E501
    r"once|stat|single\s+(?:dose|shot|injection)|single",
)
_FREQ_RE = re.compile(r"(?<![\w])(?:" + "|".join(_FREQ_PATTERNS) + r")(?![\w])")
_PRN_RE = re.compile(
    r"(?<![\w])(?:prn|p\.r\.n\.|as\s+needed|when\s+required|as\s+required|if\s+needed)(?![\w])"
)  # noqa: E501
_CAP_DAILY_RE = re.compile(
    rf"(?:≤|<=|=<|max(?:imum)?\.?|not\s+to\s+exceed|nte|no\s+more\s+than|up\s+to)\s*({_NUM})\s*({_UNIT})\s*(?:/|per|a|in|every)\s*(?:day|d|24\s*h(?:ours?)?)"  # noqa: E501
)
_CAP_DAYS_RE = re.compile(rf"(?:≤|<=|=<|max(?:imum)?\.?|no\s+more\s+than|up\s+to)\s*({_NUM})\s*days?")
_FOR_RE = re.compile(
    rf"(?<![\w])(?:for|x|×)\s*({_NUM})\s*(days?|weeks?|wks?|months?|doses?|injections?|cycles?)(?![\w])"
)  # noqa: E501
_COURSE_RE = re.compile(rf"(?:×|(?<![\w])x)\s*({_NUM})(?!\s*\d)(?![\w.])")
_INFUSION_RE = re.compile(
    rf"over\s+(?:at\s+least\s+)?{_NUM}\s*(?:-\s*{_NUM}\s*)?(?:min(?:ute)?s?|h(?:ours?)?)"
)  # noqa: E501
_PHASE_SPLIT = re.compile(r"\bthen\b|→|->|=>|\bthereafter\b|\bfollowed by\b|;")
_IGNORABLE = frozenset(
    """a an and as at by changed change daily dose doses each every for food for from given in
    into is leave level meal meals of on or pain per plain the then titrate titrated titration
    to up until upright use water with without bolus loading load initial initially start
    starting maintenance apply applied replace replaced spray sprays nostril alternate into
    injection infusion slowly slow push breakthrough mild moderate severe if needed after before
    bed empty stomach take swallow whole elemental cholecalciferol total under fluoroscopy guidance
    during reconstruction surgery targeted scaffold standardized combined epa dha +""".split()
)
_DAYS_PER = {"day": 1.0, "week": 7.0, "wk": 7.0, "month": 365.0 / 12}


@dataclass(frozen=True, slots=True)
class Phase:
    """One step of an order: "10 mg IV bolus" or "4 mg IV/PO every 6 h"."""

    dose: float | None = None
    dose_low: float | None = None
    unit: str | None = None
    route: str | None = None
    frequency: Frequency | None = None
    bolus: bool = False


@dataclass(frozen=True, slots=True)
class Sig:
    text: str
    phases: tuple[Phase, ...] = ()
    prn: bool = False
    max_daily: tuple[float, str] | None = None
    duration_days: float | None = None
    course_doses: int | None = None
    unparsed: tuple[str, ...] = field(default=())

    @property
    def understood(self) -> bool:
        return bool(self.phases) and any(p.dose is not None for p in self.phases)


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def _prepare(text: str) -> str:
    t = text.translate(_SUPERSCRIPT).lower().replace("–", "-").replace("—", "-")
    t = re.sub(r"(?<=\d),(?=\d{3}\b)", "", t)
    # "1 × 10^6 cells/kg", "1x10^6", "1e6" → a plain number
    t = re.sub(
        r"(\d+(?:\.\d+)?)\s*[x×*]\s*10\^?(\d+)",
        lambda m: f"{float(m.group(1)) * 10 ** int(m.group(2)):.0f}",
        t,
    )
    t = re.sub(r"(\d+(?:\.\d+)?)e(\d+)", lambda m: f"{float(m.group(0)):.0f}", t)
    return re.sub(r"\s+", " ", t).strip()


def _cut(text: str, span: tuple[int, int]) -> str:
    return text[: span[0]] + " " * (span[1] - span[0]) + text[span[1] :]


def _parse_phase(text: str) -> tuple[Phase | None, str]:
    rest = text
    rest = re.sub(r"^\s*up\s+to\s+", " ", rest)
    dose = low = unit = route = freq = None
    if m := _DOSE_RE.search(rest):
        a, b = float(m.group(1)), m.group(2)
        low, dose = (a, float(b)) if b else (None, a)
        unit = re.sub(r"\s+", "", m.group(3))
        rest = _cut(rest, m.span())
    for rx, name in _ROUTE_RE:
        if m := rx.search(rest):
            route = route or name
            rest = _cut(rest, m.span())
    if m := _FREQ_RE.search(rest):
        freq = parse_frequency(m.group(0))
        rest = _cut(rest, m.span())
    bolus = bool(re.search(r"\b(?:bolus|loading|stat|once)\b", text)) and freq is None
    if dose is None and route is None and freq is None:
        return None, rest
    return Phase(dose, low, unit, route, freq, bolus), rest


@lru_cache(maxsize=8192)
def parse_sig(text: str) -> Sig:
    """Parse a sig. Pure and cached: the batch audit parses each distinct text once."""
    try:
        return _parse(text)
    except Exception:  # a parser bug must not hide the order: report it as not understood
        return Sig(text=text, unparsed=(text,))


def _parse(text: str) -> Sig:
    t = _prepare(text)
    prn = bool(_PRN_RE.search(t))
    t = _PRN_RE.sub(" ", t)
    cap = days = course = None
    if m := _CAP_DAILY_RE.search(t):
        cap = (float(m.group(1)), re.sub(r"\s+", "", m.group(2)))
        t = _cut(t, m.span())
    if m := _CAP_DAYS_RE.search(t):
        days = float(m.group(1))
        t = _cut(t, m.span())
    for m in list(_FOR_RE.finditer(t)):
        n, what = float(m.group(1)), m.group(2).rstrip("s")
        if what in ("dose", "injection", "cycle"):
            course = int(n)
        else:
            days = n * _DAYS_PER["wk" if what == "wk" else what]
        t = _cut(t, m.span())
    if m := _COURSE_RE.search(t):
        course = int(float(m.group(1)))
        t = _cut(t, m.span())
    t = _INFUSION_RE.sub(" ", t)
    t = re.sub(r"\([^)]*\)", " ", t)  # instructions in brackets ("upright 30 min") are not dosing
    phases, leftovers = [], []
    for part in _PHASE_SPLIT.split(t):
        phase, rest = _parse_phase(part)
        if phase:
            phases.append(phase)
        leftovers.extend(
            w for w in re.findall(r"[a-zµμ%/]+|\d+(?:\.\d+)?", rest) if w not in _IGNORABLE and w != "/"
        )
    phases = _fill_forward(phases)
    return Sig(
        text=text,
        phases=tuple(phases),
        prn=prn,
        max_daily=cap,
        duration_days=days,
        course_doses=course,
        unparsed=tuple(leftovers),
    )


def _fill_forward(phases: list[Phase]) -> list[Phase]:
    """A later phase inherits the unit and route it leaves out ("5-10 → 20 mg", "then 4 mg q6h")."""
    out: list[Phase] = []
    for p in phases:
        prev = out[-1] if out else None
        if prev and (p.unit is None or p.route is None or p.frequency is None and not p.bolus):
            p = Phase(
                p.dose,
                p.dose_low,
                p.unit or prev.unit,
                p.route or prev.route,
                p.frequency or (None if p.bolus else prev.frequency),
                p.bolus,
            )
        out.append(p)
    return out
