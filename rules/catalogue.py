"""The rules layer's catalogue rows (interactions, duplication, patient cautions, checks, MME)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from checker.quantities import num
from rules.interactions import band_text
from rules.knowledge import knowledge
from rules.model import Selector

if TYPE_CHECKING:
    from rules.safety_data import Cited


def rules() -> list[dict[str, Any]]:
    k = knowledge()

    def row(rid: str, category: str, severity: str, drugs: list[str], summary: str, sid: str,
            verified: bool = True, cited: Any = None) -> dict[str, Any]:  # fmt: skip
        src = k.sources[sid]
        return {"id": rid, "category": category, "severity": severity, "drugs": drugs, "summary": summary,
                "source": src.label, "verified": verified and src.verified, **evidence(cited)}  # fmt: skip

    def names(selectors: Iterable[Selector | None]) -> list[str]:
        return [str(s) for s in selectors if s is not None]

    out = []
    for i in k.interactions:
        out.append(row(f"interaction.{i.id}", "interaction", i.severity, names((i.a, i.b, i.also)), i.effect,
                       i.source, i.verified, i))  # fmt: skip
        if i.when is not None:  # the patients the row is written for (otherwise: every patient)
            out[-1]["patient_band"] = band_text(i.when)
    for r in (*k.duplications, k.same_ingredient):
        drugs = ["any ingredient"] if r is k.same_ingredient else [str(r.selector)]
        out.append(row(f"duplication.{r.id}", "duplication", r.severity, drugs, r.recommendation, r.source,
                       r.verified, r))  # fmt: skip
    for c in k.cautions:
        out.append(row(f"{c.category}.{c.id}", c.category, c.severity, names(c.drugs), c.recommendation,
                       c.source, c.verified, c))  # fmt: skip
        if c.except_drugs:  # "class:nsaid" but not the COX-2 inhibitors
            out[-1]["except_drugs"] = names(c.except_drugs)
    out += [row(f"monitoring.{r.id}", "monitoring", r.severity, names(r.drugs), r.recommendation, r.source,
                r.verified, r) for r in k.checks]  # fmt: skip
    out += [row(f"opioid_load.{int(t.mme)}", "opioid_load", t.severity, ["class:opioid"], t.recommendation,
                t.source, True, t) for t in k.mme_thresholds]  # fmt: skip
    total = "Total opioid load in MME/day, shown for every regimen with an opioid."
    out.append(row("opioid_load.total", "opioid_load", "info", ["class:opioid"], total, k.mme_source, True,
                   k.mme_evidence))  # fmt: skip
    incomplete = (
        "Opioid load not fully counted: an opioid order could not be converted to MME, so the total is a "
        "lower bound and a CDC threshold may be passed unseen (with a cancer condition the total is info)."
    )
    out.append(row("opioid_load.incomplete", "opioid_load", "moderate", ["class:opioid"], incomplete,
                   k.mme_source, True, k.mme_evidence))  # fmt: skip
    from rules.anticoagulants import catalogue_rows

    return out + safety_rules() + catalogue_rows()  # dose limits: checker.catalogue.rule_list


def evidence(cited: Any) -> dict[str, str]:
    """The quoted sentence a rule rests on and where it stands in its source, for the catalogue
    (rule tables spell it `evidence_quote`, the safety and reduction tables `quote`)."""
    quote = getattr(cited, "evidence_quote", None)
    if quote is None:
        quote = getattr(cited, "quote", "")
    where = getattr(cited, "evidence_location", None)
    if where is None:
        where = getattr(cited, "location", "")
    return {"evidence_quote": quote or "", "evidence_location": where or ""}


def safety_rules() -> list[dict[str, Any]]:
    """The safety layer's rules (rules/data/safety.toml), as its findings name them."""
    from rules.safety_data import safety

    s = safety()

    def row(rid: str, category: str, severity: str, drugs: list[str], summary: str,
            r: Cited) -> dict[str, Any]:  # fmt: skip
        src = s.sources[r.source]
        return {"id": rid, "category": category, "severity": severity, "drugs": drugs, "summary": summary,
                "source": src.label, "verified": r.verified and src.verified, **evidence(r)}  # fmt: skip

    la, nx = s.long_acting, s.naloxone
    starts = sorted({r.drug for r in s.naive_start.values()})
    long_acting = [f"class:{c}" for c in sorted(la.classes)]
    out = [
        row("opioid_naive.long_acting", "condition", la.severity, long_acting, la.recommendation, la),
        row("monitoring.opioid_tolerance_unknown", "monitoring", la.unknown_severity, long_acting,
            "Record opioid tolerance before a long-acting opioid.", la),
        row("opioid_naive.start", "dose_single", "major", starts,
            "Single dose above the labelled opioid-naive starting dose (moderate; major at twice it; "
            "monitoring when tolerance is unknown).", next(iter(s.naive_start.values()))),
        row("monitoring.naloxone", "monitoring", nx.severity, ["class:opioid"],
            f"Offer naloxone at {num(nx.mme)} MME/day or more, or with a benzodiazepine.", nx),
    ]  # fmt: skip
    for drug in sorted({c.drug for c in s.ceilings.values()}):
        c = next(c for c in s.ceilings.values() if c.drug == drug)
        summary = "A single dose several times the highest labelled dose: a unit or decimal error."
        out.append(row(f"unit.implausible_dose.{drug}", "unit", "major", [drug], summary, c))
    return out
