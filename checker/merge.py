"""Findings that ask the pharmacist for the same thing, shown once (issue 17, alert fatigue).

Several rules can reach the same advice for the same order by different roads: denosumab with a
measured low calcium and with "hypocalcemia" in the patient's conditions; radium-223 with both
platelets and neutrophils low; hydromorphone with both renal and hepatic impairment. Each is right
on its own, but a list (or a CDS card stack) that says the same thing twice teaches readers to
skim. Two findings are one piece of advice when all of these hold:

* they concern the same medications (indexes) and the same drugs;
* they belong to the same family of categories (`FAMILIES`): a patient-state caution is not merged
  with a dose limit or with a missing-information check, even if the words happen to agree;
* their recommendations are the same text, once case, spacing and a final full stop are ignored.
  The knowledge files decide what merges: two rows merge exactly when they give the same advice;
* the site layer left both shown, or both suppressed.

The merged finding is the most severe one (on a tie, the first in report order), keeping its
code, rule, category and source; its message gains, after "Also:", what the others' messages add;
every other finding it absorbed is kept whole, in report order, in `evidence.merged` (rule, code,
category, severity, message, evidence, source), so no number and no source is lost. `input`,
`unit` and `unrecognized` findings each name a different thing that could not be read or checked
and are never merged.

Applied after the site layer (checker.site.checked), because a site changes severities and
suppresses findings by each rule's own id: a rule suppressed there must not take another rule's
advice with it, and a severity raised there must compete with its merge partners.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from typing import Any

from checker.model import Finding, Report

FAMILIES = {
    "renal": "patient",
    "hepatic": "patient",
    "age": "patient",
    "condition": "patient",
    "dose_single": "dose",
    "dose_daily": "dose",
    "frequency": "dose",
    "duration": "dose",
    "course": "dose",
    "weight_based": "dose",
    "opioid_load": "dose",
    "interaction": "combination",
    "duplication": "combination",
    "monitoring": "monitoring",
}

MergeKey = tuple[bool, str, tuple[str, ...], tuple[int, ...], str]


@lru_cache(maxsize=4096)
def advice(text: str) -> str:
    """The recommendation as compared: case, spacing and a final full stop do not make new advice."""
    return " ".join(text.split()).casefold().rstrip(".")


def merge_key(f: Finding) -> MergeKey | None:
    """What makes two findings one piece of advice; None for a finding never merged."""
    family = FAMILIES.get(f.category)
    said = advice(f.recommendation)
    if family is None or not said or not f.medications:
        return None
    return (f.suppressed, family, f.drugs, f.medications, said)


def absorbed(f: Finding) -> dict[str, Any]:
    """A merged-away finding as `evidence.merged` lists it: whole, so its numbers and source stay."""
    out: dict[str, Any] = {
        "rule": f.rule or f.code,
        "code": f.code,
        "category": f.category,
        "severity": f.severity,
        "message": f.message,
    }
    if f.evidence:
        out["evidence"] = f.evidence
    if f.source:
        out["source"] = f.source
    if f.site:
        out["site"] = f.site
    return out


def merge_findings(findings: list[Finding] | tuple[Finding, ...]) -> tuple[Finding, ...]:
    """`findings` with each group of same-advice findings replaced by its most severe member, the
    others listed in its `evidence.merged`, sorted as reports are (shown first, then `sort_key`).
    With nothing to merge (most reports) the findings come back as given, untouched."""
    keys = [merge_key(f) for f in findings]
    named = [k for k in keys if k is not None]
    if len(set(named)) == len(named):
        return tuple(findings)
    ordered = sorted(zip(findings, keys, strict=True), key=lambda x: (x[0].suppressed, x[0].sort_key()))
    groups: dict[MergeKey, list[Finding]] = {}
    out: list[Finding | list[Finding]] = []
    for f, key in ordered:
        if key is None:
            out.append(f)
        elif key in groups:
            groups[key].append(f)
        else:
            groups[key] = [f]
            out.append(groups[key])
    merged = (x if isinstance(x, Finding) else _one(x) for x in out)
    return tuple(sorted(merged, key=lambda x: (x.suppressed, x.sort_key())))  # a longer message may move one


def _one(group: list[Finding]) -> Finding:
    """The group as one finding: sorted, so the first is the most severe (ties: report order)."""
    winner, *others = group
    if not others:
        return winner
    kept = [*winner.evidence.get("merged", ()), *(absorbed(o) for o in others)]
    return replace(winner, message=_told(winner, others), evidence={**winner.evidence, "merged": kept})


def _told(winner: Finding, others: list[Finding]) -> str:
    """The winner's message and, after "Also:", what the others add: the audit's CSV and a card's
    summary carry no evidence, so a second low count or a per-dose excess must be in the words.
    A message the winner already says (the same sentence without the numbers) is not repeated."""
    said = advice(winner.message)
    extra = [o.message for o in others if advice(o.message) not in said]
    extra = list(dict.fromkeys(extra))
    return f"{winner.message} Also: {' '.join(extra)}" if extra else winner.message


def merge_report(report: Report) -> Report:
    """`report` with same-advice findings merged (see the module docstring); counts follow."""
    if len(report.findings) < 2:
        return report
    merged = merge_findings(report.findings)
    return report if len(merged) == len(report.findings) else replace(report, findings=merged)


def unmerged(findings: list[Finding] | tuple[Finding, ...]) -> tuple[Finding, ...]:
    """Every finding as its rule made it, the merged ones taken back out of `evidence.merged` (they
    share the orders, drugs and advice of the finding that absorbed them): for a host or a test that
    asks whether a given rule spoke, not what the reader is shown."""
    out: list[Finding] = []
    for f in findings:
        entries = f.evidence.get("merged") or ()
        if not entries:
            out.append(f)
            continue
        out.append(replace(f, evidence={k: v for k, v in f.evidence.items() if k != "merged"}))
        for e in entries:
            out.append(
                replace(
                    f,
                    code=e["code"],
                    rule=e["rule"],
                    category=e["category"],
                    severity=e["severity"],
                    message=e["message"],
                    evidence=e.get("evidence", {}),
                    source=e.get("source", {}),
                    site=e.get("site", {}),
                )
            )
    return tuple(out)
