from __future__ import annotations

import os

# Evaluators' partition steps see only what they declare (rules/mechanism.py); set before import.
os.environ.setdefault("MEDCHECK_STRICT_READS", "1")

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
