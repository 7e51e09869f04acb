"""Free-text sigs ("1 g PO q6h PRN pain", "500 mg 2 tabs po q4h", "300 mg qHS → up to 1.2 g TID")
into structured parts.

The parser never raises: whatever it cannot place is returned in `unparsed`, and the words among
them that could change the dose or the frequency (numbers, units, dose forms, frequency words) in
`dose_unparsed`, so the engine can say the dose was not checked instead of passing it silently.

Every pattern runs on text whose whitespace is already collapsed to single spaces, uses no nested
quantifier, and starts a number only where a digit run starts, so the work is linear in the
length of the text (a 40,000-character sig takes milliseconds).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from checker.frequency import (
    INTERVAL_WORDS,
    NUMBER_WORDS,
    PHRASE_RE,
    Frequency,
    clean,
    parse_frequency,
    shortest_of,
)
from checker.quantities import decimal_commas
from formulary.unit_text import COUNT_WORDS
from formulary.units import UnitError, conversion_factor

_SUPERSCRIPT = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789")
# A number starts where a digit run starts and has bounded length: no float overflow, no re-scans.
_NUM = r"(?<![\d.])\d{1,9}(?:\.\d{1,6})?(?![\d])"
_AMOUNT = (
    r"(?:k|m|g|µ|μ|u)?bq(?:/kg)?|(?:m|µ|μ|u)?ci(?:/kg)?|"
    r"(?:mg|grams?|gms?|g|milligrams?|micrograms?|mcg|µg|μg|ug|ng)"
    r"(?: ?/ ?(?:kg|m2|h|hr|hour|day|d|24 ?h))?|"
    r"(?:iu|units?|meq|mmol)(?:/kg)?|cells?(?:/kg)?"
)
_VOLUME = r"ml|mls|cc|millilit(?:er|re)s?"
_COUNT = "|".join(sorted(COUNT_WORDS, key=len, reverse=True))
_UNIT = rf"{_AMOUNT}|{_VOLUME}|{_COUNT}"
_DOSE_RE = re.compile(
    rf"(?<![\w.])(?:(?P<mult>\d{{1,2}}) ?[x×] ?)?(?P<a>{_NUM})(?: ?(?:-|to|or) ?(?P<b>{_NUM}))?"
    rf" ?(?P<u>{_UNIT})(?![a-z])"
)
_CONC_RE = re.compile(
    rf"(?<![\w.])(?P<a>{_NUM}) ?(?P<u>{_AMOUNT}) ?/ ?(?P<v>{_NUM})? ?(?:{_VOLUME})(?![a-z])"
)
# canonical spellings of the units the formulary's unit table reads
_CANON = (
    (re.compile(r"grams?|gms?"), "g"), (re.compile(r"milligrams?"), "mg"),
    (re.compile(r"micrograms?"), "mcg"), (re.compile(rf"{_VOLUME}"), "mL"),
)  # fmt: skip
_SHORT = {"tablet": "tab", "capsule": "cap", "suppository": "supp"}  # the short spellings sigs give
COUNT_UNITS = frozenset(_SHORT.get(form, form) for form in COUNT_WORDS.values())

_ROUTES = (
    (r"iv ?/ ?po|iv bolus|iv|i\.v\.|intravenous(?:ly)?|into (?:the |a )?(?:venous catheter|vein)", "iv"),
    (r"po|p\.o\.|orally|oral|by mouth|per os", "oral"),
    # "inject 40 mg into the skin" is how some order-entry builds write a subcutaneous dose
    (r"sub-? ?q|s\.?c\.?|subcut(?:aneous(?:ly)?)?|sq|under the skin|into (?:the )?skin", "sc"),
    (r"im|i\.m\.|intramuscular(?:ly)?|into (?:the |a )?muscle", "im"),
    (r"td|transdermal(?:ly)?|patch(?:es)?", "transdermal"),
    (r"intranasal(?:ly)?|nasal(?:ly)?|(?:in )?(?:alternate|each|one) nostrils?|in nostrils?", "intranasal"),
    (r"topical(?:ly)?|to skin", "topical"),
    (r"intra-?articular|facet[- ]joint(?: injection)?", "intra_articular"),
    (r"per level|surgical implant|graft", "implant"),
    (r"pr|rectal(?:ly)?", "rectal"),
    (r"sl|sublingual(?:ly)?|under the tongue", "sublingual"),
    (r"inh|inhaled|by inhalation|inhalation|into the lungs", "inhaled"),
    (r"buccal(?:ly)?|between (?:the )?cheek and gum|(?:oral )?transmucosal(?:ly)?", "buccal"),
)
_ROUTE_RE = [(re.compile(rf"(?<![\w/])(?:{p})(?![\w])"), r) for p, r in _ROUTES]
_PRN_RE = re.compile(r"(?<![\w])(?:prn|p\.r\.n\.|as needed|when required|as required|if needed)(?![\w])")
_NOT_OVER = r"not to exceed|do not exceed|don'?t exceed|not exceeding|nte|no more than|not more than"
_CAP_DAILY_RE = re.compile(
    rf"(?:≤|<=|=<|max(?:imum)?\.?|{_NOT_OVER}|up to) ?(?:of )?({_NUM}) ?({_UNIT})"
    r" ?(?:/|per|a|in|every) ?(?:day|d|24 ?h(?:ours?)?)(?![a-z])"
    # EHR e-prescriptions end with "Max Daily Amount: 40 mg" (it was read as words that could change the dose)
    rf"|max(?:imum)? daily (?:amount|dose):? ?({_NUM}) ?({_UNIT})(?![a-z])"
)
# "(max 8/day)": a cap with no unit is in the dose's own unit (tablets, mL, mg as the dose is written).
_CAP_BARE_RE = re.compile(
    rf"(?:≤|<=|=<|max(?:imum)?\.?|{_NOT_OVER}) ?(?:of )?({_NUM}) ?(doses? ?)?(?:/|per|a|in|every) ?"
    r"(?:day|d|24 ?h(?:ours?)?)(?![a-z])"
)
# A cap over a few hours ("max 20 mg per 4 hours", a PCA's "4-hour limit 20 mg"): read as its daily
# equivalent. Left unread it made the dose "not fully checked" and the PCA's load uncounted.
_CAP_HOURS_RE = re.compile(
    rf"(?:≤|<=|=<|max(?:imum)?\.?|{_NOT_OVER}|up to|limit(?: of)?) ?(?:of )?({_NUM}) ?({_UNIT}) ?"
    rf"(?:/|per|in|every) ?({_NUM}) ?(?:hours?|hrs?|h)(?![a-z])"
    rf"|({_NUM})[- ]?(?:hours?|hrs?|h) (?:limit|max(?:imum)?|dose limit)(?: of|:)? ?"
    rf"({_NUM}) ?({_UNIT})(?![a-z])"
)
# Hold parameters ("hold for RR < 12 or sedation", "do not give if SBP < 90") name vital signs, not
# doses: left in, their numbers made every such opioid order "not fully checked" (moderate).
_HOLD_RE = re.compile(
    r"(?<![a-z])(?:hold|withhold|do not give|don'?t give)(?: dose)? (?:for|if|when) [^;.,]*"
)
# "may repeat x1 in 1 hour": that many more doses within each interval, so up to (1 + n) times as many
# a day. "x1" was read as a one-dose course: the daily total was a single dose.
_REPEAT_RE = re.compile(
    r"(?<![a-z])may (?:repeat|re-?dose|give (?:an? )?(?:additional|another|extra|second) dose)"
    rf"(?: (?:x|×) ?(\d)| (once|twice)| (\d) times?)?"
    rf"(?: (?:in|after) {_NUM} ?(?:min(?:ute)?s?|hours?|hrs?|h))?"
    r"(?![a-z])"
)
# A PCA's lockout is the shortest time between two demand doses: the order's interval, on demand.
_LOCKOUT_RE = re.compile(
    rf"lock-? ?out(?: interval| time)?(?: of|:)? ?({_NUM}) ?(min(?:ute)?s?|hours?|hrs?|h)(?![a-z])"
)
_CAP_DAYS_RE = re.compile(rf"(?:≤|<=|=<|max(?:imum)?\.?|no more than|up to) ?({_NUM}) ?days?(?![a-z])")
_FOR_RE = re.compile(
    rf"(?<![\w])(?:for|x|×) ?({_NUM}) ?(days?|d|weeks?|wks?|w|months?|mos?|doses?|injections?|cycles?)"
    r"(?![\w])"
)
_COURSE_RE = re.compile(rf"(?:×|(?<![\w])x) ?({_NUM})(?! ?\d)(?![\w.])(?! ?(?:{_UNIT})(?![a-z]))")
# "Max 3 doses." (sublingual nitroglycerin every 5 minutes): the doses of the whole course
_COURSE_MAX_RE = re.compile(
    rf"(?<![a-z])(?:max(?:imum)?\.?|up to|{_NOT_OVER}) ?(?:of )?(\d{{1,2}}) doses?(?: total)?(?![a-z/])"
    r"(?! ?(?:per|a|in|every) )"
)
_INFUSION_RE = re.compile(
    rf"over (?:at least )?{_NUM} ?(?:- ?{_NUM} ?)?(?:min(?:ute)?s?|h(?:ours?)?)(?![a-z])"
)
_PAREN_RE = re.compile(r"\([^()]*\)")  # no nesting: each "(" is scanned once
_PHASE_SPLIT = re.compile(r"\bthen\b|→|->|=>|\bthereafter\b|\bfollowed by\b|;")
_CONCURRENT_SPLIT = re.compile(r" and |, | & | plus ")
_WORD_RE = re.compile(r"[a-zµμ%/½]+|\d+(?:\.\d+)?")
_IGNORABLE = frozenset(
    """a an and as at by changed change dose doses each for food from given in into is leave level
    meal meals of on or pain per plain the then titrate titrated titration to up until upright use
    water with without bolus loading load initial initially start starting maintenance apply applied
    replace replaced nostril alternate injection infusion continuous continuously drip slowly slow push
    pca demand patient controlled analgesia breakthrough mild moderate severe if needed after before
    bed empty stomach take takes swallow whole elemental cholecalciferol
    total under fluoroscopy guidance during reconstruction surgery targeted scaffold standardized
    combined epa dha + taper tapering wean weaning off tablet tablets tab tabs capsule capsules cap
    caps patch patches film coated chew chewable dissolve disintegrating mouth sleep nausea vomiting
    anxiety fever headache insomnia cough itching constipation spasm spasms agitation dyspnea
    breath shortness discomfort please monday mondays tuesday tuesdays wednesday wednesdays thursday
    thursdays friday fridays saturday saturdays sunday sundays mon tue tues wed thu thur thurs fri sat
    sun inject place onto skin administer vein veins inhale lungs infuse venous catheter give insert
    tongue muscle crush split packet packets sachet sachets sob chest wheeze wheezing""".split()
)
# Left-over words that could change the dose or the frequency if understood.
_DOSE_WORDS = frozenset(
    """x times q every per hourly hour hours hr hrs h day days daily week weeks weekly month months
    monthly year yearly mg g gm gms gram grams mcg ug µg μg ng kg iu unit units meq mmol ml mls cc
    repeat repeated additional extra another double triple half increase increasing increased more
    max maximum nte twice thrice once
    bid tid qid qd qod qhs hs ac pc q.d. b.i.d. t.i.d. q.i.d. % / ½""".split()
) | frozenset(COUNT_WORDS)
_DAYS_PER = {"day": 1.0, "d": 1.0, "week": 7.0, "wk": 7.0, "w": 7.0, "month": 365.0 / 12, "mo": 365.0 / 12}


MAX_CHARS = 1000  # after whitespace is collapsed; the schema allows 500, the audit's cells more


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
    dose_unparsed: tuple[str, ...] = field(default=())
    release: str | None = None  # "extended" for "30 mg PO q12h ER": the limits and classes follow it

    @property
    def understood(self) -> bool:
        return bool(self.phases) and any(p.dose is not None for p in self.phases)


def canonical_unit(unit: str) -> str:
    """The unit as the formulary reads it: "gm" → "g", "tabs" → "tab", "mls" → "mL"."""
    u = unit.replace(" ", "")
    head, sep, tail = u.partition("/")
    if form := COUNT_WORDS.get(head):
        return _SHORT.get(form, form) + sep + tail
    for rx, name in _CANON:
        if rx.fullmatch(head):
            return name + sep + tail
    return u


# Patient-facing sigs spell counts out ("take one tablet twice a day", "half a tablet"): a number
# word is read only right before a dose unit, so "three times daily" stays a frequency phrase.
_BEFORE_UNIT = rf"(?= (?:{_UNIT})(?![a-z]))"
# Roman numerals before a count, as hand-written sigs give them ("i-ii tabs po q4h"); "iv" never
# (it is the route), only i to iii, and only before a dose form.
_ROMAN_RE = re.compile(rf"(?<![\w.-])(i{{1,3}})(?: ?- ?(i{{1,3}}))?(?= ?(?:{_COUNT})(?![a-z]))")
_WORD_NUMBER_RE = re.compile(
    rf"(?<![\w-])({'|'.join(NUMBER_WORDS)})"
    rf"(?=(?: ?(?:-|to|or) ?(?:{'|'.join(NUMBER_WORDS)}|\d{{1,2}}))? (?:{_UNIT})(?![a-z]))"
)
# Numbers in a sig that are no dose: a pain score ("PRN pain score 4-6") and the water a powder is
# mixed in ("Mix in 8 oz of water"); left in, they made the dose "not fully checked".
_NOT_A_DOSE_RE = re.compile(
    r"(?<![a-z])(?:pain )?(?:score|scale|level) (?:of )?\d{1,2}(?: ?(?:-|to) ?\d{1,2})?(?![\d.])"
    r"|(?<![a-z])(?:mix(?:ed)?|dissolve[d]?|stir(?:red)?) (?:in|into|with) (?:\d{1,3} ?(?:oz|ounces?|ml) )?"
    r"(?:of )?(?:water|juice|liquid|fluid|a beverage)"
    # a fever threshold ("as needed for pain or temp > 38.5", "for fever over 101 F")
    r"|(?<![a-z])(?:(?:temp(?:erature)?|fever|t) ?(?:>=?|≥|over|above|greater than)"
    r"|(?:temp(?:erature)?|fever) of)"
    r" ?\d{2,3}(?:\.\d)? ?°? ?[cf]?(?![a-z\d])"
)
_HALF_RE = re.compile(rf"(?<![\w-])(?:one[- ]half|half(?: of)?(?: an?)?){_BEFORE_UNIT}")
# How long a patch stays on ("12 h on, 12 h off", "remove after 12 hours", "on for 12 hours then
# off for 12 hours"): wear time, not the number applied. Left in, every lidocaine patch order was
# "not fully checked" (moderate). An on/off cycle with no frequency is one application per cycle.
_HOURS = r"(?:hours?|hrs|hr|h)(?![a-z])"
_WEAR_CYCLE_RE = re.compile(
    rf"(?<![\d.])(\d{{1,2}}) ?{_HOURS} on,? (?:and |then |& )?(?:(?:off|remove) (?:for )?)?"
    rf"(\d{{1,2}}) ?{_HOURS}(?: off)?"
    rf"|(?<![a-z])on for (\d{{1,2}}) ?{_HOURS},? (?:and |then )?off for (\d{{1,2}}) ?{_HOURS}"
)
_WEAR_RE = re.compile(
    rf"(?<![a-z])(?:(?:remove|take off)(?: (?:and|&) discard)?(?: (?:the |old )?patch(?:es)?)?"
    rf"|leave (?:it )?on|keep (?:it )?on|wear(?: it)?) (?:after|within|in|for|up to) (\d{{1,2}}) ?{_HOURS}"
    rf"|(?<![a-z])for (\d{{1,2}}) ?{_HOURS},? (?:and |then )?remove(?: for (\d{{1,2}}) ?{_HOURS})?"
    # the lidocaine patch label's own words: "apply for up to 12 hours within a 24 hour period"
    rf"|(?<![a-z])(?:apply |wear |leave on )?(?:for )?up to \d{{1,2}} ?{_HOURS}"
    rf" (?:within|in|per|out of) (?:a|each|every|any) \d{{1,2}}[- ]?{_HOURS}(?: period)?"
)


_ECHOED = "|".join(sorted(map(re.escape, INTERVAL_WORDS), key=len, reverse=True))
_ECHO_RE = re.compile(rf"(?<![\d.])(\d+(?:\.\d+)?) \((?:{_ECHOED})\)")  # from a number's start: linear
_TOTAL_RE = re.compile(
    rf"(?:(?<![\w.])\d+(?:\.\d+)?(?: ?(?:-|to) ?\d+(?:\.\d+)?)? ?(?:{_COUNT}|mls?|each|units?) )?"
    r"\((\d+(?:\.\d+)?(?: ?(?:-|to) ?\d+(?:\.\d+)?)?) ?([a-zµ]+(?: ?/ ?[a-z]+)?) total\)"
)


def _prepare(text: str) -> str:
    t = clean(text.translate(_SUPERSCRIPT))
    t = decimal_commas(t)  # "1,000 mg", "0,5 mg"
    # EHR e-prescriptions: "every 4 (four) hours" and "take 2 tablets (1,000 mg total)": the number
    # echoed in words, and the amount per dose that makes the count of tablets redundant
    t = _ECHO_RE.sub(r"\1", t)
    t = _TOTAL_RE.sub(r" \1 \2 ", t)
    t = _NOT_A_DOSE_RE.sub(" ", t)
    t = _HALF_RE.sub("0.5", t)
    t = _WORD_NUMBER_RE.sub(lambda m: str(NUMBER_WORDS[m.group(1)]), t)
    t = _ROMAN_RE.sub(lambda m: str(len(m[1])) + (f"-{len(m[2])}" if m[2] else ""), t)
    t = re.sub(r"(?<![\d.])(\d{1,6}) ?(?:1/2|½)(?![\d/])", lambda m: f"{m.group(1)}.5", t)  # "1 1/2 tabs"
    t = re.sub(r"(?<![\d./])(?:1/2|½)(?![\d/])", "0.5", t)
    # "1 × 10^6 cells/kg", "1x10^6", "1e6" → a plain number (exponents bounded: no overflow)
    t = re.sub(
        r"(?<![\d.])(\d{1,9}(?:\.\d{1,6})?) ?[x*] ?10\^?(\d{1,2})(?!\d)",
        lambda m: f"{float(m.group(1)) * 10 ** int(m.group(2)):.0f}",
        t,
    )
    return re.sub(
        r"(?<![\d.])(\d{1,9}(?:\.\d{1,6})?)e(\d{1,2})(?!\d)", lambda m: f"{float(m.group(0)):.0f}", t
    )


def _cut(text: str, span: tuple[int, int]) -> str:
    return text[: span[0]] + " " * (span[1] - span[0]) + text[span[1] :]


def _cut_all(text: str, spans: list[tuple[int, int]]) -> str:
    """Blank out many ordered, non-overlapping spans in one pass (one `_cut` each would be quadratic)."""
    parts, at = [], 0
    for start, end in spans:
        parts += [text[at:start], " " * (end - start)]
        at = end
    parts.append(text[at:])
    return "".join(parts)


def _dose(rest: str) -> tuple[float | None, float | None, str | None, str]:
    """(dose, low, unit, rest): one amount, one count, or a strength times a count ("500 mg 2 tabs")."""
    conc = _CONC_RE.search(rest)
    per_ml = None
    if conc and float(conc["a"]) > 0:
        per_ml = (float(conc["a"]) / float(conc["v"] or 1), canonical_unit(conc["u"]))
        rest = _cut(rest, conc.span())
    amounts: list[Any] = []
    counts: list[Any] = []
    volumes: list[Any] = []
    for m in _DOSE_RE.finditer(rest):
        unit = canonical_unit(m["u"])
        high, low = (float(m["b"]), float(m["a"])) if m["b"] else (float(m["a"]), None)
        if m["mult"]:
            high, low = high * float(m["mult"]), (low * float(m["mult"]) if low is not None else None)
        if high <= 0 or (low is not None and low > high):
            continue  # a zero or reversed dose is left unparsed, never checked as a number
        kind = counts if unit in COUNT_UNITS else volumes if unit == "mL" else amounts
        kind.append((high, low, unit, m.span()))
    if per_ml and len(volumes) == 1 and not amounts:
        high, low, _, span = volumes[0]
        factor, unit = per_ml
        return high * factor, (low * factor if low is not None else None), unit, _cut(rest, span)
    if per_ml:
        return None, None, None, rest
    if len(amounts) == 1 and len(counts) == 1 and not volumes and "/kg" not in amounts[0][2]:
        (a, a_low, unit, s1), (n, n_low, _, s2) = amounts[0], counts[0]
        low = (a_low or a) * n_low if (a_low is not None or n_low is not None) else None
        return a * n, low, unit, _cut(_cut(rest, s1), s2)
    chosen = amounts or counts or volumes
    if not chosen or (amounts and volumes):
        return None, None, None, rest  # a dose and a volume with no strength: not read
    high, low, unit, span = chosen[0]
    return high, low, unit, _cut(rest, span)


MAX_BARE_COUNT = 4  # "1 bid" is one tablet; "500 bid" is a dose with its unit left out: not read
_BARE_COUNT_RE = re.compile(
    rf" *(?:(?:take|give|apply|use|chew|insert|inhale) +)?(?P<a>{_NUM})"
    rf"(?: ?(?:-|to|or) ?(?P<b>{_NUM}))?(?![\w.])"
)


def _parse_phase(text: str) -> tuple[Phase | None, str]:
    rest = re.sub(r"^ *up to ", " ", text)
    dose, low, unit, rest = _dose(rest)
    route = freq = None
    for rx, name in _ROUTE_RE:
        if m := rx.search(rest):
            route = route or name
            rest = _cut(rest, m.span())
    found = list(PHRASE_RE.finditer(rest))
    words = [m.group(0) for m in found]
    rest = _cut_all(rest, [m.span() for m in found])
    if words:
        freq = parse_frequency(" ".join(words))
    bolus = bool(re.search(r"\b(?:bolus|loading|stat|once)\b", text)) and freq is None
    if dose is None and (route or freq) and (m := _BARE_COUNT_RE.match(rest)):
        # "1 po bid", "take 2 by mouth twice daily": a count of the product's units (tablets,
        # capsules…), as a unit-less number before the route or frequency is nothing else
        high, low = (float(m["b"]), float(m["a"])) if m["b"] else (float(m["a"]), None)
        if 0 < high <= MAX_BARE_COUNT and (low is None or 0 < low <= high):
            dose, low, unit, rest = high, low, "each", _cut(rest, m.span())
    if dose is None and route is None and freq is None:
        return None, rest
    return Phase(dose, low, unit, route, freq, bolus), rest


def _concurrent(part: str) -> tuple[Phase, str, float] | None:
    """ "1 g qam and 500 mg qhs": doses at different times of one day, as one phase and its daily sum.

    The phase carries the largest single dose and every administration of the day; the exact daily
    sum is returned for the caller to state as the order's cap.
    """
    pieces = _CONCURRENT_SPLIT.split(part)
    if len(pieces) < 2:
        return None
    parsed = [_parse_phase(p) for p in pieces]
    dosed = [(ph, rest) for ph, rest in parsed if ph and ph.dose is not None]
    if len(dosed) < 2 or any(ph.frequency is None or ph.frequency.interval_h is None for ph, _ in dosed):
        return None
    unit = dosed[0][0].unit or ""
    try:
        factors = [1.0 if ph.unit == unit else conversion_factor(ph.unit or "", unit) for ph, _ in dosed]
    except UnitError:
        return None  # "1 tab qam and 5 mg qhs": no common unit, left unread
    intervals = [ph.frequency.interval_h for ph, _ in dosed if ph.frequency and ph.frequency.interval_h]
    rate = sum(1.0 / h for h in intervals)  # every dosed phase has one: checked above
    amounts = [(ph.dose or 0.0) * k for (ph, _), k in zip(dosed, factors, strict=True)]
    daily = sum(a * 24.0 / h for a, h in zip(amounts, intervals, strict=True))
    top = replace(dosed[0][0], dose=max(amounts), unit=unit)
    route = next((ph.route for ph, _ in dosed if ph.route), None)
    often = Frequency(part.strip(), round(1.0 / rate, 9), shortest_h=shortest_of(intervals))
    merged = replace(top, route=route, frequency=often, dose_low=None)
    return merged, " ".join(rest for _, rest in parsed), daily


# A release word in a sig ("30 mg PO q12h ER"): the short forms a prescriber writes after a dose,
# not the name-only ones ("PR" is per rectum in a sig, "Cr" creatinine; "LA" and "MR" are rare).
_RELEASE_RE = re.compile(
    r"\b(?:(immediate[- ]release|ir|short[- ]acting)|extended[- ]release|controlled[- ]release|"
    r"sustained[- ]release|long[- ]acting|er|xr|xl|sr)\b"
)


@lru_cache(maxsize=8192)
def parse_sig(text: str) -> Sig:
    """Parse a sig. Pure and cached: the batch audit parses each distinct text once."""
    try:
        return _parse(text)
    except Exception:  # a parser bug must not hide the order: report it as not understood
        return Sig(text=text, unparsed=(text,), dose_unparsed=(text,))


def _parse(text: str, limit: int | None = MAX_CHARS) -> Sig:
    if limit is not None and len(t := clean(text)) > limit:
        note = f"(a sig of {len(t)} characters: longer than any dose instruction, not read)"
        return Sig(text=text, unparsed=(note,), dose_unparsed=(note,))
    t = _prepare(text)
    prn = bool(_PRN_RE.search(t))
    t = _PRN_RE.sub(" ", t)
    t, repeats, cycle = _around_the_dose(t)
    cap = days = course = None
    bare = per_dose = False
    # A cap of nothing ("max 0 mg/day") is no cap: it would make the daily total zero. Left in the
    # text, its words are reported as not understood.
    if (m := _CAP_DAILY_RE.search(t)) and float(m.group(1) or m.group(3)) > 0:
        number, unit = (m.group(1), m.group(2)) if m.group(1) is not None else (m.group(3), m.group(4))
        cap = (float(number), canonical_unit(unit))
        t = _cut(t, m.span())
    elif (m := _CAP_BARE_RE.search(t)) and float(m.group(1)) > 0:
        cap, bare, per_dose = (float(m.group(1)), ""), True, bool(m.group(2))
        t = _cut(t, m.span())
    elif m := _CAP_HOURS_RE.search(t):
        amount, unit, hours = (m.group(1), m.group(2), m.group(3)) if m.group(1) else m.group(5, 6, 4)
        if 0 < float(hours) <= 24 and float(amount) > 0:
            cap = (round(float(amount) * 24 / float(hours), 6), canonical_unit(unit))
            t = _cut(t, m.span())
    lockout = None
    if m := _LOCKOUT_RE.search(t):
        lockout = f"every {m.group(1)} {'minutes' if m.group(2).startswith('m') else 'hours'}"
        prn = True  # a demand dose is taken on demand
        t = _cut(t, m.span())
    if m := _CAP_DAYS_RE.search(t):
        days = float(m.group(1))
        t = _cut(t, m.span())
    durations = list(_FOR_RE.finditer(t))
    for m in durations:
        n, what = float(m.group(1)), m.group(2).rstrip("s")
        if what in ("dose", "injection", "cycle"):
            course = int(n)
        else:
            days = n * _DAYS_PER[what]
    t = _cut_all(t, [m.span() for m in durations])
    if m := _COURSE_RE.search(t):
        course = int(float(m.group(1)))
        t = _cut(t, m.span())
    elif (m := _COURSE_MAX_RE.search(t)) and int(m.group(1)) > 0:
        course = int(m.group(1))
        t = _cut(t, m.span())
    release = None
    if m := _RELEASE_RE.search(t):
        release = "immediate" if m.group(1) else "extended"
        t = _cut(t, m.span())
    t = _INFUSION_RE.sub(" ", t)
    t = _PAREN_RE.sub(" ", t)  # instructions in brackets ("upright 30 min") are not dosing
    phases: list[Phase] = []
    leftovers: list[str] = []
    for part in _PHASE_SPLIT.split(t):
        phase: Phase | None
        if (both := _concurrent(part)) is not None:
            phase, rest, daily = both
            if cap is None or cap[1] == phase.unit and daily < cap[0]:
                cap = (daily, phase.unit or "")
        else:
            phase, rest = _parse_phase(part)
        if phase:
            phases.append(phase)
        leftovers.extend(w for w in _WORD_RE.findall(rest) if w not in _IGNORABLE and w != "/")
    relevant = tuple(w for w in leftovers if _could_change_dose(w))
    if bare and cap is not None and not cap[1]:
        # "max 8/day" after "1-2 tabs" is 8 tablets; after "500 mg" it is 8 doses (the larger
        # reading: a cap must never hide a dose). No dose unit: "" and the order says so.
        dosed = next((p for p in phases if p.dose is not None and p.unit), None)
        if dosed and dosed.unit and (dosed.unit in COUNT_UNITS or dosed.unit == "mL") and not per_dose:
            cap = (cap[0], dosed.unit)  # "max 4 doses/day" of "2 tabs" is 8 tablets: per_dose
        elif dosed and dosed.unit and dosed.dose is not None:
            cap = (cap[0] * dosed.dose, dosed.unit)
        else:
            cap = (cap[0], "")
    if repeats:  # on average every interval / (1 + repeats): the doses of a day counted right
        phases = [
            replace(p, frequency=parse_frequency(f"every {p.frequency.interval_h / (1 + repeats):g} hours"))
            if p.frequency and p.frequency.interval_h else p
            for p in phases
        ]
    if (cycle or lockout) and phases and all(p.frequency is None for p in phases):
        every = parse_frequency(lockout or f"every {cycle:g} hours")
        phases = [replace(p, frequency=every) for p in phases]
    return Sig(
        text=text,
        phases=tuple(_fill_forward(phases)),
        prn=prn,
        max_daily=cap,
        duration_days=days,
        course_doses=course,
        unparsed=tuple(leftovers),
        dose_unparsed=relevant,
        release=release,
    )


def _around_the_dose(t: str) -> tuple[str, int, float | None]:
    """Cut what surrounds the doses: hold parameters (vital signs), a repeat allowance ("may repeat
    x1": how many more doses per interval) and patch wear time (an on/off cycle in hours, which is
    the interval when nothing else gives one)."""
    t = _HOLD_RE.sub(" ", t)
    repeats = 0
    if m := _REPEAT_RE.search(t):
        repeats = int(m.group(1) or m.group(3) or (2 if m.group(2) == "twice" else 1))
        t = _cut(t, m.span())
    cycle = None
    if m := _WEAR_CYCLE_RE.search(t):
        on, off = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        cycle = float(on) + float(off)
        t = _cut(t, m.span())
    if m := _WEAR_RE.search(t):
        if m.group(2) and m.group(3) and cycle is None:  # "for 12 hours then remove for 12 hours"
            cycle = float(m.group(2)) + float(m.group(3))
        t = _cut(t, m.span())
    return t, repeats, cycle


def _could_change_dose(word: str) -> bool:
    """A number, a unit or dose form, a frequency word, or an unknown q-abbreviation ("q2d", "qwk")."""
    return (
        any(c.isdigit() for c in word)
        or word in _DOSE_WORDS
        or (word.startswith("q") and len(word) <= 6)
        or PHRASE_RE.fullmatch(word) is not None
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
