"""The rules layer's catalogue rows (interactions, duplication, patient cautions, checks, MME)."""

from __future__ import annotations

from typing import Any

from rules.knowledge import knowledge


def rules() -> list[dict[str, Any]]:
    k = knowledge()

    def src(sid: str) -> str:
        return k.sources[sid].label

    def ok(sid: str, verified: bool) -> bool:
        return verified and k.sources[sid].verified

    out: list[dict[str, Any]] = []
    for r in k.interactions:
        out.append(
            {
                "id": f"interaction.{r.id}",
                "category": "interaction",
                "severity": r.severity,
                "drugs": [str(r.a), str(r.b)] + ([str(r.also)] if r.also else []),
                "summary": r.effect,
                "source": src(r.source),
                "verified": ok(r.source, r.verified),
            }
        )
    for r in (*k.duplications, k.same_ingredient):
        out.append(
            {
                "id": f"duplication.{r.id}",
                "category": "duplication",
                "severity": r.severity,
                "drugs": ["any ingredient"] if r is k.same_ingredient else [str(r.selector)],
                "summary": r.recommendation,
                "source": src(r.source),
                "verified": ok(r.source, r.verified),
            }
        )
    for r in k.cautions:
        out.append(
            {
                "id": f"{r.category}.{r.id}",
                "category": r.category,
                "severity": r.severity,
                "drugs": [str(s) for s in r.drugs],
                "summary": r.recommendation,
                "source": src(r.source),
                "verified": ok(r.source, r.verified),
            }
        )
    for r in k.checks:
        out.append(
            {
                "id": f"monitoring.{r.id}",
                "category": "monitoring",
                "severity": r.severity,
                "drugs": [str(s) for s in r.drugs],
                "summary": r.recommendation,
                "source": src(r.source),
                "verified": ok(r.source, r.verified),
            }
        )
    for t in k.mme_thresholds:
        out.append(
            {
                "id": f"opioid_load.{int(t.mme)}",
                "category": "opioid_load",
                "severity": t.severity,
                "drugs": ["class:opioid"],
                "summary": t.recommendation,
                "source": src(t.source),
                "verified": ok(t.source, True),
            }
        )
    return out
