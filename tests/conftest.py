from __future__ import annotations

import os

# Evaluators' partition steps see only what they declare (rules/mechanism.py); set before import.
os.environ.setdefault("MEDCHECK_STRICT_READS", "1")
# The service's database (checker.store): one throw-away SQLite file per test run, never the
# user's own; servers the tests start inherit it.
if "MEDCHECK_DATABASE_URL" not in os.environ:
    import atexit
    import shutil
    import tempfile

    _db_dir = tempfile.mkdtemp(prefix="medcheck-tests-")
    atexit.register(shutil.rmtree, _db_dir, ignore_errors=True)
    os.environ["MEDCHECK_DATABASE_URL"] = f"sqlite:///{_db_dir}/medcheck.db"

import pytest  # noqa: E402

from checker import check  # noqa: E402


@pytest.fixture
def run():
    """Check a regimen given as keyword parts; return the report as a dict."""

    def _run(*medications: dict, **patient) -> dict:
        return check({"patient": patient, "medications": list(medications)}).to_dict()

    return _run


def codes(report: dict) -> set[str]:
    return {f["code"] for f in report["findings"]}


def find(report: dict, code: str) -> list[dict]:
    return [f for f in report["findings"] if f["code"] == code]
