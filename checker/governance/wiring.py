"""What `create_app` adds for governance and operations, in one call (`install`), and the small
functions the HTTP views call: the report with the site applied, and "shown" recorded."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from flask import Flask, current_app

from checker.model import Regimen, Report
from checker.site import Site, checked, load_site, rules_view
from checker.store import Store, open_store
from checker.store.feedback import FeedbackItem, record_feedback
from checker.store.shown import ShownRecorder

_RECORDERS: dict[str | None, ShownRecorder] = {}


def _recorder(store: Store | None) -> ShownRecorder:
    """One tally per database per process (None: metrics only, "shown" recording off)."""
    from checker.ops.metrics import count_findings

    url = store.url if store is not None else None
    rec = _RECORDERS.get(url)
    if rec is None:
        interval = float(os.environ.get("MEDCHECK_SHOWN_FLUSH_S", "2"))
        rec = _RECORDERS[url] = ShownRecorder(store, interval, on_flush=count_findings)
    return rec


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() not in ("0", "false", "no", "off", "")


def install(app: Flask, api: Any) -> None:
    """Site layer, database (created or migrated now), jti ledger, request ids and metrics,
    /readyz, /metrics, /v1/feedback/summary, /v1/outcomes and /governance. A bad site file or an
    unreachable database stops the start."""
    from checker.governance import api as gov_api
    from checker.governance import views
    from checker.http import auth
    from checker.ops import health, requests
    from checker.store.jti import DbJtiLedger

    path = app.config.get("SITE_FILE", os.environ.get("MEDCHECK_SITE") or None)
    site = load_site(path) if path else None
    app.extensions["medcheck.site"] = site
    if site is not None and site.local_drugs:
        from checker.http.app import load_knowledge

        app.extensions["medcheck"] = load_knowledge()  # built again with the local drugs in
    k = app.extensions["medcheck"]
    app.extensions["medcheck"] = dataclasses.replace(
        k, version=k.version + (site.tag if site else ""), rules=rules_view(k.rules, site)
    )
    store = open_store(app.config.get("DATABASE_URL") or None)
    store.dispose()  # no connection crosses gunicorn's fork
    app.extensions["medcheck.store"] = store
    record = app.config.get("RECORD_SHOWN", _flag("MEDCHECK_RECORD_SHOWN", True))
    app.extensions["medcheck.shown"] = _recorder(store if record else None)
    if app.config.get("JTI_STORE") is None:
        cfg = app.extensions["medcheck.auth"]
        app.extensions["medcheck.auth"] = dataclasses.replace(cfg, seen=DbJtiLedger(store, auth.LEEWAY_S))
    requests.install(app)
    app.register_blueprint(health.blp)
    api.register_blueprint(gov_api.blp)
    app.register_blueprint(views.blp)


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
