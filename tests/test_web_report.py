"""The audit report file: self-contained, escaped against hostile audit text, small DOM at 100k."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re

import pytest

from checker.web.report import COLUMNS, STATIC_ROWS, render_audit_report
from tests.web_support import HOSTILE

META = {
    "run_date": "2026-12-06 23:00 UTC",
    "inputs": ["meds.csv", "patients.csv"],
    "knowledge_version": "2026.11.1+abcdef12",
    "rows_read": 10,
    "rows_checked": 9,
    "rows_rejected": 1,
    "patients": 4,
}


def finding(i: int = 0, **over) -> dict:
    base = {
        "patient_id": f"p{i % 7}",
        "rows": str(i + 1),
        "severity": ("major", "moderate", "info", "contraindicated")[i % 4],
        "category": ("dose_daily", "interaction", "monitoring")[i % 3],
        "code": "dose.daily_max",
        "drugs": "acetaminophen;ibuprofen" if i % 2 else "tramadol",
        "message": f"Message {i % 50}",
        "recommendation": "Reduce the dose.",
        "rule": f"dose.acetaminophen.{i % 3}",
    }
    return {**base, **over}


def data_block(page: str) -> dict:
    raw = re.search(r'<script type="application/json" id="findings-data">(.*?)</script>', page, re.S).group(1)
    return json.loads(raw)


@pytest.mark.parametrize("text", HOSTILE)
@pytest.mark.parametrize("column", COLUMNS)
def test_hostile_text_in_any_column_is_inert(text, column):
    page = render_audit_report([finding(1, **{column: text}), finding(2)], {**META, "inputs": [text]})
    # Every markup character of the hostile text is escaped wherever it is shown ...
    if any(c in text for c in "<>\"'"):
        assert text not in page
    # ... exactly one executable script (ours), and the data block cannot be closed early
    assert len(re.findall(r"<script>", page)) == 1
    assert page.count("</script>") == 2
    data = data_block(page)
    assert text in data["strings"]  # and the data round-trips unchanged for the script to show


def test_json_block_has_no_markup_sequences():
    page = render_audit_report([finding(0, message="</script><!-- <script>")], META)
    raw = re.search(r'id="findings-data">(.*?)</script>', page, re.S).group(1)
    assert "<" not in raw and ">" not in raw


def test_csp_allows_exactly_the_inline_script_and_style():
    page = render_audit_report([finding(0)], META)
    csp = html.unescape(re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page).group(1))
    script = re.search(r"<script>(.*?)</script>", page, re.S).group(1)
    style = re.search(r"<style>(.*?)</style>", page, re.S).group(1)

    def h(t: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(t.encode()).digest()).decode() + "'"

    assert f"script-src {h(script)}" in csp and f"style-src {h(style)}" in csp
    assert "unsafe-inline" not in csp and "default-src 'none'" in csp
    assert ' style="' not in page  # no style attributes, which the policy would block


def test_self_contained_no_external_references():
    page = render_audit_report([finding(i) for i in range(30)], META)
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert not re.search(r'<link[^>]+href="(?!data:)', page)  # only the empty data: icon


def test_metadata_and_charts_are_readable_as_text():
    page = render_audit_report([finding(i) for i in range(12)], META)
    for value in ("2026-12-06 23:00 UTC", "meds.csv, patients.csv", "2026.11.1+abcdef12"):
        assert value in page
    assert re.search(r'id="rows-rejected">1<', page)
    for chart in ("by-severity", "by-category", "top-rules", "top-drugs"):
        assert f'id="{chart}"' in page
    # counts written as text beside the bars (no colour needed): 3 each of 4 severities
    desc = re.search(r'<desc id="by-severity-d">(.*?)</desc>', page).group(1)
    assert desc == "contraindicated: 3; major: 3; moderate: 3; minor: 0; info: 3"
    assert "acetaminophen: 6" in page  # top drugs, ;-separated drugs counted apart


def test_100k_findings_keep_the_dom_small():
    findings = [finding(i) for i in range(100_000)]
    page = render_audit_report(findings, META)
    assert page.count("<tr class=") == STATIC_ROWS
    assert len(data_block(page)["rows"]) == 100_000
    assert len(page) < 12_000_000  # strings are pooled: repeated messages are stored once
    assert 'id="total">100000<' in page


def test_first_static_rows_are_the_most_serious():
    findings = [finding(i, severity="info") for i in range(300)] + [finding(999, severity="contraindicated")]
    page = render_audit_report(findings, META)
    first = re.search(r'<tr class="sev-(\w+)">', page).group(1)
    assert first == "contraindicated"
