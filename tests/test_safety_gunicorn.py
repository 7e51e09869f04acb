"""Issue 14 through a real gunicorn (`medcheck serve`, its default worker model): chunked bodies
over the limit, slow clients, gunicorn's own errors as JSON, the JWT audience from the bind
address, and what the access and server logs hold."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.servers import free_port, http_json

ROOT = Path(__file__).resolve().parent.parent
READ_TIMEOUT = 4  # MEDCHECK_READ_TIMEOUT for this server, seconds
ISSUER = "https://ehr.example.org"
CHECK = {"medications": [{"drug": "acetaminophen", "dose": 1, "unit": "g", "frequency": "q6h"}]}
CALL = {
    "hook": "order-sign",
    "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
    "context": {"userId": "Practitioner/1", "patientId": "p-1",
                "draftOrders": {"resourceType": "Bundle", "entry": []}},
}  # fmt: skip


class Server:
    def __init__(self, port: int, log: Path, access: Path, key: ec.EllipticCurvePrivateKey) -> None:
        self.port, self.log, self.access, self.key = port, log, access, key
        self.base = f"http://127.0.0.1:{port}"

    def token(self, path: str, aud: str | None = None) -> str:
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": aud or self.base + path, "iat": now, "exp": now + 300,
                  "jti": str(uuid.uuid4())}  # fmt: skip
        return jwt.encode(claims, self.key, algorithm="ES384", headers={"kid": "k1"})

    def request(self, path: str, body: dict | None = None, headers: dict | None = None, timeout: float = 10):
        status, raw, _ = http_json(self.base + path, body, headers, timeout)
        return status, json.loads(raw)

    def raw(self, data: bytes, timeout: float = 10) -> bytes:
        """Send bytes as they are; everything the server answers until it closes."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as sock:
            sock.sendall(data)
            return read_all(sock)

    def wait_for(self, path: Path, text: str) -> str:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            content = path.read_text(encoding="utf-8", errors="replace")
            if text in content:
                return content
            time.sleep(0.1)
        pytest.fail(f"{text!r} never reached {path.name}:\n{path.read_text(errors='replace')[-3000:]}")


def read_all(sock: socket.socket) -> bytes:
    out = b""
    try:
        while chunk := sock.recv(65536):
            out += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return out


def status_and_json(response: bytes) -> tuple[int, dict]:
    head, _, body = response.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert b"content-type: application/json" in head.lower(), response[:500]
    return status, json.loads(body)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gunicorn-safety")
    key = ec.generate_private_key(ec.SECP384R1())
    jwk = {**json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key())), "kid": "k1", "alg": "ES384"}
    (tmp / "jwks.json").write_text(json.dumps({ISSUER: {"keys": [jwk]}}))
    port, log, access = free_port(), tmp / "server.log", tmp / "access.log"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "MEDCHECK_ACCESS_LOG": str(access),
        "MEDCHECK_READ_TIMEOUT": str(READ_TIMEOUT),
        "MEDCHECK_CDS_JWKS": str(tmp / "jwks.json"),
    }
    for name in ("MEDCHECK_PUBLIC_URL", "MEDCHECK_CDS_AUDIENCE_BASE", "MEDCHECK_THREADS"):
        env.pop(name, None)
    argv = [sys.executable, "-m", "checker.cli", "serve", "--port", str(port), "--workers", "2"]
    with log.open("w") as out:
        proc = subprocess.Popen(argv, cwd=tmp, env=env, stdout=out, stderr=subprocess.STDOUT)
    srv = Server(port, log, access, key)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if srv.request("/healthz", timeout=1)[0] == 200:
                    break
            except (OSError, ValueError):
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"gunicorn did not come up:\n{log.read_text()}")
            time.sleep(0.2)
        yield srv
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- chunked bodies --------------------------------------------------------------------------------------


