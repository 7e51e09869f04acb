"""Building findings: one constructor, and the source block every finding carries."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from checker.model import Finding
from formulary import Source


class HasSources(Protocol):
    """A knowledge table citing sources by id: the formulary, the rules' knowledge, or a rule
    module's own table (safety, anticoagulant reductions)."""

    @property
    def sources(self) -> Mapping[str, Source]: ...


def source_block(
    f: HasSources, source_id: str | None, verified: bool = True, rule: Any = None
) -> dict[str, Any]:
    """The finding's `source`: label and url, the quoted sentence the rule rests on and where it
    stands (`quote`, `location`, so a page or card can show it), and `verified: false` when the
    statement is unconfirmed. `rule` is any record with `evidence_quote`/`evidence_location`."""
    if not source_id:
        return {}
    src = f.sources[source_id]
    out: dict[str, Any] = {"id": src.id, "label": src.label}
    if src.url:
        out["url"] = src.url
    if quote := getattr(rule, "evidence_quote", ""):
        out["quote"] = quote
        out["location"] = getattr(rule, "evidence_location", "")
    if not (verified and src.verified):
        out["verified"] = False
        out["note"] = "Not confirmed against the primary label; treat as advisory."
    return out


def finding(
    code: str,
    category: str,
    severity: str,
    drugs: tuple[str, ...] | list[str],
    medications: tuple[int, ...] | list[int],
    message: str,
    recommendation: str = "",
    evidence: dict[str, Any] | None = None,
    source: dict[str, Any] | None = None,
    rule: str | None = None,
) -> Finding:
    """`rule` is the public id of the rule behind the finding (GET /v1/rules); the code by default."""
    return Finding(
        code=code,
        category=category,
        severity=severity,
        drugs=tuple(sorted(set(drugs))),
        medications=tuple(sorted(set(medications))),
        message=message,
        recommendation=recommendation,
        evidence=evidence or {},
        source=source or {},
        rule=rule or code,
    )
