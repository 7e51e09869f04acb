"""Plain values passed between the edge, the engine and the rules: patient, medication, finding.

The schemas at the edges build these; the engine and the rules only ever see these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SEVERITIES = ("contraindicated", "major", "moderate", "minor", "info")
SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}


@dataclass(frozen=True, slots=True)
class Patient:
    """What is known of the patient; None means unknown, never "normal"."""

    id: str | None = None
    age_years: float | None = None
    weight_kg: float | None = None
    sex: str | None = None
    crcl_ml_min: float | None = None
    serum_creatinine_mg_dl: float | None = None
    egfr: float | None = None
    hepatic_impairment: str | None = None
    qtc_ms: float | None = None
    serum_calcium_mg_dl: float | None = None
    albumin_g_dl: float | None = None
    platelets_10e9_l: float | None = None
    anc_10e9_l: float | None = None
    hemoglobin_g_dl: float | None = None
    opioid_tolerant: bool | None = None
    dental_exam_done: bool | None = None
    pregnant: bool | None = None
    conditions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Medication:
    """One order as the client sent it, after type validation but before interpretation."""

    index: int
    drug: str | None = None
    rxcui: str | None = None
    atc: str | None = None
    dose: float | None = None
    dose_low: float | None = None
    unit: str | None = None
    route: str | None = None
    frequency: str | None = None
    prn: bool | None = None
    max_daily_dose: float | None = None
    max_daily_unit: str | None = None
    duration_days: float | None = None
    dose_number: int | None = None
    start_date: str | None = None
    sig: str | None = None


@dataclass(frozen=True, slots=True)
class Regimen:
    patient: Patient
    medications: tuple[Medication, ...]


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    category: str
    severity: str
    drugs: tuple[str, ...]
    medications: tuple[int, ...]
    message: str
    recommendation: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)
    rule: str = ""
    suppressed: bool = False  # by the site layer; shown only on request (include_suppressed)
    site: dict[str, Any] = field(default_factory=dict)  # what the site layer changed, and why

    def sort_key(self) -> tuple:
        return (
            SEVERITY_RANK[self.severity],
            self.category,
            self.drugs,
            self.code,
            self.medications,
            self.message,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "code": self.code,
            "rule": self.rule or self.code,
            "category": self.category,
            "severity": self.severity,
            "drugs": list(self.drugs),
            "medications": list(self.medications),
            "message": self.message,
            "recommendation": self.recommendation,
            "evidence": self.evidence,
            "source": self.source,
        }
        if self.site:
            out["site"] = self.site
        if self.suppressed:
            out["suppressed"] = True
        return out


@dataclass(frozen=True, slots=True)
class Report:
    knowledge_version: str
    findings: tuple[Finding, ...]
    medications: tuple[dict[str, Any], ...]
    suppressed: int = 0  # findings the site layer suppressed (listed, marked, only on request)

    @property
    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(SEVERITIES, 0)
        for f in self.findings:
            if not f.suppressed:
                counts[f.severity] += 1
        return counts

    @property
    def highest_severity(self) -> str | None:
        return next((f.severity for f in self.findings if not f.suppressed), None)

    def at_or_above(self, severity: str) -> list[Finding]:
        limit = SEVERITY_RANK[severity]
        return [f for f in self.findings if SEVERITY_RANK[f.severity] <= limit and not f.suppressed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "knowledge_version": self.knowledge_version,
            "highest_severity": self.highest_severity,
            "counts": self.counts,
            "findings": [f.to_dict() for f in self.findings],
            "medications": [dict(m) for m in self.medications],
            "suppressed": self.suppressed,
        }