def send_chunked(server: Server, path: str, body: bytes) -> bytes:
    """POST `body` in 64 KiB chunks while reading the answer, as a client that streams does."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=20)
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    sock.sendall(head.encode() + b"Transfer-Encoding: chunked\r\n\r\n")

    def send() -> None:
        try:
            for i in range(0, len(body), 65536):
                part = body[i : i + 65536]
                sock.sendall(b"%x\r\n" % len(part) + part + b"\r\n")
            sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server answered and closed before the end: that is the point

    sender = threading.Thread(target=send)
    sender.start()
    try:
        return read_response(sock)
    finally:
        sender.join(timeout=20)
        sock.close()


def read_response(sock: socket.socket) -> bytes:
    """One response on a kept-alive connection: its head, then Content-Length bytes of body."""
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = sock.recv(65536)
        if not chunk:
            return answer
        answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    lengths = [
        line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
    ]
    while len(body) < int(lengths[0]) and (chunk := sock.recv(65536)):
        body += chunk
    return head + b"\r\n\r\n" + body


def test_a_3_mib_chunked_body_is_413(server):
    """It was cut at 1 MiB and, being valid JSON there, checked and answered 200."""
    status, body = status_and_json(
        send_chunked(server, "/v1/check", json.dumps(CHECK).encode() + b" " * 3 * 2**20)
    )
    assert status == 413 and body["code"] == 413 and "1048576" in body["message"]
    assert server.request("/healthz")[0] == 200


def test_a_small_chunked_body_is_checked(server):
    status, report = status_and_json(send_chunked(server, "/v1/check", json.dumps(CHECK).encode()))
    assert status == 200 and report["knowledge_version"]


# --- slow clients --------------------------------------------------------------------------------------


def trickle(server: Server, answers: list[bytes], stop: threading.Event) -> None:
    """Open a connection and send a request's headers one byte every 0.25 s."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
        try:
            for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200:
                if stop.is_set():
                    break
                sock.sendall(bytes([byte]))
                time.sleep(0.25)
        except OSError:
            pass  # closed by the server: the answer is waiting
        answers.append(read_all(sock))


def test_two_trickling_clients_do_not_hold_healthz(server):
    answers: list[bytes] = []
    stop = threading.Event()
    slow = [threading.Thread(target=trickle, args=(server, answers, stop)) for _ in range(2)]
    for t in slow:
        t.start()
    try:
        time.sleep(0.5)  # both are now in the middle of their headers
        for _ in range(6):
            started = time.monotonic()
            assert server.request("/healthz", timeout=5)[0] == 200
            assert time.monotonic() - started < 1.5  # held, it would wait for the 408 at READ_TIMEOUT
            time.sleep(0.2)
    finally:
        for t in slow:
            t.join(timeout=READ_TIMEOUT + 15)
        stop.set()
    # and each slow client was answered 408 (JSON) at the read deadline, not served forever
    assert len(answers) == 2
    for answer in answers:
        status, body = status_and_json(answer)
        assert status == 408 and body["code"] == 408 and f"{READ_TIMEOUT} s" in body["message"]


