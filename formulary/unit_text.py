"""Reading a unit as a prescriber writes it, before pint sees anything.

pint's parser evaluates expressions: "g*0" is zero grams, "-g" minus one gram, "g-g" nothing,
"mg*10^400" overflows and "10^100000000" makes Python build a hundred-million-digit integer. A
unit field is none of that. Here a unit is read by a one-pass tokenizer and a small grammar:

    unit    := [scale] word [power] { ("/" | "per") word [power] }      (or "/" word ... : "/uL")
    scale   := ["x" | "×" | "*"] "10" ("^" | "*" | "**" | superscript) 1-2 digits  (10^9/L, 10*3/uL)
    word    := a known unit: one of the project's spellings (case-insensitive), a name the project
               defines (units.txt), or an SI prefix and a symbol (kBq, nmol, mIU, dL ...)
    power   := 2 or 3, as "m2", "m^2", "m**2" or "m²" (mg/m2, cells/mm3)

Nothing else is a unit: no numbers but the scale and the power, no "*" between units, no signs.
The reading is linear in the text and refuses anything longer than MAX_UNIT_LENGTH at once.
It gives (scale, ((pint name, power, +1 or -1), ...)) and never touches pint, so the decision is
cheap and pure; `formulary.units` builds the pint quantity from it.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

MAX_UNIT_LENGTH = 50  # "micrograms/kilogram/minute" is 26; the regimen schema uses the same bound
_MAX_TERMS = 4  # ug/kg/min is 3
_MAX_SCALE_EXPONENT = 18

# Counts of a dose form as written → the form counted (a unit of units.txt). The one table that
# sigs (checker.sig), the unit field (here) and product doses (checker.product_doses) read: a new
# spelling of a count is one entry here.
COUNT_WORDS = {
    "tab": "tablet", "tabs": "tablet", "tablet": "tablet", "tablets": "tablet",
    "caplet": "tablet", "caplets": "tablet",
    "cap": "capsule", "caps": "capsule", "capsule": "capsule", "capsules": "capsule",
    "gelcap": "capsule", "gelcaps": "capsule",
    "patch": "patch", "patches": "patch", "spray": "spray", "sprays": "spray",
    "puff": "puff", "puffs": "puff", "drop": "drop", "drops": "drop", "gtt": "drop", "gtts": "drop",
    "lozenge": "lozenge", "lozenges": "lozenge", "troche": "lozenge", "troches": "lozenge",
    "film": "film", "films": "film",
    "supp": "suppository", "suppository": "suppository", "suppositories": "suppository",
}  # fmt: skip

# Whole-word spellings, matched case-insensitively: clinical spellings → pint names.
ALIASES = {
    "mg": "mg", "milligram": "mg", "milligrams": "mg", "mgs": "mg", "mcgs": "ug", "gms": "g", "mls": "mL",
    "g": "g", "gm": "g", "gram": "g", "grams": "g",
    "kg": "kg", "kilogram": "kg", "kilograms": "kg",
    "mcg": "ug", "ug": "ug", "µg": "ug", "μg": "ug", "microgram": "ug", "micrograms": "ug",
    "ng": "ng", "nanogram": "ng", "nanograms": "ng",
    "ml": "mL", "milliliter": "mL", "milliliters": "mL", "millilitre": "mL", "millilitres": "mL",
    "cc": "mL", "ul": "uL", "µl": "uL", "μl": "uL", "mcl": "uL",
    "l": "L", "liter": "L", "liters": "L", "litre": "L", "litres": "L", "dl": "dL",
    "mm": "mm", "cm": "cm", "m": "m",
    "iu": "IU", "unit": "IU", "units": "IU", "u": "IU",
    "meq": "mEq", "mmol": "mmol", "millimole": "mmol", "millimoles": "mmol",
    "umol": "umol", "µmol": "umol", "μmol": "umol",
    "bq": "Bq", "kbq": "kBq", "mbq": "MBq", "gbq": "GBq",
    "ci": "Ci", "mci": "mCi", "uci": "uCi", "µci": "uCi", "μci": "uCi",
    "s": "second", "sec": "second", "second": "second", "seconds": "second",
    "min": "minute", "mins": "minute", "minute": "minute", "minutes": "minute",
    "h": "hour", "hr": "hour", "hrs": "hour", "hour": "hour", "hours": "hour",
    "d": "day", "day": "day", "days": "day",
    "wk": "week", "week": "week", "weeks": "week",
    "cell": "cell", "cells": "cell",
    **COUNT_WORDS,
    # patient measures written with their unit ("154 lb", "462 msec", "81 yrs"): checker.fields.MeasureField
    "lb": "pound", "lbs": "pound", "pound": "pound", "pounds": "pound", "oz": "ounce", "ounce": "ounce",
    "ounces": "ounce",
    "ms": "millisecond", "msec": "millisecond", "millisecond": "millisecond", "milliseconds": "millisecond",
    "y": "year", "yr": "year", "yrs": "year", "year": "year", "years": "year",
    "mo": "month", "mos": "month", "month": "month", "months": "month",
}  # fmt: skip

# SI prefixes people put before a symbol (case-sensitive: "Mg" is not "mg" here, but "MG" and "Mg"
# are already read as milligrams by ALIASES above, as medcheck always has).
PREFIXES = {"p": "p", "n": "n", "u": "u", "µ": "u", "μ": "u", "m": "m", "c": "c", "d": "d", "k": "k",
            "M": "M", "G": "G"}  # fmt: skip
SYMBOLS = {"g": "g", "L": "L", "l": "L", "mol": "mol", "Eq": "Eq", "Bq": "Bq", "Ci": "Ci", "IU": "IU",
           "m": "m"}  # fmt: skip

_SUPERSCRIPT = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789")
# One token at a time, each alternative a plain run: no nested quantifiers, so linear.
_TOKENS = re.compile(r"(?P<word>[A-Za-z_µμ]+)|(?P<num>[0-9]+)|(?P<sup>[⁰¹²³⁴⁵⁶⁷⁸⁹]+)|(?P<op>\*\*|[/*^·×.])"
                     r"|(?P<space>\s+)|(?P<bad>.)")  # fmt: skip


class UnitError(ValueError):
    """A unit string that is not a unit we can trust (here: not one a prescriber writes)."""


def _defined_names() -> frozenset[str]:
    """Names and symbols the project's definitions file gives (tablet, cap, IU, Eq ...)."""
    names: set[str] = set()
    text = (resources.files("formulary") / "data" / "units.txt").read_text(encoding="utf-8")
    for line in text.splitlines():
        line = line.split("#", 1)[0]
        if "=" not in line:
            continue
        parts = [p.strip() for p in line.split("=")]
        names.update(p for p in (parts[0], *parts[2:]) if p.isidentifier())
    return frozenset(names)


