"""The rules layer's catalogue rows (interactions, duplication, patient cautions, checks)."""

from __future__ import annotations

from typing import Any


def rules() -> list[dict[str, Any]]:
    return []
