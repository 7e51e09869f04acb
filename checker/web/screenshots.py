"""`python3 -m checker.web.screenshots OUT_DIR`: the main pages at 1366×768 and 768×1024 (tablet).

Serves the app on a free local port, drives Debian's headless chromium through Playwright, fills
a realistic regimen and a small audit, and writes one PNG per page and window size. The browser
tests use the same `serve` and `launch`.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SIZES = {"desktop": (1366, 768), "tablet": (768, 1024)}
REGIMEN_LINES = (
    "Percocet 5/325 1-2 tabs PO q4-6h PRN pain\n"
    "zoledronic acid 4 mg IV q4 weeks\n"
    "Tylenol 1 g PO q6h\n"
    "gabapentin 300 mg PO TID\n"
    "ibuprofen 800 mg PO TID"
)
AUDIT_CSV = (
    "patient_id,drug,dose,unit,route,frequency\n"
    "p-001,ibuprofen,800,mg,oral,q4h\np-001,acetaminophen,1,g,oral,q4h\n"
    "p-002,tramadol,100,mg,oral,q4h\np-002,sertraline,50,mg,oral,daily\n"
    "p-003,zoledronic acid,4,mg,iv,every 4 weeks\np-003,frobnicol,1,g,oral,daily\n"
)


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        """No access log: the tests and screenshots print only what they made."""


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """The app on 127.0.0.1 at a free port, in a thread, for as long as the block runs."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@contextmanager
def launch() -> Iterator[Any]:
    """Debian's headless chromium, driven by Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def fill_regimen(page: Any) -> None:
    page.fill("#medications", REGIMEN_LINES)
    page.fill("#age_years", "71")
    page.fill("#weight_kg", "52")
    page.select_option("#sex", "female")
    page.fill("#crcl_ml_min", "38")
    page.select_option("#dental_exam_done", "no")
    page.check("#cond-bone_metastases")


def take(out: Path, base: str) -> list[Path]:
    import tempfile

    written = []
    with launch() as browser:
        for size_name, (width, height) in SIZES.items():
            ctx = browser.new_context(viewport={"width": width, "height": height})
            page = ctx.new_page()

            def shot(name: str, full: bool = True, size_name: str = size_name, page: Any = page) -> None:
                path = out / f"{name}-{size_name}.png"
                page.screenshot(path=str(path), full_page=full)
                written.append(path)

            page.goto(base + "/")
            shot("regimen-form", full=False)
            fill_regimen(page)
            page.click("#check")
            page.wait_for_selector("#read-h")
            shot("regimen-findings", full=False)
            shot("regimen-findings-full")
            page.goto(base + "/formulary")
            shot("formulary", full=False)
            page.goto(base + "/formulary/zoledronic_acid")
            shot("formulary-entry", full=False)
            page.goto(base + "/rules")
            shot("rules", full=False)
            page.goto(base + "/audit")
            shot("audit-form", full=False)
            with tempfile.TemporaryDirectory() as tmp:
                meds = Path(tmp) / "ward-7-meds.csv"
                meds.write_text(AUDIT_CSV, encoding="utf-8")
                page.set_input_files("#meds", str(meds))
                page.click("#run-audit")
                page.wait_for_selector("#findings-data", state="attached", timeout=120_000)
            shot("audit-report", full=False)
            shot("audit-report-full")
            ctx.close()
    return written


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python3 -m checker.web.screenshots OUT_DIR", file=sys.stderr)
        return 2
    if not Path(CHROMIUM).exists():
        print(f"screenshots need {CHROMIUM} (apt-get install chromium)", file=sys.stderr)
        return 2
    out = Path(args[0])
    out.mkdir(parents=True, exist_ok=True)
    from checker.http import create_app

    with serve(create_app()) as base:
        for path in take(out, base):
            print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
