"""The audit report: one self-contained HTML file (no network, no other files) that a pharmacy
director reads at a glance and a pharmacist works through finding by finding.

Charts are SVG drawn here, labelled with names and counts so they read without colour. The
findings travel as JSON in a non-executed <script type="application/json"> block, strings
pooled (an audit repeats the same messages thousands of times), and the report's own script
shows them a page at a time, so 100k findings never become 100k table rows. The first page is
also written as plain HTML for a reader without JavaScript. The file carries its own
Content-Security-Policy allowing exactly its one script and one style block (by hash).
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import json
from collections import Counter
from collections.abc import Iterable
from functools import cache
from importlib.resources import files
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

SEVERITIES = ("contraindicated", "major", "moderate", "minor", "info")
COLUMNS = ("patient_id", "rows", "severity", "category", "code", "drugs", "message", "recommendation", "rule")
STATIC_ROWS = 200  # rows written as HTML for readers without JavaScript
TOP = 10


@cache
def _env() -> Environment:
    env = Environment(
        loader=PackageLoader("checker.web", "templates"), autoescape=select_autoescape(["html"])
    )
    env.globals["severity_icon"] = SEVERITY_ICON
    return env


SEVERITY_ICON = {"contraindicated": "⊘", "major": "▲", "moderate": "◆", "minor": "●", "info": "ℹ"}


@cache
def _asset(name: str) -> str:
    return files("checker.web").joinpath("static", name).read_text(encoding="utf-8")


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@cache
def report_csp() -> str:
    """The policy of the report: its one inline script and style, by hash; nothing else."""
    return (
        f"default-src 'none'; script-src {_hash(_asset('report.js'))}; "
        f"style-src {_hash(_asset('report.css'))}; "
        "img-src data:; form-action 'none'; base-uri 'none'"
    )


def embed_json(value: Any) -> str:
    """JSON safe inside a <script> element: no "</script>", no "<!--", whatever the strings."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return (
        text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
        .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    )  # fmt: skip


def pooled(findings: list[dict[str, Any]]) -> dict[str, Any]:
    """{"columns", "strings", "rows"}: each row a list of indexes into `strings`."""
    index: dict[str, int] = {}
    strings: list[str] = []
    rows = []
    for f in findings:
        row = []
        for col in COLUMNS:
            value = str(f.get(col) or "")
            i = index.get(value)
            if i is None:
                i = index[value] = len(strings)
                strings.append(value)
            row.append(i)
        rows.append(row)
    return {"columns": list(COLUMNS), "strings": strings, "rows": rows}


def _split(value: str) -> list[str]:
    return [v for v in value.split(";") if v]


def _counts(findings: list[dict[str, Any]]) -> dict[str, Counter[str]]:
    by: dict[str, Counter[str]] = {k: Counter() for k in ("severity", "category", "rule", "drug", "patient")}
    for f in findings:
        by["severity"][f.get("severity") or ""] += 1
        by["category"][f.get("category") or ""] += 1
        by["rule"][f.get("rule") or f.get("code") or ""] += 1
        by["patient"][f.get("patient_id") or ""] += 1
        for d in _split(f.get("drugs") or ""):
            by["drug"][d] += 1
    return by


def bar_chart(
    chart_id: str, title: str, items: Iterable[tuple[str, int]], icons: dict[str, str] | None = None
) -> dict[str, Any]:
    """Geometry of a horizontal bar chart: every bar named and counted in text beside it."""
    items = list(items)
    top = max((n for _, n in items), default=0)
    bars = []
    for i, (label, n) in enumerate(items):
        shown = label if len(label) <= 38 else label[:37] + "…"
        if icons and label in icons:
            shown = f"{icons[label]} {shown}"
        bars.append(
            {
                "label": label, "shown": shown, "n": n, "y": 8 + i * 28,
                "width": 0 if not top else max(2 if n else 0, round(230 * n / top)),
                "key": label if icons else "",
            }
        )  # fmt: skip
    return {"id": chart_id, "title": title, "bars": bars, "height": 16 + 28 * max(1, len(bars))}


def charts(by: dict[str, Counter[str]]) -> list[dict[str, Any]]:
    return [
        bar_chart(
            "by-severity",
            "Findings by severity",
            [(s, by["severity"].get(s, 0)) for s in SEVERITIES],
            SEVERITY_ICON,
        ),  # fmt: skip
        bar_chart("by-category", "Findings by category", by["category"].most_common()),
        bar_chart("top-rules", f"Top {TOP} rules", by["rule"].most_common(TOP)),
        bar_chart("top-drugs", f"Top {TOP} drugs", by["drug"].most_common(TOP)),
    ]


def _rank(f: dict[str, Any]) -> tuple[int, str]:
    sev = f.get("severity") or ""
    return (SEVERITIES.index(sev) if sev in SEVERITIES else len(SEVERITIES), str(f.get("patient_id") or ""))


def render_audit_report(findings: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    """The report as one HTML document. `findings` rows have the CSV columns of the contract
    (patient_id, rows, severity, category, code, drugs, message, recommendation, rule);
    `meta` has run_date, inputs, knowledge_version, rows_read, rows_checked, rows_rejected,
    patients, and optionally back_url (a link shown when the report is served as a page)."""
    by = _counts(findings)
    first = heapq.nsmallest(STATIC_ROWS, findings, key=_rank)
    return (
        _env()
        .get_template("audit_report.html")
        .render(
            meta=meta,
            total=len(findings),
            severities=SEVERITIES,
            by=by,
            charts=charts(by),
            first_rows=first,
            static_rows=STATIC_ROWS,
            data=embed_json(pooled(findings)),
            csp=report_csp(),
            script=_asset("report.js"),
            style=_asset("report.css"),
            categories=sorted(k for k in by["category"] if k),
            drugs=sorted(k for k in by["drug"] if k),
            rules=sorted(k for k in by["rule"] if k),
        )
    )