def test_a_client_that_stops_mid_body_gets_408(server):
    """A body promised by Content-Length that never comes holds a thread at most READ_TIMEOUT."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
        sock.sendall(b"POST /v1/check HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 1000\r\n\r\n{\"medications\": [")  # fmt: skip
        answer = read_all(sock)
    assert time.monotonic() - started < READ_TIMEOUT + 5
    if answer:  # Werkzeug answers a body cut short 400; the connection closes either way
        status, body = status_and_json(answer)
        assert status in (400, 408) and body["code"] == status


# --- gunicorn's own errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
            + b"".join(b"X-%d: 1\r\n" % i for i in range(120))
            + b"\r\n",
            431,
        ),
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", 431),
        (b"NOT A REQUEST\r\n\r\n", 400),
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", 400),
    ],
    ids=["414-uri", "431-count", "431-size", "400-line", "400-header"],
)
def test_gunicorn_errors_are_json(server, request_bytes, status):
    got, body = status_and_json(server.raw(request_bytes))
    assert got == status and body["code"] == status and body["status"] and body["message"]
    assert set(body) <= {"code", "status", "message", "errors"}


# --- the JWT audience -------------------------------------------------------------------------------------


def test_aud_is_the_bind_address_not_the_host_header(server):
    path = "/cds-services/medcheck-order-sign"
    ok = {"Authorization": f"Bearer {server.token(path)}"}
    assert server.request(path, CALL, headers=ok)[0] == 200
    stolen = server.token(path, aud="http://evil.example" + path)
    for headers in (
        {"Host": "evil.example"},
        {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http"},
    ):
        status, body = server.request(path, CALL, headers={"Authorization": f"Bearer {stolen}", **headers})
        assert status == 401 and "aud" in body["message"]


# --- logs --------------------------------------------------------------------------------------------------


def test_tokens_in_the_query_string_never_reach_the_access_log(server):
    secrets = ["s3cr3t-token-1", "s3cr3t-token-2", "s3cr3t-token-3", "s3cr3t-token-4", "s3cr3t-token-5"]
    query = (
        f"token={secrets[0]}&since=2026-01-01&access_token={secrets[1]}&jwt={secrets[2]}&api_key={secrets[3]}"
    )
    headers = {"Referer": f"https://ehr.example.org/app?id_token={secrets[4]}"}
    assert server.request(f"/healthz?{query}", headers=headers)[0] == 200
    content = server.wait_for(server.access, "since=2026-01-01")
    assert "token=REDACTED" in content and "jwt=REDACTED" in content and "id_token=REDACTED" in content
    for secret in secrets:
        assert secret not in content and secret not in server.log.read_text(errors="replace")


def test_feedback_is_logged_structured_without_comment_or_forged_lines(server):
    path = "/cds-services/medcheck-order-sign/feedback"
    feedback = {"feedback": [{
        "card": "c-77\r\n[2026-12-01 00:00:00 +0000] [1] [INFO] forged line",
        "outcome": "overridden",
        "outcomeTimestamp": "2026-11-27T10:00:00Z\nsecond forged line",
        "overrideReason": {"reason": {"code": "will-monitor\r\nthird"},
                           "userComment": "Jane Roe, MRN 4455-771-90, daughter disagrees"},
    }]}  # fmt: skip
    status, _ = server.request(path, feedback, headers={"Authorization": f"Bearer {server.token(path)}"})
    assert status == 200
    content = server.wait_for(server.log, "card=")
    lines = [line for line in content.splitlines() if "cds feedback" in line]
    assert len(lines) == 1, lines
    line = json.loads(lines[0])["event"]  # log lines are JSON (checker.ops.logs); the message is the event
    assert 'card="c-77\\r\\n[2026-12-01' in line and "outcome=overridden" in line
    assert 'reason="will-monitor\\r\\nthird"' in line and "second forged line" in line
    for forged in ("forged line", "second forged line", "third"):
        assert not any(other.startswith(forged) for other in content.splitlines())
    assert "Jane Roe" not in content and "4455-771-90" not in content
    assert "Jane Roe" not in server.access.read_text(errors="replace")


# --- the worker timeout ----------------------------------------------------------------------------------

SLOW_APP = """
import time


def app(environ, start_response):
    time.sleep(30)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"late"]
"""


def test_a_request_past_the_sync_worker_timeout_is_a_json_503(tmp_path):
    """gunicorn's arbiter aborts a sync worker silent past `timeout`; the request it was running
    gets our JSON 503 instead of gunicorn's HTML 500. (The threaded worker's main loop keeps
    reporting alive while requests run, so there the timeout only meets a stuck process; see
    docs/serving.md.)"""
    (tmp_path / "slowapp.py").write_text(SLOW_APP)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(tmp_path)])}
    argv = [sys.executable, "-m", "gunicorn", "slowapp:app", "-b", f"127.0.0.1:{port}", "--timeout", "2",
            "-k", "checker.http.workers.SyncWorker", "--no-control-socket"]  # fmt: skip
    log = tmp_path / "server.log"
    with log.open("w") as out:
        proc = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"gunicorn did not come up:\n{log.read_text()}")
                time.sleep(0.2)
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            status, body = status_and_json(read_all(sock))
        assert status == 503 and body["code"] == 503 and "worker timeout" in body["message"]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
