"""Settings for `gunicorn wsgi:app` run from this folder (gunicorn reads ./gunicorn.conf.py):
the same workers, limits, timeouts and log redaction as `medcheck serve`. Bind and worker count
come from gunicorn's own flags (-b, -w); see README "Running behind a proxy"."""

import os

from checker.serve import gunicorn_options

_threads = int(os.environ.get("MEDCHECK_THREADS", "8"))
_options = gunicorn_options("127.0.0.1", 8000, workers=2, threads=_threads)
for _name in ("bind", "workers", "accesslog"):
    _options.pop(_name)
globals().update(_options)

# /metrics across workers: prometheus-client's multiprocess directory, set before the app (and
# prometheus_client) load, removed when gunicorn exits if it was made here (checker.ops.multiproc).
from checker.ops.multiproc import multiproc_dir, remove_dir  # noqa: E402

_metrics_dir, _made = multiproc_dir()


def on_exit(_server: object) -> None:
    if _made:
        remove_dir(_metrics_dir)
