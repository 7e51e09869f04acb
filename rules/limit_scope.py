"""Which products a dose-limit row covers: one release ("extended"), named product lines
("Hysingla ER"), or every product of the drug; and which rows a more specific one replaces.

An order meets a row for a release when it is of that release or does not say (it is then asked
which it is); a row for product lines when it names one of them, or is of their release without
naming its line (asked which product). For its lines, a product row replaces a row of the same kind
written for the release alone with the same routes, patients and dose band: the most specific row
wins. Rows for every product (ingredient totals) are never replaced.
"""

from __future__ import annotations

from typing import Any

from formulary import DoseLimit


def scope(lim: DoseLimit) -> str:
    """The products a row is written for, as people read them: "Hysingla ER (extended-release)",
    "extended-release products"; "" for a row that covers every product of the drug."""
    if lim.products:
        names = " or ".join(lim.products)
        return f"{names} ({lim.release}-release)" if lim.release else names
    return f"{lim.release}-release products" if lim.release else ""


def release_fits(o: Any, lim: DoseLimit, plain: str | None) -> bool:
    """A row for one release type covers orders of that release, and orders that do not say
    (judged in `_evaluate`: a breach then only asks which product is meant). A plain order of a
    drug whose plain name means one release ("morphine" is IR morphine) is of that release."""
    release = o.release or plain
    return lim.release is None or release is None or release == lim.release


def release_unknown(group: list[Any], lim: DoseLimit, plain: str | None) -> bool:
    return lim.release is not None and plain is None and any(o.release is None for o in group)


def product_fits(o: Any, lim: DoseLimit, plain: str | None, replaced: frozenset[str]) -> bool:
    """A row for named product lines covers orders of those lines, and orders of the same release
    that do not name their line (judged in `_evaluate`: a breach then asks which product is meant);
    an order whose release is not known either is left to the rows for its release. A row for one
    release does not cover the lines a product row of the same kind and patients replaces."""
    if not lim.families:
        return o.family is None or o.family not in replaced
    if o.family is not None:
        return o.family in lim.families
    return (o.release or plain) is not None


def product_unknown(group: list[Any], lim: DoseLimit) -> bool:
    return bool(lim.families) and any(o.family is None for o in group)


def replaced_lines(rows: tuple[DoseLimit, ...]) -> dict[int, frozenset[str]]:
    """For each row written for a release (the generic ER row), the product lines a row of the same
    kind written for those lines replaces it for: same release, same patients, same dose band. The
    most specific row wins: Hysingla ER is judged by its own once-daily row, not by the every-12-hours
    row of extended-release hydrocodone. Rows for every product (ingredient totals) are never replaced."""
    out: dict[int, frozenset[str]] = {}
    for lim in rows:
        if lim.release is None or lim.families:
            continue
        lines = frozenset(line for m in rows if m.families and m.release == lim.release
                          and _same_patients(m, lim) for line in m.families)  # fmt: skip
        if lines:
            out[id(lim)] = lines
    return out


def _same_patients(a: DoseLimit, b: DoseLimit) -> bool:
    return (a.when, a.routes, a.single_above, a.single_upto, a.dose_number_min) == (
        b.when, b.routes, b.single_above, b.single_upto, b.dose_number_min)  # fmt: skip
