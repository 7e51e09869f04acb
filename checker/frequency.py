"""Frequencies as pharmacists write them, turned into an interval and a number of doses a day.

The interval kept is the shortest the text allows ("q4-6h" → 4 h), because both the interval
check and the daily total must assume the order is used as often as it permits.

The text is read as a sequence of known phrases; a word that is none of them makes the whole
frequency "not understood" (None), so a qualifier we do not know can never shrink a count.
Phrases joined by "and"/"&"/"+" are separate administrations and add up ("qam and qhs" = 2 a
day); within one part, meal and time-of-day words only qualify an explicit count ("BID with
meals" = 2 a day) and stand for a count only when alone ("ac" = with each meal = 3 a day).
Every pattern is a flat alternation over text whose whitespace is already collapsed, so the
work is linear in the length of the text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

MAX_CHARS = 300
HOURS_PER = {"min": 1 / 60, "h": 1.0, "d": 24.0, "w": 168.0, "mo": 730.0, "y": 8760.0}
_UNIT_WORDS = {
    "m": "min", "min": "min", "mins": "min", "minute": "min", "minutes": "min",
    "h": "h", "hr": "h", "hrs": "h", "hour": "h", "hours": "h", "hourly": "h",
    "d": "d", "day": "d", "days": "d", "daily": "d",
    "w": "w", "wk": "w", "wks": "w", "week": "w", "weeks": "w", "weekly": "w",
    "mo": "mo", "mos": "mo", "month": "mo", "months": "mo", "monthly": "mo",
    "y": "y", "yr": "y", "yrs": "y", "year": "y", "years": "y", "yearly": "y",
}  # fmt: skip
_N = r"(?<![\d.])(\d{1,6}(?:\.\d{1,4})?)"
_UNIT_ALT = "|".join(sorted(_UNIT_WORDS, key=len, reverse=True))

# (pattern, kind, hours). Kinds: "n" an explicit interval; "once" a single dose; "slot" a time
# of day (one a day each when no explicit count is given); "meals" with/before/after meals (three
# a day when alone: a dose with each meal); "mod" a qualifier that never counts; "prn".
_PER = r"(?:a |per |/ ?)?"
_PRN = r"p\.?r\.?n\.?|as needed|as required|when required|if needed|when needed"
_PHRASES: tuple[tuple[str, str, float | None], ...] = (
    (_PRN, "prn", None),
    (rf"once {_PER}(?:day|daily)|q\.?d\.?|o\.?d\.?|daily|every day|each day|per day|a day|qday|q daily"
     r"|dly|once every day", "n", 24.0),
    (rf"b\.?i\.?d\.?|bd|twice {_PER}(?:day|daily)|twice", "n", 12.0),
    (rf"t\.?i\.?d\.?|tds|thrice {_PER}(?:day|daily)|thrice", "n", 8.0),
    (r"q\.?i\.?d\.?|qds", "n", 6.0),
    (r"q\.?o\.?d\.?|every other day|(?:on )?alternate days|every (?:2nd|second) day", "n", 48.0),
    (rf"once {_PER}week(?:ly)?|weekly|every week|q ?wk|q ?week|per week|wk"
     r"|(?:every|each|on) (?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)s?", "n", 168.0),
    (r"every other week|every (?:2nd|second) week|fortnightly", "n", 336.0),
    (r"biweekly", "n", 84.0),  # twice a week or every two weeks: the more frequent is checked
    (r"t\.?i\.?w\.?|m-?w-?f|mon ?/ ?wed ?/ ?fri", "n", 56.0),  # three times a week
    (r"tue ?/ ?thu", "n", 84.0),  # twice a week
    (rf"once {_PER}month(?:ly)?|monthly|every month|q ?month|per month|mo", "n", 720.0),
    (rf"once {_PER}year(?:ly)?|yearly|annually|annual|every year|q ?year|per year", "n", 8760.0),
    (r"every hour|per hour|hourly|q ?h(?:our|r)?", "n", 1.0),
    (r"once only|one time(?: only)?|single (?:dose|shot|injection)|once|stat|now|x ?1|single",
     "once", None),
    (r"q\.? ?a\.?m\.?|q\.? ?p\.?m\.?|q\.? ?h\.?s\.?|h\.?s\.?|q ?night|at bedtime|bedtime|before bed"
     r"|at bed|bed|nightly|at night|(?:every|each) (?:night|morning|evening)|in the (?:morning|evening)"
     r"|(?:each|every) (?:am|pm)|qn|mane|nocte|morning|evening|at noon|noon|a\.?m\.?|p\.?m\.?", "slot", None),
    # clock times, one administration each: "at 8am and 8pm", "08:00 and 20:00"
    (r"(?:at )?(?:1[0-2]|0?[1-9])(?::[0-5]\d)? ?(?:a\.?m\.?|p\.?m\.?)|(?:at )?(?:[01]?\d|2[0-3]):[0-5]\d",
     "slot", None),
    (r"a\.?c\.?|p\.?c\.?|(?:with|before|after) (?:each |a )?(?:meals?|food)", "meals", None),
    (r"(?:(?:with|before|after|at) )?(?:breakfast|lunch|dinner|supper)", "slot", None),  # one meal: one dose
    (r"on an empty stomach|with (?:a )?(?:glass of )?water|with (?:a )?snack|with milk", "mod", None),
    # "q4h while awake" is checked as q4h: the most the order allows, so a cap never hides a dose
    (r"while awake|(?:a)?round the clock|a\.?t\.?c\.?", "mod", None),
)
_SIMPLE = "|".join(f"(?P<k{i}>{p})" for i, (p, _, _) in enumerate(_PHRASES))
_KINDS = tuple((k, h) for _, k, h in _PHRASES)
# q4h, q 4-6 h, every 4 to 6 hours, every 3-4 weeks, q72h, every 12 months
_EVERY = rf"(?P<every>(?:q|every|each) ?{_N}(?: ?(?:-|to) ?{_N})? ?(?P<eu>{_UNIT_ALT})\.?)"
# Counts as words, for "three times daily" here and "take one tablet" in sigs (checker.sig).
NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                "nine": 9, "ten": 10}  # fmt: skip
# 3 times daily, 2x/day, 3x weekly, twice weekly, five times a day
_TIMES = (
    rf"(?P<times>(?:(?<![\d.])(?P<tn>\d{{1,3}}|{'|'.join(NUMBER_WORDS)}) ?(?:x|times)|(?P<tw>twice|thrice))"
    rf" ?{_PER}(?P<tp>day|daily|d|week|weekly|wk|month|monthly|year|yearly))"
)
PHRASE = rf"(?:{_EVERY}|{_TIMES}|{_SIMPLE})(?![a-z\d])"
PHRASE_RE = re.compile(rf"(?<![a-z\d]){PHRASE}")
_TOKEN_RE = re.compile(rf"{PHRASE}|(?P<other>\S+)")
_TIMES_WORDS = {**NUMBER_WORDS, "twice": 2, "thrice": 3}
_SEP = re.compile(r" ?(?:\band\b|&|\+|,|;) ?")


@dataclass(frozen=True, slots=True)
class Frequency:
    """How often an order repeats. `interval_h` is None for a single dose."""

    text: str
    interval_h: float | None
    prn: bool = False
    # Separate schedules added up ("q12h and q4h prn") repeat on average every 3 h, which counts the
    # doses of a day right but is no gap any dose is given at: the interval rules check the
    # shortest interval a part states instead. None when that is `interval_h` ("qam and qhs").
    shortest_h: float | None = None

    @property
    def doses_per_day(self) -> float:
        """Doses in 24 hours at the most frequent use the order allows (a single dose counts 1)."""
        return 1.0 if self.interval_h is None else 24.0 / self.interval_h


def shortest_of(intervals: Iterable[float]) -> float | None:
    """The shortest of the intervals of schedules added up, when they differ (else None)."""
    hours = {round(h, 9) for h in intervals}
    return min(hours) if len(hours) > 1 else None


_DAY_SEP = r"(?:, ?| ?/ ?| and | & | )"
# Days of the week written out ("Mon, Wed and Fri", "Tuesday/Thursday") become one token before
# the text is split at "and" and commas into separate administrations.
_WEEKDAYS = (
    (re.compile(rf"(?<![a-z])mon(?:day)?s?{_DAY_SEP}wed(?:nesday)?s?{_DAY_SEP}fri(?:day)?s?(?![a-z])"),
     "mon/wed/fri"),
    (re.compile(rf"(?<![a-z])tue(?:s(?:day)?)?s?{_DAY_SEP}thu(?:r(?:s(?:day)?)?)?s?(?![a-z])"), "tue/thu"),
)  # fmt: skip


# "every six hours", "every four to six hours": e-prescriptions spell intervals out
def _spelled() -> dict[str, int]:
    """Every number from one to ninety-nine as e-prescriptions echo it ("every 28 (twenty-eight)
    days", "every 21 (twenty one) days"): with only a few of them listed, the echo of any other was
    left in and the frequency of every 28-day denosumab or zoledronic acid order went unread."""
    ones = "one two three four five six seven eight nine".split()
    teens = "ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
    tens = "twenty thirty forty fifty sixty seventy eighty ninety".split()
    out = {w: n for n, w in enumerate(ones, 1)} | {w: n for n, w in enumerate(teens, 10)}
    for t, ten in zip(tens, range(20, 100, 10), strict=True):
        out[t] = ten
        for o, one in zip(ones, range(1, 10), strict=True):
            out[f"{t}-{o}"] = out[f"{t} {o}"] = ten + one
    return out


INTERVAL_WORDS = _spelled()  # one to ninety-nine (NUMBER_WORDS, one to ten, among them)
_WORD = "|".join(sorted(map(re.escape, INTERVAL_WORDS), key=len, reverse=True))
_EVERY_WORDS_RE = re.compile(rf"(?<![a-z])(every|each|q) ({_WORD})(?: ?(-|to|or) ?({_WORD}))?(?![a-z])")


def _digits(m: re.Match[str]) -> str:
    low = f"{m.group(1)} {INTERVAL_WORDS[m.group(2)]}"
    return f"{low} {m.group(3)} {INTERVAL_WORDS[m.group(4)]}" if m.group(4) else low


def clean(text: str) -> str:
    """Lower case, dashes unified, whitespace collapsed (the precondition of every pattern here),
    weekdays of a weekly schedule joined into one word, intervals written in words as digits."""
    t = " ".join(text.lower().replace("–", "-").replace("—", "-").replace("×", "x").split())
    if "mon" in t or "tue" in t:
        for rx, joined in _WEEKDAYS:
            t = rx.sub(joined, t)
    if "every" in t or "each" in t or "q " in t:
        t = _EVERY_WORDS_RE.sub(_digits, t)
    return t


def _rate(m: re.Match[str]) -> tuple[str, float | None]:
    """The kind of one matched phrase and, for an explicit count, its doses per hour."""
    if m["every"] is not None:
        low = float(m.group(2))
        return ("n", 1.0 / (low * HOURS_PER[_UNIT_WORDS[m["eu"]]])) if low > 0 else ("bad", None)
    if m["times"] is not None:
        n = float(_TIMES_WORDS.get(m["tn"] or m["tw"]) or m["tn"])
        return ("n", n / HOURS_PER[_UNIT_WORDS[m["tp"]]]) if n > 0 else ("bad", None)
    kind, hours = _KINDS[int((m.lastgroup or "k0")[1:])]
    return kind, (1.0 / hours if hours else None)


def _part_rate(part: str) -> tuple[float | None, bool, bool] | None:
    """(doses per hour or None, prn, gives a dose) of one part; None when a word is unknown."""
    rates: list[float] = []
    once = prn = meals = False
    slots: set[str] = set()
    for m in _TOKEN_RE.finditer(part):
        if m["other"] is not None:
            return None
        kind, rate = _rate(m)
        if kind == "bad":
            return None
        if rate is not None:
            rates.append(rate)
        once = once or kind == "once"
        prn = prn or kind == "prn"
        meals = meals or kind == "meals"
        if kind == "slot":
            slots.add(_time_of_day(m.group(0)))
    if rates:
        return max(rates), prn, True
    if meals or slots:
        return (3.0 * meals + len(slots)) / 24.0, prn, True
    return None, prn, once


_TIMES_OF_DAY = tuple(
    (re.compile(p), name)
    for p, name in ((r"bed|night|h\.?s|nocte|qn", "night"), (r"morning|mane|a\.?m|breakfast", "morning"),
                    (r"evening|p\.?m|dinner|supper", "evening"), (r"noon|lunch", "noon"))
)  # fmt: skip


def _time_of_day(word: str) -> str:
    """The administration a time word names: "nightly at bedtime" is one dose, not two (it was
    counted as two, every 12 h). A clock time ("8am") is its own administration."""
    if not any(c.isdigit() for c in word):
        for rx, name in _TIMES_OF_DAY:
            if rx.search(word):
                return name
    return word


_AS_NEEDED = re.compile(rf"(?<![a-z])(?:{_PRN})(?![a-z])")


def _without_indication(t: str) -> str:
    """ "every 6 hours as needed for pain" → "every 6 hours as needed": the reason after a PRN word
    is no frequency, and left in it made the whole frequency unread (one dose a day was counted).
    Only words that are no frequency are dropped ("prn every six hours" keeps its interval)."""
    m = _AS_NEEDED.search(t)
    if m is None or m.end() == len(t):
        return t
    tail = t[m.end():]
    if tail[:1] != " " or any(x["other"] is None for x in _TOKEN_RE.finditer(tail)):
        return t
    return t[: m.end()]


@lru_cache(maxsize=4096)
def parse_frequency(text: str) -> Frequency | None:
    """Parse a frequency; None when any word of the text is not a frequency word we understand."""
    t = clean(text)
    if len(t) > MAX_CHARS:
        return None  # no frequency is written in this many words
    t = _without_indication(t)
    total, prn, single = 0.0, False, False
    rates: list[float] = []
    for part in _SEP.split(t):
        got = _part_rate(part) if part else (None, False, False)
        if got is None:
            return None
        rate, p, doses = got
        prn = prn or p
        if rate is not None:
            total += rate
            rates.append(rate)
        elif doses:
            single = True
    if total > 0:  # 1/(1/49) is not 49 in floating point: rounded
        return Frequency(text, round(1.0 / total, 9), prn, shortest_of(1.0 / r for r in rates))
    if single:
        return Frequency(text, None, prn)
    return None
