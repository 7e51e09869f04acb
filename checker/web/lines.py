"""Orders as a pharmacist types them, one per line, split into the drug named and its sig.

"zoledronic acid 4 mg IV q4 weeks" → drug "zoledronic acid", sig "4 mg IV q4 weeks". The drug
is the longest leading run of words the formulary recognises, so multi-word names and brands
win over their first word; only `Formulary.lookup` is asked, so names other parts of medcheck
add to the vocabulary (products, RxNorm) are found here without change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from checker.sig import parse_sig
from formulary import Formulary, load
from formulary.resolve import resolve

MAX_NAME_WORDS = 8  # no drug or product name in the vocabulary is longer than this
MAX_PRODUCT_WORDS = 12  # a product name as typed: ingredients, strengths, form ("… 5-325 mg oral tablet")
MAX_LINES = 100  # more orders than any regimen a person types; the rest are reported, not read
_DOSE_START = re.compile(r"^[\d.,/½¼¾]")


@dataclass(frozen=True)
class Line:
    """One typed line: `number` is 1-based as the user sees it; `read` says the drug was found."""

    number: int
    text: str
    drug: str
    sig: str
    read: bool
    fields: dict[str, Any] = field(default_factory=dict)  # a structured row's dose, unit, route …

    @property
    def label(self) -> str:
        return f"Row {self.number}" if self.fields else f"Line {self.number}"

    def medication(self) -> dict[str, Any]:
        """The medication of the regimen: the split line, sent even when not read, so the
        engine reports the unknown drug instead of the page dropping it."""
        med: dict[str, Any] = {"drug": self.drug, **self.fields}
        if self.sig:
            med["sig"] = self.sig
        return med


def split_line(text: str, number: int = 1) -> Line:
    words = text.split()
    f = load()
    for n in range(min(len(words), MAX_NAME_WORDS), 0, -1):
        name = " ".join(words[:n])
        if f.lookup(name) is not None:
            k = _product_end(f, words, n)
            return Line(number, text.strip(), " ".join(words[:k]), " ".join(words[k:]), True)
    if k := _product_end(f, words, 0):  # "oxycodone-acetaminophen 5-325 mg | 1-2 tabs q4h": a product
        return Line(number, text.strip(), " ".join(words[:k]), " ".join(words[k:]), True)
    # Not recognised: the words before the first number are taken as the name, as the
    # engine's "not in the formulary" finding then quotes it the way it was written.
    cut = next((i for i, w in enumerate(words) if _DOSE_START.match(w)), len(words))
    cut = max(cut, 1)
    return Line(number, text.strip(), " ".join(words[:cut]), " ".join(words[cut:]), False)


def _product_end(f: Formulary, words: list[str], known: int) -> int:
    """Where the drug's name ends when it goes on as a product name: "Voltaren gel | 4 g qid",
    "Caltrate 600+D3 | 1 tab bid", "naproxen 500 mg tablet | 1 po bid". The longest name the
    resolver reads whose remaining words are a sig with a dose, read in full; else the words the
    formulary knows (`known`), as before."""
    for k in range(min(len(words) - 1, MAX_PRODUCT_WORDS), known, -1):
        sig = parse_sig(" ".join(words[k:]))
        if sig.understood and not sig.dose_unparsed and resolve(f, " ".join(words[:k])) is not None:
            return k
    return known


def structured(number: int, drug: str, fields: dict[str, Any]) -> Line:
    """An order given field by field (drug, dose, unit, route, frequency, PRN)."""
    shown = " ".join(str(v) for k, v in fields.items() if k != "prn" and v != "")
    text = f"{drug} {shown}".strip() + (" PRN" if fields.get("prn") else "")
    return Line(number, text, drug.strip(), "", load().lookup(drug) is not None, fields)


def split_lines(text: str) -> list[Line]:
    """Every non-blank line, numbered as typed (blank lines keep their numbers)."""
    out = []
    for i, raw in enumerate(text.splitlines(), start=1):
        if raw.strip():
            out.append(split_line(raw, i))
    return out
