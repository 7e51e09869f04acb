"""Output escaping of the pages: hostile text typed into the form, and hostile report content
(a site file or a future knowledge source can carry any text) rendered by the templates."""

from __future__ import annotations

import re

import pytest

from checker.http import create_app
from checker.web.findings import group_findings, readings
from checker.web.form import read_form
from tests.web_support import HOSTILE, csrf_token


@pytest.fixture(scope="module")
def app():
    return create_app({"TESTING": True})


def scripts(page: str) -> list[str]:
    return re.findall(r"<script[^>]*>", page)


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_orders_and_fields_come_back_escaped(app, text):
    client = app.test_client()
    data = {"csrf_token": csrf_token(client), "medications": f"{text} 1 g PO q6h\nTylenol 1 g PO q6h",
            "age_years": text, "serum_calcium": text, "conditions": [text], "sex": text}  # fmt: skip
    page = client.post("/", data=data).get_data(as_text=True)
    if any(c in text for c in '<>"'):
        assert text not in page
    assert scripts(page) == ['<script src="/assets/app.js" defer>']
    if text == "{{ 7*7 }}":
        assert text in page  # shown as typed, never evaluated as a template


HOSTILE_REPORT = {
    "knowledge_version": "<b>v</b>",
    "highest_severity": "major",
    "counts": {"contraindicated": 0, "major": 1, "moderate": 0, "minor": 0, "info": 0},
    "findings": [
        {
            "code": "<i>code</i>",
            "category": "dose_daily",
            "severity": "major",
            "drugs": ["<x>"],
            "medications": [0],
            "message": '<script>alert("m")</script>',
            "recommendation": '"><img src=x onerror=alert(1)>',
            "evidence": {"actual": "<u>8 g</u>", "limit": "<u>4 g</u>", "<k>": ["<v>"]},
            "source": {
                "label": "<em>label</em>",
                "url": "javascript:alert(1)",
                "quote": "</blockquote><script>q</script>",
                "location": "<p onclick=x>where</p>",
            },
            "rule": "<rule>",
        }
    ],
    "medications": [
        {
            "index": 0,
            "input": "x",
            "drug": "<d>",
            "route": "<r>",
            "dose": "<1>",
            "interval_h": 6,
            "ingredients": [{"drug": "<ing>", "amount": "<a>", "daily": "<day>"}],
        }
    ],  # fmt: skip
}


def test_templates_escape_every_report_field(app):
    from flask import render_template
    from werkzeug.datastructures import MultiDict

    from checker.web import form as regimen_form

    posted = read_form(MultiDict({"medications": "acetaminophen 1 g PO q6h"}))
    with app.test_request_context("/", method="POST"):
        page = render_template(
            "regimen.html", f=regimen_form, values=posted.values, chosen_conditions=set(), errors={},
            report=HOSTILE_REPORT, groups=group_findings(HOSTILE_REPORT, posted.lines),
            readings=readings(HOSTILE_REPORT, posted.lines), regimen_json="{}",
            report_json="</pre><script>j</script>",
        )  # fmt: skip
    for raw in ("<b>v</b>", "<i>code</i>", "<script>alert", "<img src=x", "<u>8 g</u>", "<em>label</em>",
                "<script>q</script>", "<p onclick", "<rule>", "<d>", "<ing>", "<k>", "<v>",
                "<script>j"):  # fmt: skip
        assert raw not in page, raw
    assert "javascript:" not in page  # a source link only to http(s)
    assert "&lt;em&gt;label&lt;/em&gt;" in page  # the label is still shown, as text
    assert "&lt;ing&gt; &lt;a&gt; (&lt;day&gt;)" in page
