"""The audit page: upload, run through the command's stable entry, the report page, limits."""

from __future__ import annotations

import io
import re

import pytest

from checker.http import create_app
from checker.web.report import report_csp
from tests.web_support import HOSTILE, csrf_token

MEDS = (
    "patient_id,drug,dose,unit,route,frequency\n"
    '"<script>alert(1)</script>",ibuprofen,800,mg,oral,q4h\n'
    'p2,"</script><img src=x onerror=alert(1)>",1,g,oral,q6h\n'
    "p2,acetaminophen,1,g,oral,q4h\n"
    "p3,tramadol,100,mg,oral,q4h\n"
    "p3,sertraline,50,mg,oral,daily\n"
)
PATIENTS = "patient_id,age_years,crcl_ml_min\np3,80,20\n"


@pytest.fixture(scope="module")
def client():
    return create_app({"TESTING": True, "AUDIT_UPLOAD_MAX": 4096}).test_client()


def upload(client, meds: str, patients: str | None = None, name: str = "ward-7.csv"):
    data = {"csrf_token": csrf_token(client, "/audit"), "meds": (io.BytesIO(meds.encode()), name)}
    if patients is not None:
        data["patients"] = (io.BytesIO(patients.encode()), "patients.csv")
    return client.post("/audit", data=data, content_type="multipart/form-data")


@pytest.fixture(scope="module")
def report(client):
    r = upload(client, MEDS, PATIENTS)
    assert r.status_code == 200, r.get_data(as_text=True)[:500]
    return r


def test_report_page_has_run_metadata(report):
    page = report.get_data(as_text=True)
    assert "ward-7.csv, patients.csv" in page
    assert re.search(r'id="rows-read">5<', page) and re.search(r'id="patients">3<', page)
    assert re.search(r'id="knowledge-version">\d{4}\.\d+\.\d+\+', page)
    assert 'href="/audit"' in page  # back to the form


def test_report_page_lists_findings_with_message_and_recommendation(report):
    page = report.get_data(as_text=True)
    assert "Ibuprofen totals 4.8 g/day; the limit is 3.2 g/day." in page
    assert "Keep ibuprofen to 400-800 mg per dose" in page


def test_hostile_audit_text_is_escaped_on_the_page(report):
    page = report.get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "<img src=x onerror" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert len(re.findall(r"<script>", page)) == 1  # the report's own script only


def test_report_page_policy_is_the_report_hashes(report):
    assert report.headers["Content-Security-Policy"] == report_csp()
    assert report.headers["Cache-Control"] == "no-store"


def test_upload_over_the_limit_is_413_with_the_form(client):
    r = upload(client, "patient_id,drug\n" + "p1,ibuprofen\n" * 1000)
    assert r.status_code == 413
    page = r.get_data(as_text=True)
    assert "over the limit of 4 KiB (4,096 bytes)" in page and 'id="audit-form"' in page


def test_unreadable_upload_is_explained(client):
    r = upload(client, "name,colour\nx,y\n")
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert 'id="audit-error"' in page and "patient_id" in page
    assert "medcheck-audit-" not in page  # the temporary folder is not shown


def test_missing_file_is_a_form_error(client):
    data = {"csrf_token": csrf_token(client, "/audit")}
    r = client.post("/audit", data=data, content_type="multipart/form-data")
    assert r.status_code == 422 and "Choose a medications CSV file." in r.get_data(as_text=True)


def test_upload_limit_from_environment(monkeypatch):
    monkeypatch.setenv("MEDCHECK_AUDIT_UPLOAD_MAX", "1234")
    page = create_app({"TESTING": True}).test_client().get("/audit").get_data(as_text=True)
    assert "Up to 1.21 KiB (1,234 bytes)" in page


def test_hostile_filename_is_escaped(client):
    name = "".join(HOSTILE) + ".csv"
    page = upload(client, "patient_id,drug\np1,ibuprofen\n", name=name).get_data(as_text=True)
    assert all(text not in page for text in HOSTILE if "<" in text)
    assert len(re.findall(r"<script>", page)) == 1


def test_row_accounting_read_from_the_summary_line():
    from checker.web.audit_run import summary_of

    line = "medcheck audit: 50000 rows read, 49251 rows checked, 749 rows rejected, 9955 patients; findings"
    assert summary_of("warning: x\n" + line + "\n") == {
        "rows_read": 50000, "rows_checked": 49251, "rows_rejected": 749, "patients": 9955,
    }  # fmt: skip
    assert summary_of("") == dict.fromkeys(("rows_read", "rows_checked", "rows_rejected", "patients"))


def test_columns_the_audit_ignored_are_named_on_the_page(client):
    """The uploader sees what the command said of the files (here, a patients file whose columns
    are not patient fields), under the names the files were uploaded with."""
    r = upload(client, "patient_id,drug,dose,unit\np1,ibuprofen,800,mg\n", "patient_id,age,crcl\np1,81,20\n")
    page = r.get_data(as_text=True)
    assert r.status_code == 200
    notes = re.search(r'<ul id="notes" class="notes">(.*?)</ul>', page, re.S)
    assert notes, page[:2000]
    assert (
        "patients.csv: columns that are not patient fields were ignored: age (did you mean age_years?), "
        "crcl (did you mean crcl_ml_min?)"
    ) in notes.group(1)
    assert "medcheck-audit-" not in page  # the temporary copy's folder is not shown


def test_no_notes_block_when_the_command_said_nothing(report):
    assert 'id="notes"' not in report.get_data(as_text=True)
