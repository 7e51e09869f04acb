"""/readyz (may this instance take traffic?) and /metrics, beside /healthz (is it alive?)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from checker.ops import metrics

blp = Blueprint("ops", __name__)


@blp.get("/readyz")
def readyz() -> Response:
    """200 when the knowledge is loaded and the database answers; else 503 saying which not."""
    problems = {}
    if current_app.extensions.get("medcheck") is None:
        problems["knowledge"] = "not loaded"
    store = current_app.extensions.get("medcheck.store")
    if store is None:
        problems["database"] = "not configured"
    elif (why := store.ping()) is not None:
        problems["database"] = why
    checks = {name: problems.get(name, "ok") for name in ("knowledge", "database")}
    body = {"status": "not ready" if problems else "ready", "checks": checks}
    response = jsonify(body)
    response.status_code = 503 if problems else 200
    return response


@blp.get("/metrics")
def prometheus() -> Response:
    if (rec := current_app.extensions.get("medcheck.shown")) is not None:
        rec.flush()  # this worker's tally now; the others' within their flush interval
    body, content_type = metrics.exposition()
    return Response(body, content_type=content_type)