DEFINED = _defined_names()


def unit_name(word: str) -> str | None:
    """The pint name of one unit word, or None when it is not a unit medcheck knows."""
    alias = ALIASES.get(word.lower())
    if alias is not None:
        return alias
    if word in DEFINED:
        return word
    if word in SYMBOLS:
        return SYMBOLS[word]
    if len(word) > 1 and word[0] in PREFIXES and word[1:] in SYMBOLS:
        return PREFIXES[word[0]] + SYMBOLS[word[1:]]
    return None


Term = tuple[str, int, int]  # (pint name, power, +1 in the numerator or -1 in the denominator)


@lru_cache(maxsize=4096)
def read_unit_text(text: str) -> tuple[int, tuple[Term, ...]]:
    """(power of ten, terms) of a unit string; UnitError for anything that is not a unit.

    Memoised per distinct string (a batch repeats a few spellings a million times)."""
    if len(text) > MAX_UNIT_LENGTH:
        raise UnitError(f"a unit is at most {MAX_UNIT_LENGTH} characters")
    tokens = _tokens(text)
    if not tokens:
        raise UnitError("empty unit")
    return _Reader(tokens, text).unit()


def check_unit_text(text: str) -> None:
    """Raise UnitError unless `text` reads as a unit; the cheap, cached gate for callers."""
    if len(text) > MAX_UNIT_LENGTH:  # before the cache: a long string is never kept
        raise UnitError(f"a unit is at most {MAX_UNIT_LENGTH} characters")
    read_unit_text(text)


