"""Orders as a pharmacist types them, one per line, split into the drug named and its sig.

"zoledronic acid 4 mg IV q4 weeks" → drug "zoledronic acid", sig "4 mg IV q4 weeks". The drug
is the longest leading run of words the formulary recognises, so multi-word names and brands
win over their first word; only `Formulary.lookup` is asked, so names other parts of medcheck
add to the vocabulary (products, RxNorm) are found here without change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from formulary import load

MAX_NAME_WORDS = 8  # no drug or product name in the vocabulary is longer than this
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

    def medication(self) -> dict[str, str]:
        """The medication of the regimen: the split line, sent even when not read, so the
        engine reports the unknown drug instead of the page dropping it."""
        med = {"drug": self.drug}
        if self.sig:
            med["sig"] = self.sig
        return med


def split_line(text: str, number: int = 1) -> Line:
    words = text.split()
    f = load()
    for n in range(min(len(words), MAX_NAME_WORDS), 0, -1):
        name = " ".join(words[:n])
        if f.lookup(name) is not None:
            return Line(number, text.strip(), name, " ".join(words[n:]), True)
    # Not recognised: the words before the first number are taken as the name, as the
    # engine's "not in the formulary" finding then quotes it the way it was written.
    cut = next((i for i, w in enumerate(words) if _DOSE_START.match(w)), len(words))
    cut = max(cut, 1)
    return Line(number, text.strip(), " ".join(words[:cut]), " ".join(words[cut:]), False)


def split_lines(text: str) -> list[Line]:
    """Every non-blank line, numbered as typed (blank lines keep their numbers)."""
    out = []
    for i, raw in enumerate(text.splitlines(), start=1):
        if raw.strip():
            out.append(split_line(raw, i))
    return out
