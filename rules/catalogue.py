"""The rules layer's catalogue rows (interactions, duplication, patient cautions, checks, MME)."""

from __future__ import annotations

from typing import Any

from rules.knowledge import knowledge


def rules() -> list[dict[str, Any]]:
    k = knowledge()

    def row(rid: str, category: str, severity: str, drugs: list[str], summary: str, sid: str,
            verified: bool = True) -> dict[str, Any]:  # fmt: skip
        src = k.sources[sid]
        return {"id": rid, "category": category, "severity": severity, "drugs": drugs, "summary": summary,
                "source": src.label, "verified": verified and src.verified}  # fmt: skip

    def names(selectors) -> list[str]:
        return [str(s) for s in selectors if s is not None]

    out = [row(f"interaction.{r.id}", "interaction", r.severity, names((r.a, r.b, r.also)), r.effect,
               r.source, r.verified) for r in k.interactions]  # fmt: skip
    for r in (*k.duplications, k.same_ingredient):
        drugs = ["any ingredient"] if r is k.same_ingredient else [str(r.selector)]
        out.append(row(f"duplication.{r.id}", "duplication", r.severity, drugs, r.recommendation, r.source,
                       r.verified))  # fmt: skip
    out += [row(f"{r.category}.{r.id}", r.category, r.severity, names(r.drugs), r.recommendation, r.source,
                r.verified) for r in k.cautions]  # fmt: skip
    out += [row(f"monitoring.{r.id}", "monitoring", r.severity, names(r.drugs), r.recommendation, r.source,
                r.verified) for r in k.checks]  # fmt: skip
    out += [row(f"opioid_load.{int(t.mme)}", "opioid_load", t.severity, ["class:opioid"], t.recommendation,
                t.source) for t in k.mme_thresholds]  # fmt: skip
    total = "Total opioid load in MME/day, shown for every regimen with an opioid."
    out.append(row("opioid_load.total", "opioid_load", "info", ["class:opioid"], total, k.mme_source))

    return out
