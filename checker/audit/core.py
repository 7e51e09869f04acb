"""Auditing a batch of whole patients: per patient, the regimen `check()` would build, run by the
engine `check()` runs, its findings given the input rows' numbers beside the medication indexes.

Nothing here knows a rule. The audit adds only what a file has and a request has not: rows that
could not be read or loaded (`input.row_malformed`, `input.row_invalid`), patient fields that
could not be read (`input.patient_invalid`) and repeated patient rows (`input.patient_duplicate`).
These join the engine's findings in the report's own order (`Finding.sort_key`, on row numbers,
which order exactly as the medication indexes they stand for).
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from checker.model import SEVERITIES, Finding, Regimen, Report
from checker.schemas import load_patient_fields
from checker.site import checked

from .loading import at_index, json_value, medication
from .source import STOP

COLUMNS = ("patient_id", "rows", "severity", "category", "code", "rule", "drugs", "message", "recommendation")
FORMULA_START = ("=", "+", "-", "@")  # a cell starting so runs as a formula in a spreadsheet
_FORMULA = frozenset(FORMULA_START)

Row = tuple[int, tuple[str, ...] | None, str | None, tuple[str, ...]]  # number, cells, reason, kept
PatientRows = tuple[str, tuple[tuple[str, str], ...] | None, int, list[Row]]  # pid, facts, copies, rows


@dataclass(frozen=True)
class Layout:
    """What every batch of one run shares: the file's medication columns, the kept columns, the output."""

    med_columns: tuple[str, ...]
    keep: tuple[str, ...] = ()
    reports: bool = False  # per-patient JSON reports


@dataclass
class Part:
    """One batch's output, rendered where it was audited, and its counters."""

    csv: str = ""
    json: list[str] = field(default_factory=list)
    rows_read: int = 0
    rows_rejected: int = 0
    patients: int = 0
    severity: Counter[str] = field(default_factory=Counter)


def neutral(text: str) -> str:
    return "'" + text if text[:1] in FORMULA_START else text


def _input(code: str, severity: str, rows: tuple[int, ...], message: str, rec: str) -> Finding:
    return Finding(code, "input", severity, (), rows, message, rec)


def _row_finding(row: int, why: str, read: bool) -> Finding:
    if not read:
        return _input(
            "input.row_malformed",
            "moderate",
            (row,),
            f"Row {row} could not be read ({why}); this order was not checked.",
            "Fix the row's quoting or number of fields and audit it again.",
        )
    return _input(
        "input.row_invalid",
        "moderate",
        (row,),
        f"Row {row} was not checked: {why.rstrip('.')}.",
        "Correct the row and audit it again.",
    )


def audit_batch(layout: Layout, batch: list[PatientRows]) -> Part:
    """Audit whole patients (in first-row order) and render their findings."""
    part = Part()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for pid, facts, copies, rows in batch:
        if STOP.is_set():  # SIGTERM: its SystemExit may have been swallowed by a library callback
            raise SystemExit(143)
        found, report, numbers = audit_patient(layout, pid, facts, copies, rows)
        part.rows_read += len(rows)
        part.rows_rejected += len(rows) - len(numbers)
        part.patients += pid != ""
        kept = {r[0]: r[3] for r in rows if r[1] is not None}
        for f, at in found:
            part.severity[f.severity] += 1
            cells = [pid, ";".join(map(str, at)), f.severity, f.category, f.code, f.rule or f.code]
            cells.append(";".join(f.drugs))
            cells += (f.message, f.recommendation)
            for k in range(len(layout.keep)):
                cells.append(";".join(kept[r][k] if r in kept else "" for r in at))
            writer.writerow(["'" + c if c[:1] in _FORMULA else c for c in cells])
        if layout.reports:
            doc = _report(pid, rows, found, report, numbers)
            part.json.append(json.dumps(doc, ensure_ascii=False, default=str))
    part.csv = out.getvalue()
    return part


def audit_patient(
    layout: Layout, pid: str, facts: tuple[tuple[str, str], ...] | None, copies: int, rows: list[Row]
) -> tuple[list[tuple[Finding, tuple[int, ...]]], Report | None, list[int]]:
    """One patient's findings, each with its rows, in the report's order; the engine's report; the
    row of each medication of the regimen."""
    extra: list[Finding] = []
    meds: list[Any] = []
    numbers: list[int] = []
    for number, cells, why, _ in rows:
        if cells is not None and why is None and not pid:
            why = "patient_id is missing"
        if cells is not None and why is None:
            m, why = medication(layout.med_columns, cells)
            if m is not None:
                meds.append(at_index(cells, m, len(meds)))
                numbers.append(number)
                continue
        extra.append(_row_finding(number, why or "unreadable", cells is not None))
    if not pid:  # rows without a patient: there is no regimen to check
        return [(f, f.medications) for f in sorted(extra, key=Finding.sort_key)], None, numbers
    patient, errors = load_patient_fields({"id": pid, **{k: json_value(k, v) for k, v in facts or ()}})
    for name, msgs in errors.items():
        extra.append(
            _input(
                "input.patient_invalid",
                "moderate",
                (),
                f"The patients file's {name} for {pid} could not be read ({' '.join(msgs).rstrip('.')}); "
                "it was taken as unknown.",
                "Correct the patient row and audit again.",
            )
        )
    if copies > 1:
        extra.append(
            _input(
                "input.patient_duplicate",
                "minor",
                (),
                f"{pid} appears {copies} times in the patients file; the first row was used.",
                "Keep one row per patient.",
            )
        )
    report = checked(Regimen(patient, tuple(meds)))  # the engine, with the site layer if one is set
    found = [(f, tuple(numbers[i] for i in f.medications)) for f in report.findings]
    if extra:  # the engine's order, with the audit's findings put in their places
        found += [(f, f.medications) for f in extra]
        found.sort(key=lambda pair: replace(pair[0], medications=pair[1]).sort_key())
    return found, report, numbers


def _report(
    pid: str,
    rows: list[Row],
    found: list[tuple[Finding, tuple[int, ...]]],
    engine: Report | None,
    numbers: list[int],
) -> dict[str, Any]:
    """The engine's report for one patient, with the input row beside every medication index."""
    local = {r: i for i, r in enumerate(numbers)}
    findings = []
    for f, at in found:
        d = f.to_dict()
        d["medications"] = [local[r] for r in at if r in local]
        d["rows"] = list(at)
        findings.append(d)
    counts = dict.fromkeys(SEVERITIES, 0)
    for f, _ in found:
        counts[f.severity] += 1
    return {
        "patient_id": pid,
        "first_row": rows[0][0],
        "highest_severity": found[0][0].severity if found else None,
        "counts": counts,
        "findings": findings,
        "medications": [{**m, "row": numbers[i]} for i, m in enumerate(engine.medications)] if engine else [],
    }
