"""Read-only views of the knowledge for people: the formulary and the rule catalogue.

The CLI and the HTTP service both show these, so the shapes are built once, here.
"""

from __future__ import annotations

from typing import Any

from checker.findings import source_block
from formulary import DoseLimit, Drug, Formulary
from formulary import load as load_formulary
from formulary.model import LIMIT_FIELDS
from rules.dose import describe, scope


def drug_list() -> list[dict[str, Any]]:
    f = load_formulary()
    return [
        {"id": d.id, "name": d.name, "kind": d.kind, "classes": sorted(d.classes)}
        for d in sorted(f.drugs.values(), key=lambda d: d.id)
    ]


def _summary(lim: DoseLimit, unit: str) -> str:
    when, products = _when(lim), scope(lim)
    return "; ".join(describe(lim, unit)) + (f" for {products}" if products else "") + (
        f" (when {when})" if when else "")  # fmt: skip


def _scope(lim: DoseLimit) -> dict[str, Any]:
    """The products a row is written for: its release and the product lines it names (absent: all)."""
    return {**({"release": lim.release} if lim.release else {}),
            **({"products": list(lim.products)} if lim.products else {})}  # fmt: skip


def _when(lim: DoseLimit) -> dict[str, Any]:
    w = lim.when
    return {
        k: (list(v) if isinstance(v, tuple) else v)
        for k in w.__dataclass_fields__
        if (v := getattr(w, k)) not in (None, ())
    }


def limit_dict(f: Formulary, d: Drug, lim: DoseLimit) -> dict[str, Any]:
    unit = d.unit_for(lim.routes[0])
    return {
        "routes": list(lim.routes),
        "when": _when(lim),
        "category": lim.category,
        "severity": lim.severity,
        "unit": unit,
        **_scope(lim),
        **{k: getattr(lim, k) for k in LIMIT_FIELDS if getattr(lim, k) is not None},
        "summary": _summary(lim, unit),
        "recommendation": lim.recommendation,
        "note": lim.note,
        "verified": lim.verified and f.sources[lim.source].verified,
        "source": source_block(f, lim.source, lim.verified, lim),
    }


def drug_detail(name: str) -> dict[str, Any] | None:
    f = load_formulary()
    d = f.drugs.get(name) or f.lookup(name)
    if d is None:
        return None
    return {
        "id": d.id,
        "name": d.name,
        "kind": d.kind,
        "classes": sorted(d.classes),
        "dose_unit": d.dose_unit,
        "route_units": dict(d.route_units),
        "routes": list(d.routes),
        "brands": list(d.brands),
        "synonyms": list(d.synonyms),
        "atc": list(d.atc),
        "rxcui": list(d.rxcui),
        "limits": [limit_dict(f, d, lim) for lim in d.limits],
        "note": d.note,
        "source": source_block(f, d.source),
    }


def rule_list() -> list[dict[str, Any]]:
    """Every rule: dose limits from the formulary, then the rules layer's tables."""
    from rules.catalogue import rules as layer_rules

    f = load_formulary()
    out = []
    for d in sorted(f.drugs.values(), key=lambda d: d.id):
        for i, lim in enumerate(d.limits):
            out.append(
                {
                    "id": f"dose.{d.id}.{i}",
                    "category": lim.category or "dose",
                    "severity": lim.severity,
                    "drugs": [d.id],
                    "summary": _summary(lim, d.unit_for(lim.routes[0])),
                    "source": f.sources[lim.source].label,
                    "verified": lim.verified and f.sources[lim.source].verified,
                    "evidence_quote": lim.evidence_quote,
                    "evidence_location": lim.evidence_location,
                    **_scope(lim),
                }
            )
    return out + layer_rules()
