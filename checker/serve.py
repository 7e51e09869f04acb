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

from checker.ops.multiproc import multiproc_dir, remove_dir, worker_exit


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
        from checker.ops.logs import configure

        # The app logs under "medcheck" (feedback, refusals, requests, bugs): JSON lines on stderr.
        configure(logging.getLogger("gunicorn.error").level)
        return create_app(self.app_config)


THREAD_WORKER = "checker.http.workers.ThreadWorker"
SYNC_WORKER = "checker.http.workers.SyncWorker"


def gunicorn_options(host: str, port: int, workers: int, threads: int) -> dict[str, Any]:
    """Settings for the service. threads > 1 (the CLI's default is 8) selects the threaded worker.

    Slow clients: a connection waits for its first byte in the worker's poller, without a thread;
    from its first byte, a request has MEDCHECK_READ_TIMEOUT (10 s) to arrive whole, else 408. So a
    trickling client holds one thread for at most 10 s, and `workers` x `threads` of them are needed
    to delay anyone else. A check needs ~1 ms of CPU: threads cost little and buy that margin.
    `timeout` (30 s) is the arbiter's: a worker whose main loop is silent that long is killed.
    """
    access = os.environ.get("MEDCHECK_ACCESS_LOG", "-")
    return {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": max(1, workers),
        "threads": max(1, threads),
        "worker_class": THREAD_WORKER if threads > 1 else SYNC_WORKER,
        "preload_app": True,  # load the knowledge once, before forking; a bad data file stops the start
        "timeout": 30,
        "graceful_timeout": 10,
        "keepalive": 5,  # seconds an idle kept-alive connection stays open (in the poller, no thread)
        "accesslog": access or None,
        "errorlog": "-",
        "loglevel": os.environ.get("MEDCHECK_LOG_LEVEL", "info"),
        "logger_class": "checker.http.serverlog.Logger",  # credentials redacted, one line per record
        "proc_name": "medcheck",
        "control_socket_disable": True,  # gunicorn >= 25's admin socket: one fixed path per user, unused
        # gunicorn answers past these itself, as JSON through our workers: 414 (line), 431 (headers).
        "limit_request_line": 4094,
        "limit_request_fields": 100,
        "limit_request_field_size": 8190,
        "child_exit": worker_exit,  # metrics: a dead worker's files (checker.ops.multiproc)
    }


def bind_url(host: str, port: int) -> str | None:
    """The URL a client reaches `medcheck serve` at, when the bind address says it: not for a
    wildcard address (0.0.0.0, ::), where only the operator knows the name clients use."""
    if host in ("", "0.0.0.0", "::", "[::]"):
        return None
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def serve(args: argparse.Namespace) -> int:
    """Run until stopped; returns the exit status for the CLI.

    Without MEDCHECK_PUBLIC_URL, the JWT audience of CDS Hooks calls is the bind address (a
    fact the operator chose, not one a client sends); see `bind_url`."""
    options = gunicorn_options(args.host, args.port, args.workers, args.threads)
    config = {}
    if not os.environ.get("MEDCHECK_PUBLIC_URL") and not os.environ.get("MEDCHECK_CDS_AUDIENCE_BASE"):
        if url := bind_url(args.host, args.port):
            config["PUBLIC_URL"] = url
    metrics_dir, made = multiproc_dir()  # /metrics sums every worker's values from here
    try:
        MedcheckApplication(options, config).run()
    except SystemExit as exc:  # gunicorn exits on start-up errors (port in use, bad config)
        return int(exc.code or 0) if isinstance(exc.code, int) else 1
    finally:
        if made:
            remove_dir(metrics_dir)
    return 0
