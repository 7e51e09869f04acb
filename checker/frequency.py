"""Frequencies as pharmacists write them, turned into an interval and a number of doses a day.

The interval kept is the shortest the text allows ("q4-6h" → 4 h), because both the interval
check and the daily total must assume the order is used as often as it permits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

HOURS_PER = {"min": 1 / 60, "h": 1.0, "d": 24.0, "w": 168.0, "mo": 730.0}
_UNIT_WORDS = {
    "m": "min",
    "min": "min",
    "mins": "min",
    "minute": "min",
    "minutes": "min",
    "h": "h",
    "hr": "h",
    "hrs": "h",
    "hour": "h",
    "hours": "h",
    "hourly": "h",
    "d": "d",
    "day": "d",
    "days": "d",
    "daily": "d",
    "w": "w",
    "wk": "w",
    "wks": "w",
    "week": "w",
    "weeks": "w",
    "weekly": "w",
    "mo": "mo",
    "month": "mo",
    "months": "mo",
    "monthly": "mo",
}
_NUM = r"(\d+(?:\.\d+)?)"
_RANGE = _NUM + r"(?:\s*(?:-|–|—|to)\s*" + _NUM + r")?"

# Fixed phrases → interval in hours (None = a single dose).
_FIXED: tuple[tuple[str, float | None], ...] = (
    (r"once|stat|single(?:\s+(?:dose|shot|injection))?|one\s+time|x\s*1|once\s+only|now", None),
    (
        r"q\.?d\.?|o\.?d\.?|daily|once\s+(?:a\s+)?dai?ly|once\s+a\s+day|every\s+day|each\s+day"
        r"|per\s+day|a\s+day|q24h?|qam|qpm|q\.?h\.?s\.?|h\.?s\.?|at\s+bedtime|bedtime|nightly"
        r"|at\s+night|every\s+(?:night|morning|evening)|in\s+the\s+(?:morning|evening)|qn",
        24.0,
    ),
    (r"b\.?i\.?d\.?|twice\s+(?:a\s+)?(?:daily|day)|two\s+times\s+(?:a\s+)?(?:daily|day)|q12h?", 12.0),
    (r"t\.?i\.?d\.?|three\s+times\s+(?:a\s+)?(?:daily|day)|thrice\s+daily|q8h?", 8.0),
    (r"q\.?i\.?d\.?|four\s+times\s+(?:a\s+)?(?:daily|day)|q6h?", 6.0),
    (r"q\.?o\.?d\.?|every\s+other\s+day|alternate\s+days|on\s+alternate\s+days", 48.0),
    (r"weekly|once\s+(?:a\s+)?week(?:ly)?|every\s+week|q\.?\s*(?:1\s*)?wk|q\s*week|per\s+week", 168.0),
    (r"monthly|once\s+(?:a\s+)?month(?:ly)?|every\s+month|q\s*month|per\s+month", 720.0),
    (r"(?:every|per)\s+(?:hour)|hourly", 1.0),
)
_FIXED_RE = [(re.compile(rf"^(?:{p})$"), h) for p, h in _FIXED]
_TIMES = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}


@dataclass(frozen=True, slots=True)
class Frequency:
    """How often an order repeats. `interval_h` is None for a single dose."""

    text: str
    interval_h: float | None

    @property
    def doses_per_day(self) -> float:
        """Doses in 24 hours at the most frequent use the order allows (a single dose counts 1)."""
        return 1.0 if self.interval_h is None else 24.0 / self.interval_h


def _clean(text: str) -> str:
    t = text.strip().lower().replace("–", "-").replace("—", "-")
    return re.sub(r"\s+", " ", t)


@lru_cache(maxsize=4096)
def parse_frequency(text: str) -> Frequency | None:
    """Parse a frequency; None when the text is not a frequency we understand."""
    t = _clean(text)
    if not t:
        return None
    for rx, hours in _FIXED_RE:
        if rx.match(t):
            return Frequency(text, hours)
    # q4h, q4-6h, q 6 h, q72h, q4w, every 6 hours, every 3-4 weeks, every 72 h
    m = re.fullmatch(rf"(?:q|every|each)\s*{_RANGE}\s*([a-z]+)\.?", t)
    if m and (unit := _UNIT_WORDS.get(m.group(3))):
        low = float(m.group(1))
        if low > 0:
            return Frequency(text, low * HOURS_PER[unit])
        return None
    # 3 times daily, 2x/day, 3 times a day, twice weekly
    m = re.fullmatch(
        r"(\d+|one|two|three|four|five|six|twice|thrice)\s*(?:x|times)\s*(?:a|per|/)?\s*(day|daily|d|week|weekly|wk)",
        t,
    )  # noqa: E501
    if m:
        n = {"twice": 2, "thrice": 3}.get(m.group(1)) or _TIMES.get(m.group(1)) or int(m.group(1))
        if n > 0:
            per = 24.0 if m.group(2) in ("day", "daily", "d") else 168.0
            return Frequency(text, per / n)
    return None
