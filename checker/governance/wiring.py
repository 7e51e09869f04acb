"""What `create_app` adds for governance and operations, in one call (`install`). The functions
the views call on each request are in checker.governance.serving."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from flask import Flask

from checker.site import load_site, rules_view
from checker.store import Store, open_store
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
    if site is not None and (site.local_drugs or site.local_rules):
        from checker.http.service import load_knowledge

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

