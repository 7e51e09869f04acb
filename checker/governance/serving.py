"""What the HTTP views call on every check, card and feedback: the report with the app's site
layer applied, and findings served counted (batched; see checker.store.shown). Nothing here
imports the HTTP package, so its views may import this.

A finding that merged others (checker.merge) is shown for every rule it stands for: its own and
each rule in `evidence.merged`, each counted once per finding however often it appears there (two
findings of one dose rule, per dose and per day, merge into one). A card remembers all of them,
so feedback on it counts for each (checker.store.feedback)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from flask import current_app

from checker.model import Finding, Regimen, Report
from checker.site import Site, checked
from checker.store import Store
from checker.store.feedback import FeedbackItem, record_feedback


def site_report(regimen: Regimen, include_suppressed: bool = False) -> Report:
    """The engine's report with this app's site layer applied."""
    site: Site | None = current_app.extensions.get("medcheck.site")
    return checked(regimen, include_suppressed, site)


def rules_of(f: Finding) -> tuple[str, ...]:
    """Every rule `f` stands for, its own first, each once."""
    merged = f.evidence.get("merged") if f.evidence else None
    own = f.rule or f.code
    if not merged:
        return (own,)
    return tuple(dict.fromkeys([own, *(m.get("rule") or m["code"] for m in merged)]))


def shown_of(report: Report) -> tuple[tuple[str, str], ...]:
    # Kept with the cached report: a repeat of the regimen counts with one dictionary update.
    """(rule, severity shown) of each rule each finding served stands for (`rules_of`), suppressed
    findings left out: a merged rule is counted with the severity of the finding that showed it."""
    return tuple((r, f.severity) for f in report.findings if not f.suppressed for r in rules_of(f))


def note_shown(shown: Iterable[tuple[str, str]], cards: dict[str, tuple[str, ...]] | None = None) -> None:
    """Count findings served (batched): Prometheus always, the database when recording."""
    current_app.extensions["medcheck.shown"].add(shown, cards)


def note_cards(cards: list[dict[str, Any]]) -> None:
    """Count each card's rules shown (its own and `mergedRules`, each once) and remember them by
    the card's uuid, since CDS feedback names only the card."""
    shown: list[tuple[str, str]] = []
    uuids: dict[str, tuple[str, ...]] = {}
    for card in cards:
        ext = (card.get("extension") or {}).get("medcheck") or {}
        if rule := ext.get("rule"):
            rules = tuple(dict.fromkeys([rule, *ext.get("mergedRules", ())]))
            shown.extend((r, ext.get("severity", "info")) for r in rules)
            uuids[card["uuid"]] = rules
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
