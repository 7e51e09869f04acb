"""The report shaped for the regimen page: findings by severity, and how each typed line was read."""

from __future__ import annotations

import json
from typing import Any

from checker.web.lines import Line

SEVERITY_TEXT = {
    "contraindicated": "Contraindicated",
    "major": "Major",
    "moderate": "Moderate",
    "minor": "Minor",
    "info": "Information",
}
MAIN_EVIDENCE = ("actual", "limit")
OWN_LINES = (*MAIN_EVIDENCE, "merged")  # evidence shown on lines of its own


def safe_url(url: Any) -> str:
    """A link only to a web page: a knowledge file (or a site file) could hold javascript: URLs."""
    text = str(url or "").strip()
    return text if text.lower().startswith(("https://", "http://")) else ""


def _show(value: Any) -> str:
    if isinstance(value, str | int | float):
        return str(value)
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return "; ".join(str(v) for v in value)
    if isinstance(value, list) and all(isinstance(v, dict) for v in value):
        return "; ".join(", ".join(f"{k} {v}" for k, v in item.items()) for item in value)
    return json.dumps(value, ensure_ascii=False)


def _merged(m: dict[str, Any]) -> str:
    """A finding merged into this one (checker.merge): its rule, severity, words and source."""
    label = (m.get("source") or {}).get("label")
    said = f"{m.get('rule')} ({m.get('severity')}): {m.get('message')}"
    return f"{said} Source: {label}" if label else said


def _finding(f: dict[str, Any], lines: list[Line]) -> dict[str, Any]:
    evidence = f.get("evidence") or {}
    source = f.get("source") or {}
    return {
        **f,
        "line_labels": [lines[i].label for i in f.get("medications") or () if 0 <= i < len(lines)],
        "actual": evidence.get("actual"),
        "limit": evidence.get("limit"),
        "other_evidence": [(k.replace("_", " "), _show(v)) for k, v in evidence.items() if k not in OWN_LINES]
        + [("same advice from", _merged(m)) for m in evidence.get("merged", ())],
        "source_label": source.get("label") or "",
        "source_url": safe_url(source.get("url")),
        "source_quote": source.get("quote") or "",
        "source_location": source.get("location") or "",
        "source_unverified": source.get("verified") is False,
        "source_note": source.get("note") or "",
    }


def group_findings(report: dict[str, Any], lines: list[Line]) -> list[dict[str, Any]]:
    """One group per severity present, most serious first (the report's own order within)."""
    groups: dict[str, list[dict[str, Any]]] = {s: [] for s in SEVERITY_TEXT}
    for f in report.get("findings") or ():
        groups.setdefault(f.get("severity", "info"), []).append(_finding(f, lines))
    return [
        {"severity": s, "title": SEVERITY_TEXT.get(s, s), "findings": items}
        for s, items in groups.items() if items
    ]  # fmt: skip


def interval(hours: Any) -> str:
    if not isinstance(hours, int | float) or isinstance(hours, bool) or hours <= 0:
        return ""
    if hours >= 48 and hours % 24 == 0:
        days = int(hours // 24)
        return f"every {days // 7} weeks" if days % 7 == 0 and days >= 14 else f"every {days} days"
    return f"every {hours:g} h"


def readings(report: dict[str, Any], lines: list[Line]) -> list[dict[str, Any]]:
    """Per typed line: the split, what the engine understood, and why a line was not read."""
    meds = {m.get("index"): m for m in report.get("medications") or ()}
    notes: dict[int, list[str]] = {}
    for f in report.get("findings") or ():
        if f.get("category") in ("input", "unit"):  # an unknown drug: the line says "not read"
            for i in f.get("medications") or ():
                notes.setdefault(i, []).append(f.get("message", ""))
    out = []
    for i, line in enumerate(lines):
        m = meds.get(i, {})
        ingredients = [
            " ".join(
                str(part)
                for part in (g.get("drug"), g.get("amount"), f"({g['daily']})" if g.get("daily") else None)
                if part
            )
            for g in m.get("ingredients") or ()
        ]
        out.append(
            {
                "line": line,
                "read": bool(m.get("drug")) and line.read,
                "drug": m.get("drug") or "",
                "ingredients": ingredients,
                "route": m.get("route") or "",
                "dose": m.get("dose") or "",
                "daily": m.get("daily_dose") or "",
                "interval": interval(m.get("interval_h")),
                "prn": "PRN" if m.get("prn") else "",
                "notes": notes.get(i, []),
            }
        )
    return out
