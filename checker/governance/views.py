"""GET /governance: the override analytics page (a blueprint of its own, served offline)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from checker.governance.analytics import feedback_summary, parse_since
from checker.governance.page import render

blp = Blueprint("governance_page", __name__)


@blp.get("/governance")
def governance() -> Response:
    try:
        since = parse_since(request.args.get("since"))
    except ValueError:
        since = parse_since(None)
    if (rec := current_app.extensions.get("medcheck.shown")) is not None:
        rec.flush()
    summary = feedback_summary(current_app.extensions["medcheck.store"], since)
    html = render(summary, current_app.extensions["medcheck"].version)
    return Response(html, mimetype="text/html")
