"""`check`: the Python library's entry point, one regimen in, one report out."""

from __future__ import annotations

from typing import Any

from checker.engine import run
from checker.model import Report
from checker.schemas import load_regimen


def check(regimen: dict[str, Any]) -> Report:
    """Check a regimen (the JSON shape of the contract). Raises InvalidRegimen on bad input."""
    return run(load_regimen(regimen))
