from __future__ import annotations

import pytest

from checker import check


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
