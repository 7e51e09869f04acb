"""End to end: `medcheck serve` starts a real gunicorn on loopback and answers real requests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from checker.serve import gunicorn_options
from tests.servers import free_port, http_json

ROOT = Path(__file__).resolve().parent.parent


def request(url: str, body: dict | None = None, timeout: float = 5) -> tuple[int, dict]:
    status, raw, _ = http_json(url, body, timeout=timeout)
    return status, json.loads(raw)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MEDCHECK_ACCESS_LOG": ""}
    log = (tmp_path_factory.mktemp("gunicorn") / "server.log").open("w+")
    # Started from an unrelated directory: the service must not depend on the source tree's cwd.
    argv = [
        sys.executable,
        "-m",
        "checker.cli",
        "serve",
        "--port",
        str(port),
        "--workers",
        "2",
        "--threads",
        "2",
    ]
    proc = subprocess.Popen(
        argv, cwd=tmp_path_factory.mktemp("elsewhere"), env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if request(f"{base}/healthz", timeout=1)[0] == 200:
                    break
            except (OSError, ValueError):
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                pytest.fail(f"gunicorn did not come up:\n{log.read()}")
            time.sleep(0.1)
        yield base, log
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_real_gunicorn_serves_a_check(server):
    server, _ = server
    status, health = request(f"{server}/healthz")
    assert status == 200 and health["status"] == "ok"
    body = {"medications": [{"drug": "acetaminophen", "dose": 1, "unit": "g", "frequency": "q4h"}]}
    status, report = request(f"{server}/v1/check", body)
    assert status == 200
    assert report["knowledge_version"] == health["knowledge_version"]
    assert "dose.daily_max" in {f["code"] for f in report["findings"]}


def test_real_gunicorn_errors_are_json(server):
    server, _ = server
    status, err = request(f"{server}/v1/check", {"medications": [{"drug": "x", "dose": "lots"}]})
    assert status == 422 and "medications.0.dose" in err["errors"]
    status, err = request(f"{server}/v1/formulary/nothing-like-this")
    assert status == 404 and err["code"] == 404


def test_cds_feedback_reaches_the_server_log(server):
    base, log = server
    fb = {
        "feedback": [
            {
                "card": "c-42",
                "outcome": "overridden",
                "outcomeTimestamp": "2026-11-27T10:00:00Z",
                "overrideReason": {"reason": {"code": "will-monitor", "display": "Will monitor"}},
            }
        ]
    }
    assert request(f"{base}/cds-services/medcheck-order-sign/feedback", fb)[0] == 200
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        log.seek(0)
        if "card=c-42 outcome=overridden reason=will-monitor" in log.read():
            return
        time.sleep(0.1)
    pytest.fail("feedback was not logged by the gunicorn worker")


def test_options():
    opts = gunicorn_options("127.0.0.1", 8000, 2, 1)
    # medcheck's subclasses of gunicorn's sync and gthread workers (request deadline, JSON errors)
    assert opts["bind"] == "127.0.0.1:8000" and opts["workers"] == 2
    assert opts["worker_class"].endswith("SyncWorker")
    assert gunicorn_options("::1", 9000, 1, 4)["bind"] == "[::1]:9000"
    assert gunicorn_options("::1", 9000, 1, 4)["worker_class"].endswith("ThreadWorker")


def test_cli_defaults_bind_loopback_8000():
    from checker.cli import build_parser

    args = build_parser().parse_args(["serve"])
    if "MEDCHECK_HOST" not in os.environ and "MEDCHECK_PORT" not in os.environ:
        assert (args.host, args.port) == ("127.0.0.1", 8000)
