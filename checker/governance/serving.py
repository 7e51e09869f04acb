"""What the HTTP views call on every check, card and feedback: the report with the app's site
layer applied, and findings served counted (batched; see checker.store.shown). Nothing here
imports the HTTP package, so its views may import this."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from flask import current_app

from checker.model import Regimen, Report
from checker.site import Site, checked
from checker.store import Store
from checker.store.feedback import FeedbackItem, record_feedback


def site_report(regimen: Regimen, include_suppressed: bool = False) -> Report:
    """The engine's report with this app's site layer applied."""
    site: Site | None = current_app.extensions.get("medcheck.site")
    return checked(regimen, include_suppressed, site)


def shown_of(report: Report) -> tuple[tuple[str, str], ...]:
    # Kept with the cached report: a repeat of the regimen counts with one dictionary update.
    """(rule, severity) of each finding served, suppressed ones left out."""
    return tuple((f.rule or f.code, f.severity) for f in report.findings if not f.suppressed)


def note_shown(shown: Iterable[tuple[str, str]], cards: dict[str, str] | None = None) -> None:
    """Count findings served (batched): Prometheus always, the database when recording."""
    current_app.extensions["medcheck.shown"].add(shown, cards)


def note_cards(cards: list[dict[str, Any]]) -> None:
    shown, uuids = [], {}
    for card in cards:
        ext = (card.get("extension") or {}).get("medcheck") or {}
        if rule := ext.get("rule"):
            shown.append((rule, ext.get("severity", "info")))
            uuids[card["uuid"]] = rule
    note_shown(shown, uuids)


def _when(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.strip())
    except (ValueError, AttributeError):
        return None


def store_feedback(service: str, items: list[dict[str, Any]]) -> int:
    """CDS Hooks feedback into the database: card, outcome, coded reason, time; no comment."""
    store: Store = current_app.extensions["medcheck.store"]
    return record_feedback(store, service, [
        FeedbackItem(card=i["card"], outcome=i["outcome"],
                     reason=(((i.get("overrideReason") or {}).get("reason") or {}).get("code")),
                     at=_when(i.get("outcomeTimestamp", "")))
        for i in items
    ])  # fmt: skip
