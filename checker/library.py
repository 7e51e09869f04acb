"""`check`: the Python library's entry point, one regimen in, one report out."""

from __future__ import annotations

from typing import Any

from checker.model import Report
from checker.schemas import load_regimen
from checker.site import checked


def check(regimen: dict[str, Any], include_suppressed: bool = False) -> Report:
    """Check a regimen (the JSON shape of the contract). Raises InvalidRegimen on bad input.

    A site layer (MEDCHECK_SITE) applies; `include_suppressed` lists what it suppressed, marked."""
    return checked(load_regimen(regimen), include_suppressed)