def _tokens(text: str) -> list[tuple[str, str, bool]]:
    """(kind, text, spaced before) per token, spaces dropped."""
    out, spaced = [], False
    for m in _TOKENS.finditer(text):
        kind = m.lastgroup or "bad"
        if kind == "space":
            spaced = True
            continue
        if kind == "bad":
            raise UnitError(f"{m.group()!r} has no place in a unit")
        out.append((kind, m.group(), spaced))
        spaced = False
    return out


class _Reader:
    """The grammar of the module docstring over a token list; each token is looked at once."""

    def __init__(self, tokens: list[tuple[str, str, bool]], text: str):
        self.tokens, self.at, self.text = tokens, 0, text

    def peek(self, ahead: int = 0) -> tuple[str, str, bool]:
        i = self.at + ahead
        return self.tokens[i] if i < len(self.tokens) else ("end", "", False)

    def take(self) -> tuple[str, str, bool]:
        tok = self.peek()
        self.at += 1
        return tok

    def fail(self, why: str) -> UnitError:
        return UnitError(f"{self.text!r} is not a unit: {why}")

    def unit(self) -> tuple[int, tuple[Term, ...]]:
        terms: list[Term] = []
        scale = 0
        if self._separator():  # "/uL" and "per day" begin with the division
            terms.append(self._term(-1))
        else:
            scale = self._scale()
            if not (scale and self._is_separator()):  # "10^9/L": a power of ten over a unit
                terms.append(self._term(+1))
        while self.peek()[0] != "end":
            if not self._separator():
                raise self.fail("units are joined only by '/' or 'per'")
            terms.append(self._term(-1))
            if len(terms) > _MAX_TERMS:
                raise self.fail(f"more than {_MAX_TERMS} units")
        return scale, tuple(terms)

    def _is_separator(self) -> bool:
        kind, value, _ = self.peek()
        return (kind == "op" and value == "/") or (kind == "word" and value.lower() == "per")

    def _separator(self) -> bool:
        if self._is_separator():
            self.at += 1
            return True
        return False

    def _scale(self) -> int:
        """An optional leading power of ten ("10^9", "x10^9", "10*3", "10⁹"); its exponent."""
        kind, value, _ = self.peek()
        marker = (kind == "op" and value in "*×") or (kind == "word" and value in ("x", "X"))
        if marker and self.peek(1)[:2] == ("num", "10"):
            self.at += 1
            kind, value, _ = self.peek()
        if kind != "num":
            return 0
        if value != "10":
            raise self.fail("a number is not a unit (only a power of ten such as 10^9 may lead)")
        self.at += 1
        kind, value, spaced = self.take()
        if kind == "sup" and not spaced:
            digits = value.translate(_SUPERSCRIPT)
        elif kind == "op" and value in ("^", "*", "**") and not spaced:
            kind, digits, spaced = self.take()
            if kind != "num" or spaced:
                raise self.fail("a power of ten needs its exponent, e.g. 10^9")
        else:
            raise self.fail("a number is not a unit (only a power of ten such as 10^9 may lead)")
        if len(digits) > 2 or not 1 <= int(digits) <= _MAX_SCALE_EXPONENT:
            raise self.fail(f"a power of ten between 10^1 and 10^{_MAX_SCALE_EXPONENT} only")
        return int(digits)

    def _term(self, sign: int) -> Term:
        kind, value, _ = self.take()
        if kind != "word":
            raise self.fail("a unit name was expected" if kind != "end" else "it ends too early")
        name = unit_name(value)
        if name is None:
            raise self.fail(f"{value!r} is not a unit medcheck knows")
        if self.peek()[:2] == ("op", ".") and self.peek(1)[0] != "word":
            self.at += 1  # an abbreviation's full stop: "tab.", "mg."
        return name, self._power(), sign

    def _power(self) -> int:
        """2 or 3 written right after the unit (m2, m^2, m**2, m²), else 1."""
        kind, value, spaced = self.peek()
        if spaced:
            return 1
        if kind == "op" and value in ("^", "**"):
            nxt = self.peek(1)
            if nxt[0] != "num" or nxt[2]:
                raise self.fail("a power needs its number, e.g. m^2")
            self.at += 1
            kind, value, _ = nxt
        if kind == "sup":
            value = value.translate(_SUPERSCRIPT)
        elif kind != "num":
            return 1
        if value not in ("2", "3"):
            raise self.fail("a unit's power is 2 or 3 (m2, mm3)")
        self.at += 1
        return int(value)
