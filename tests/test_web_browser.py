"""The pages in a real browser: Debian's headless chromium driven by Playwright, against the app
served on a local port. Skipped when /usr/bin/chromium is missing (.ci/run installs it).

axe-core comes from the PyPI package axe-playwright-python (its bundled axe.min.js), injected
from disk: nothing is fetched at test time.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from checker.web.screenshots import AUDIT_CSV, CHROMIUM, CHROMIUM_ARGS, REGIMEN_LINES, fill_regimen, serve

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is not installed")
sync_api = pytest.importorskip("playwright.sync_api")

DESKTOP = {"width": 1366, "height": 768}
TABLET = {"width": 768, "height": 1024}
HOSTILE_CSV = AUDIT_CSV + 'p-<b>4</b>,"<img src=x onerror=alert(1)>",1,g,oral,daily\n'


@pytest.fixture(scope="module")
def base():
    from checker.http import create_app

    with serve(create_app()) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport=DESKTOP)
    ctx.set_default_timeout(120_000)
    pg = ctx.new_page()
    pg.console_errors = []
    pg.on("console", lambda m: m.type == "error" and pg.console_errors.append(m.text))
    pg.on("pageerror", lambda e: pg.console_errors.append(str(e)))
    yield pg
    ctx.close()


def test_type_a_regimen_submit_and_read_the_findings(page, base):
    page.goto(base + "/")
    page.click("#medications")
    page.keyboard.type(REGIMEN_LINES, delay=0)
    page.fill("#age_years", "71")
    page.fill("#crcl_ml_min", "25")
    page.check("#cond-bone_metastases")
    page.click("#check")
    page.wait_for_selector("#read-h")
    assert page.evaluate("document.activeElement.id") == "results-h"  # JavaScript takes the reader there
    major = page.locator("#sev-major-h")
    assert "Major" in major.inner_text()
    messages = page.locator(".sev-major .finding .message").all_inner_texts()
    assert any("Zoledronic acid is not recommended with CrCl below 30" in m for m in messages)
    rows = page.locator(".readings tbody tr")
    assert rows.count() == 5
    assert "acetaminophen" in rows.nth(2).inner_text() and "4 g/day" in rows.nth(2).inner_text()
    # printed: the findings and the lines read, not the form or the site's navigation
    page.emulate_media(media="print")
    assert not page.locator("#regimen-form").is_visible() and not page.locator("header.site").is_visible()
    assert page.locator(".sev-major .finding").first.is_visible() and page.locator(".readings").is_visible()
    page.emulate_media(media="screen")
    # JavaScript adds the copy buttons (inside the closed <details> until opened)
    page.click("details >> text=Report")
    assert page.locator("button[data-copy=report-json]").is_visible()
    assert not page.console_errors, page.console_errors


def test_same_flow_without_javascript(browser, base):
    ctx = browser.new_context(viewport=DESKTOP, java_script_enabled=False)
    page = ctx.new_page()
    page.goto(base + "/")
    fill_regimen(page)
    page.click("#check")
    page.wait_for_selector("#read-h")
    assert page.locator(".finding").count() >= 3
    assert "Percocet" in page.locator(".readings").inner_text()
    assert page.locator("button.copy").count() == 2 and not page.locator("button.copy").first.is_visible()
    page.click("details >> text=Regimen sent to the checker")
    regimen = json.loads(page.locator("#regimen-json").inner_text())
    assert regimen["patient"]["crcl_ml_min"] == 38 and len(regimen["medications"]) == 5
    # errors come back as a page too
    page.fill("#age_years", "old")
    page.click("#check")
    assert "age_years" in page.locator("#form-errors").inner_text()
    ctx.close()


def test_keyboard_only(page, base):
    page.goto(base + "/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "medications":
            break
    assert page.evaluate("document.activeElement.id") == "medications"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # visible focus
    page.keyboard.type("ibuprofen 800 mg PO q4h")
    for _ in range(80):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "check":
            break
    page.keyboard.press("Enter")
    page.wait_for_selector("#read-h")
    assert "Ibuprofen" in page.locator(".findings").first.inner_text()


@pytest.mark.parametrize("viewport", [DESKTOP, TABLET], ids=["1366x768", "tablet"])
def test_pages_fit_the_window_without_errors(browser, base, viewport):
    ctx = browser.new_context(viewport=viewport)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))  # CSP refusals show here
    for path in ("/", "/formulary", "/formulary/zoledronic_acid", "/rules", "/audit"):
        page.goto(base + path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, (path, overflow)
    assert not errors, errors
    ctx.close()


def upload_audit(page, base, tmp_path, text=AUDIT_CSV):
    meds = tmp_path / "ward-7-meds.csv"
    meds.write_text(text, encoding="utf-8")
    page.goto(base + "/audit")
    page.set_input_files("#meds", str(meds))
    page.click("#run-audit")
    page.wait_for_selector("#pager:not([hidden])")


def export(page) -> list[dict[str, str]]:
    with page.expect_download() as dl:
        page.click("#export")
    return list(csv.DictReader(io.StringIO(Path(dl.value.path()).read_text(encoding="utf-8"))))


def test_upload_an_audit_filter_the_report_and_export_csv(page, base, tmp_path):
    upload_audit(page, base, tmp_path, HOSTILE_CSV)
    assert "ward-7-meds.csv" in page.locator("#inputs").inner_text()
    total = int(page.locator("#total").inner_text())
    assert page.locator("#rows tr").count() == total
    # hostile cells are shown as text, never run
    assert page.locator("#rows img").count() == 0
    assert "<img src=x onerror=alert(1)>" in page.locator("#rows").inner_text()
    page.select_option("#f-severity", "major")
    majors = page.locator("#rows tr")
    assert 0 < majors.count() < total
    assert set(s.split()[-1] for s in page.locator("#rows td.sev").all_inner_texts()) == {"major"}
    assert "matching findings" in page.locator("#status").inner_text()
    rows = export(page)
    assert len(rows) == majors.count() and {r["severity"] for r in rows} == {"major"}
    assert list(rows[0]) == ["patient_id", "rows", "severity", "category", "code", "drugs", "message",
                             "recommendation", "rule"]  # fmt: skip
    # search, then one patient's view
    page.click("#clear-filters")
    page.fill("#f-search", "ibuprofen")
    sync_api.expect(page.locator("#status")).to_contain_text("matching")
    found = export(page)
    assert 0 < len(found) == page.locator("#rows tr").count()
    assert all("ibuprofen" in " ".join(r.values()).lower() for r in found)
    page.click("#clear-filters")
    page.locator("#rows button.patient", has_text="p-002").first.click()
    assert page.locator("#patient-h").inner_text().startswith("Patient p-002:")
    assert {t.strip() for t in page.locator("#rows button.patient").all_inner_texts()} == {"p-002"}
    page.click("#all-patients")
    assert page.locator("#rows tr").count() == total
    assert not page.console_errors, page.console_errors


def test_report_sorts(page, base, tmp_path):
    upload_audit(page, base, tmp_path)
    page.select_option("#f-sort", "patient_id")
    patients = page.locator("#rows button.patient").all_inner_texts()
    assert patients == sorted(patients)


AXE = Path(pytest.importorskip("axe_playwright_python").__file__).with_name("axe.min.js")


def axe_violations(page) -> list[dict]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:3]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_axe_finds_no_serious_or_critical_violations(browser, base, tmp_path):
    ctx = browser.new_context(viewport=DESKTOP, bypass_csp=True)  # to inject axe itself
    ctx.set_default_timeout(120_000)
    page = ctx.new_page()
    found = {}
    for path in ("/", "/formulary", "/formulary/zoledronic_acid", "/rules", "/audit"):
        page.goto(base + path)
        found[path] = axe_violations(page)
    page.goto(base + "/")
    fill_regimen(page)
    page.click("#check")
    page.wait_for_selector("#read-h")
    found["POST /"] = axe_violations(page)
    upload_audit(page, base, tmp_path)
    found["audit report"] = axe_violations(page)
    ctx.close()
    assert not any(found.values()), found
