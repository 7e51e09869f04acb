"""JSON log lines through structlog, each with the request id of the request it belongs to.

The "medcheck" loggers (stdlib) and structlog loggers both end as one JSON object per line on
stderr. What is logged is decided where it is logged: methods, endpoints, statuses, times, ids
and codes; never a request body, a patient field or a free-text comment."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

_SHARED: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]
_configured = False

# structlog loggers hand their events to the stdlib "medcheck" loggers: where those go (JSON on
# stderr under `medcheck serve`, pytest's capture in tests) is the handlers' choice.
structlog.configure(
    processors=[
        structlog.stdlib.filter_by_level, *_SHARED, structlog.stdlib.ProcessorFormatter.wrap_for_formatter
    ],
    logger_factory=structlog.stdlib.LoggerFactory(),
    wrapper_class=structlog.stdlib.BoundLogger,
    cache_logger_on_first_use=True,
)


def configure(level: str | int = "INFO") -> None:
    """Send "medcheck" logs to stderr as JSON lines (idempotent)."""
    global _configured
    if _configured:
        return
    _configured = True
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_SHARED,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, structlog.processors.JSONRenderer()],
    ))  # fmt: skip
    app_log = logging.getLogger("medcheck")
    app_log.handlers = [handler]
    app_log.setLevel(level if isinstance(level, int) else level.upper())
    app_log.propagate = False


def get(name: str = "medcheck.request") -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)
