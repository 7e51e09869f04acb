"""The site layer applied to a report, and to the rule catalogue: pure functions.

Applied after the engine, by public rule id, so the rules themselves never know about sites.
A suppressed finding is counted in `suppressed` and, on request, shown marked as suppressed:
what a site turned off is always visible, never silently gone.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from checker.model import Finding, Patient, Report
from checker.site.loader import condition_id
from checker.site.model import Site


def _conditions(patient: Patient) -> frozenset[str]:
    from formulary import key
    from formulary import load as load_formulary

    known = load_formulary().conditions
    return frozenset(known.get(key(c)) or condition_id(c) for c in patient.conditions)


def apply(report: Report, site: Site | None, patient: Patient, include_suppressed: bool = False) -> Report:
    """`report` as the site sees it: severities changed, suppressed findings counted (and kept,
    marked, when `include_suppressed`), knowledge_version tagged with the site file's digest."""
    if site is None:
        return report
    conditions = _conditions(patient) if site.suppressions else frozenset()
    kept: list[Finding] = []
    suppressed = 0
    for f in report.findings:
        rule = f.rule or f.code
        change = site.changes.get(rule)
        if change is not None and change.severity != f.severity:
            f = replace(f, severity=change.severity,
                        site={"package_severity": f.severity, **change.note()})  # fmt: skip
        hit = _suppression(site, rule, f, report, patient, conditions)
        if hit is not None:
            suppressed += 1
            if not include_suppressed:
                continue
            f = replace(f, suppressed=True, site={**f.site, "suppressed": hit})
        kept.append(f)
    kept.sort(key=lambda x: (x.suppressed, x.sort_key()))
    return replace(report, knowledge_version=report.knowledge_version + site.tag, findings=tuple(kept),
                   suppressed=suppressed)  # fmt: skip


def _suppression(site: Site, rule: str, f: Finding, report: Report, patient: Patient,
                 conditions: frozenset[str]) -> dict[str, Any] | None:  # fmt: skip
    candidates = [s for s in site.suppressions if s.rule == rule]
    if not candidates:
        return None
    meds = report.medications
    routes = frozenset(r for i in f.medications if 0 <= i < len(meds) and (r := meds[i].get("route")))
    for s in candidates:
        if s.holds(patient, conditions, routes):
            return s.note()
    return None


def rules_view(rows: list[dict[str, Any]], site: Site | None) -> list[dict[str, Any]]:
    """Catalogue rows with each rule's effective severity and where it comes from (package or
    site), the package's severity beside a changed one, and any suppressions."""
    out = []
    local = {f"dose.{d}." for d in (site.local_drugs if site else ())}
    for row in rows:
        row = {**row, "origin": "package"}
        if site is not None:
            rid = row["id"]
            if rid in site.local_rules or any(rid.startswith(p) for p in local):
                row["origin"] = "site"
            if (change := site.changes.get(rid)) is not None:
                row.update(origin="site", package_severity=row["severity"], severity=change.severity,
                           site=change.note())  # fmt: skip
            if sup := [s.note() for s in site.suppressions if s.rule == rid]:
                row["origin"] = "site"
                row["suppressed"] = sup
        out.append(row)
    return out
