"""The override summary shared by the API, the CLI and the page, and the candidates for a site
change: rules overridden in more than 90 % of at least 50 showings (both adjustable)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from checker.store.db import Store
from checker.store.feedback import summary

DEFAULT_DAYS = 30
CANDIDATE_RATE = 0.9
CANDIDATE_MIN_SHOWN = 50


def parse_since(text: str | None, today: date | None = None) -> date:
    """An ISO date or date-time (its UTC day); none: 30 days ago. ValueError when unreadable."""
    today = today or datetime.now(UTC).date()
    if not text:
        return today - timedelta(days=DEFAULT_DAYS)
    text = text.strip()
    try:
        return date.fromisoformat(text)
    except ValueError:
        moment = datetime.fromisoformat(text)
        return (moment.astimezone(UTC) if moment.tzinfo else moment).date()


def feedback_summary(store: Store, since: date) -> dict[str, Any]:
    return {"since": since.isoformat(), "rules": summary(store, since)}


def candidates(rows: list[dict[str, Any]], rate: float = CANDIDATE_RATE,
               min_shown: int = CANDIDATE_MIN_SHOWN) -> list[dict[str, Any]]:  # fmt: skip
    """Rules clinicians override nearly every time they see them: review their severity, or a
    suppression for the context where they do not help."""
    hits = [r for r in rows if r["shown"] >= min_shown and r["override_rate"] > rate]
    return sorted(hits, key=lambda r: (-r["override_rate"], -r["shown"], r["rule"]))
