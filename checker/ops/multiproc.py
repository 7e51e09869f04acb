"""prometheus-client's multiprocess mode for `medcheck serve`: the directory where every gunicorn
worker writes its metric values. It must be in the environment before prometheus_client is
imported, so this module does not import it."""

from __future__ import annotations

import os
import shutil
import tempfile

ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiproc_dir() -> tuple[str, bool]:
    """Set PROMETHEUS_MULTIPROC_DIR for this server's workers: the operator's (emptied, as
    prometheus_client requires between runs) or a new temporary one. True if we made it, and
    so remove it at exit. Call before anything imports prometheus_client."""
    given = os.environ.get(ENV)
    if given:
        os.makedirs(given, exist_ok=True)
        for name in os.listdir(given):
            if name.endswith(".db"):
                os.remove(os.path.join(given, name))
        return given, False
    made = tempfile.mkdtemp(prefix="medcheck-metrics-")
    os.environ[ENV] = made
    return made, True


def remove_dir(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)


def worker_exit(_server: object, worker: object) -> None:
    """gunicorn's child_exit hook: a dead worker's live gauges are dropped (counters stay)."""
    from prometheus_client import multiprocess

    if os.environ.get(ENV):
        multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]
