"""Per request: the X-Request-ID (the client's, when it is a plain token, else a new one) on the
response and on every log line of the request; the request counted and timed by endpoint."""

from __future__ import annotations

import re
import time
import uuid

import structlog
from flask import Flask, Response, g, request

from checker.ops import metrics
from checker.ops.logs import get

HEADER = "X-Request-ID"
_TOKEN = re.compile(r"^[A-Za-z0-9._:@+/=-]{1,128}$")
log = get("medcheck.request")


def request_id() -> str:
    return getattr(g, "request_id", "") or ""


def _start() -> None:
    given = request.headers.get(HEADER, "")
    g.request_id = given if _TOKEN.match(given) else uuid.uuid4().hex
    g.started = time.perf_counter()
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=g.request_id)


def _finish(response: Response) -> Response:
    rid = getattr(g, "request_id", None) or uuid.uuid4().hex
    response.headers[HEADER] = rid
    endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
    seconds = time.perf_counter() - getattr(g, "started", time.perf_counter())
    metrics.REQUESTS.labels(endpoint, request.method, str(response.status_code)).inc()
    metrics.LATENCY.labels(endpoint).observe(seconds)
    log.info("request", method=request.method, endpoint=endpoint, status=response.status_code,
             ms=round(seconds * 1000, 2))  # fmt: skip
    structlog.contextvars.clear_contextvars()
    return response


def install(app: Flask) -> None:
    """First before_request of the app, so the id exists before auth refuses anything."""
    app.before_request_funcs.setdefault(None, []).insert(0, _start)
    app.after_request(_finish)
