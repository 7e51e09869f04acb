"""`medcheck serve`: the HTTP service under gunicorn, loaded from the app factory.

gunicorn's `BaseApplication` is used instead of `gunicorn wsgi:app` so the installed package
runs from any directory (wsgi.py sits in the source tree, not in the wheel).
"""

from __future__ import annotations

import argparse
import logging
import os
from typing import Any

from gunicorn.app.base import BaseApplication


class MedcheckApplication(BaseApplication):
    """gunicorn with its settings from our flags; the app is built once and forked (preload)."""

    def __init__(self, options: dict[str, Any], config: dict[str, Any] | None = None):
        self.options = options
        self.app_config = config
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings and value is not None:
                self.cfg.set(key, value)

    def load(self) -> Any:
        from checker.http import create_app

        # The app logs under "medcheck" (feedback, refusals, bugs); send it where gunicorn logs.
        server_log = logging.getLogger("gunicorn.error")
        app_log = logging.getLogger("medcheck")
        app_log.handlers = list(server_log.handlers)
        app_log.setLevel(server_log.level)
        app_log.propagate = False
        return create_app(self.app_config)


def gunicorn_options(host: str, port: int, workers: int, threads: int) -> dict[str, Any]:
    """Settings for the service; threads > 1 selects the gthread worker."""
    access = os.environ.get("MEDCHECK_ACCESS_LOG", "-")
    return {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": max(1, workers),
        "threads": max(1, threads),
        "worker_class": "gthread" if threads > 1 else "sync",
        "preload_app": True,  # load the knowledge once, before forking; a bad data file stops the start
        "timeout": 30,
        "graceful_timeout": 10,
        "keepalive": 5,
        "accesslog": access or None,
        "errorlog": "-",
        "loglevel": os.environ.get("MEDCHECK_LOG_LEVEL", "info"),
        "proc_name": "medcheck",
        "limit_request_field_size": 8190,
    }


def serve(args: argparse.Namespace) -> int:
    """Run until stopped; returns the exit status for the CLI."""
    options = gunicorn_options(args.host, args.port, args.workers, args.threads)
    try:
        MedcheckApplication(options).run()
    except SystemExit as exc:  # gunicorn exits on start-up errors (port in use, bad config)
        return int(exc.code or 0) if isinstance(exc.code, int) else 1
    return 0
