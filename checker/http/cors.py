"""CORS for browser-based CDS clients (the CDS Hooks sandbox runs in a browser on another origin).

Off unless an allow-list names origins: config `CORS_ORIGINS` (a list or a comma-separated string)
or the environment variable `MEDCHECK_CORS_ORIGINS`. Only `/cds-services` is opened; `/v1` stays
same-origin. A preflight carries no token, so it is answered before authentication runs.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Response, current_app, request
from flask_cors import CORS

PATHS = r"/cds-services(/.*)?"


def origins(config: Any) -> list[str]:
    raw = config.get("CORS_ORIGINS")
    if raw is None:
        raw = os.environ.get("MEDCHECK_CORS_ORIGINS", "")
    if isinstance(raw, str):
        raw = raw.split(",")
    return [o.strip().rstrip("/") for o in raw if isinstance(o, str) and o.strip()]


def enable(state: Any) -> None:
    """Blueprint `record_once` hook: wire flask-cors for the allow-listed origins, if any."""
    allowed = origins(state.app.config)
    state.app.extensions["medcheck.cors"] = tuple(allowed)
    if allowed:
        CORS(
            state.app,
            resources={PATHS: {"origins": allowed}},
            methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type"],
            max_age=600,
        )


def preflight() -> Response | None:
    """`before_app_request`: an allow-listed origin's preflight gets its answer without a token."""
    if request.method != "OPTIONS" or not request.path.startswith("/cds-services"):
        return None
    if request.headers.get("Origin", "").rstrip("/") not in current_app.extensions.get("medcheck.cors", ()):
        return None
    return current_app.make_default_options_response()
