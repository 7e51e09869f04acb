"""medcheck: medication and supplement dose/interaction checking.

from checker import check
report = check({"medications": [{"drug": "Tylenol", "sig": "1 g PO q6h"}]})
report.to_dict()

The engine (knowledge, units, rules) loads when `check` or `knowledge_version` is first taken
from here, as `from checker import check` does, so a broken knowledge file still stops that
import.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from checker.errors import CheckerError, InvalidRegimen
from checker.model import Finding, Report

try:
    __version__ = version("medcheck")
except PackageNotFoundError:  # run from a source tree that was not installed
    __version__ = "0+unknown"

__all__ = ["__version__", "check", "CheckerError", "InvalidRegimen", "Finding", "Report", "knowledge_version"]


def __getattr__(name: str) -> Any:
    if name == "check":
        from checker.library import check

        return check
    if name == "knowledge_version":
        from checker.engine import knowledge_version

        return knowledge_version
    raise AttributeError(f"module 'checker' has no attribute {name!r}")
