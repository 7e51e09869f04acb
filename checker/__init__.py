"""medcheck: medication and supplement dose/interaction checking.

from checker import check
report = check({"medications": [{"drug": "Tylenol", "sig": "1 g PO q6h"}]})
report.to_dict()
"""

from __future__ import annotations

from typing import Any

from checker.engine import knowledge_version, run
from checker.errors import CheckerError, InvalidRegimen
from checker.model import Finding, Report
from checker.schemas import load_regimen

__all__ = ["check", "CheckerError", "InvalidRegimen", "Finding", "Report", "knowledge_version"]


def check(regimen: dict[str, Any]) -> Report:
    """Check a regimen (the JSON shape of the contract). Raises InvalidRegimen on bad input."""
    return run(load_regimen(regimen))
