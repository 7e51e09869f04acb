"""Several machines: two real `medcheck serve` processes (gunicorn, two workers each) on one
database behave as one service: a CDS token replayed to the other server, or to a restarted
one, is refused; feedback given to either shows in the summary; /metrics covers every worker;
logs are JSON lines with the request id and no patient data. SQLite file, and PostgreSQL when
.ci/run started one."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.servers import free_port, http_json
from tests.store_urls import BACKENDS, fresh_url

ROOT = Path(__file__).resolve().parent.parent
ISSUER = "https://ehr.example.org"
PUBLIC = "https://medcheck.example.org"  # both servers sit behind one name (a load balancer)
SIGN = "/cds-services/medcheck-order-sign"
PAIR = [{"drug": "oxycodone", "dose": 5, "unit": "mg", "route": "oral", "frequency": "q6h"},
        {"drug": "lorazepam", "dose": 1, "unit": "mg", "route": "oral", "frequency": "bid"}]  # fmt: skip
# A major rule for every patient (FDA boxed warning); opioid + gabapentinoid is major only from 65.
RULE = "interaction.opioid_benzodiazepine"


class Server:
    def __init__(self, env: dict, log: Path) -> None:
        self.port, self.log, self.env = free_port(), log, env
        self.base = f"http://127.0.0.1:{self.port}"
        argv = [sys.executable, "-m", "checker.cli", "serve", "--port", str(self.port), "--workers", "2"]
        with log.open("a") as out:
            self.proc = subprocess.Popen(argv, cwd=log.parent, env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while True:
            try:
                if self.request("/readyz", timeout=1)[0] == 200:
                    return
            except (OSError, ValueError):
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"server did not come up:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)

    def request(self, path: str, body: dict | None = None, headers: dict | None = None, timeout: float = 10):
        status, raw, answered = http_json(self.base + path, body, headers, timeout)
        self.last_request_id = answered.get("X-Request-ID")
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode()

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def token(key: ec.EllipticCurvePrivateKey, path: str = SIGN) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": PUBLIC + path, "iat": now, "exp": now + 300, "jti": str(uuid.uuid4())}
    return jwt.encode(claims, key, algorithm="ES384", headers={"kid": "k1"})


@pytest.fixture(scope="module", params=BACKENDS)
def cluster(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(f"servers-{request.param}")
    key = ec.generate_private_key(ec.SECP384R1())
    jwk = {**json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key())), "kid": "k1", "alg": "ES384"}
    (tmp / "jwks.json").write_text(json.dumps({ISSUER: {"keys": [jwk]}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEDCHECK_", "PROMETHEUS_"))}
    env.update({
        "PYTHONPATH": str(ROOT), "MEDCHECK_DATABASE_URL": fresh_url(request.param, tmp),
        "MEDCHECK_CDS_JWKS": str(tmp / "jwks.json"), "MEDCHECK_PUBLIC_URL": PUBLIC,
        "MEDCHECK_SHOWN_FLUSH_S": "0.2", "MEDCHECK_ACCESS_LOG": "",
    })  # fmt: skip
    servers = [Server(env, tmp / "a.log"), Server(env, tmp / "b.log")]
    try:
        yield servers, key, env, tmp
    finally:
        for s in servers:
            s.stop()


def auth(t: str) -> dict:
    return {"Authorization": f"Bearer {t}"}


CALL = {"hook": "order-sign", "hookInstance": "8a1f6c52-9e2b-4b8e-9c5d-2b0f2f3e7a10",
        "context": {"userId": "Practitioner/1", "patientId": "p-secret-77", "draftOrders": {
            "resourceType": "Bundle", "entry": [{"resource": {
                "resourceType": "MedicationRequest", "id": f"m{i}", "status": "draft", "intent": "order",
                "medicationCodeableConcept": {"text": m["drug"]},
                "dosageInstruction": [{"text": f"{m['dose']} mg PO {m['frequency']}"}]}}
                for i, m in enumerate(PAIR)]}}}  # fmt: skip


def test_a_token_replayed_to_the_other_server_or_after_a_restart_is_refused(cluster):
    (a, b), key, env, tmp = cluster
    t = token(key)
    assert a.request(SIGN, CALL, auth(t))[0] == 200
    status, body = b.request(SIGN, CALL, auth(t))
    assert status == 401 and "used before" in body["message"]
    for _ in range(4):  # whichever worker of either server takes it
        assert a.request(SIGN, CALL, auth(t))[0] == 401
    fresh = token(key)
    assert b.request(SIGN, CALL, auth(fresh))[0] == 200
    a.stop()
    cluster[0][0] = restarted = Server(env, tmp / "a.log")
    assert restarted.request(SIGN, CALL, auth(fresh))[0] == 401  # the ledger outlives the process
    assert restarted.request(SIGN, CALL, auth(token(key)))[0] == 200


def test_feedback_given_to_either_server_shows_in_the_summary(cluster):
    (a, b), key, _, _ = cluster
    status, body = a.request(SIGN, CALL, auth(token(key)))
    [card] = [c for c in body["cards"] if c["extension"]["medcheck"]["rule"] == RULE]
    path = SIGN + "/feedback"
    at = "2026-12-01T10:00:00Z"
    reason = {"reason": {"code": "will-monitor"}, "userComment": "Jane Roe"}
    items = {"feedback": [{"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": at,
                           "overrideReason": reason}]}
    assert b.request(path, items, auth(token(key, path)))[0] == 200
    accepted = {"feedback": [{"card": card["uuid"], "outcome": "accepted", "outcomeTimestamp": at}]}
    assert a.request(path, accepted, auth(token(key, path)))[0] == 200
    deadline = time.monotonic() + 15
    while True:
        rows = {r["rule"]: r for r in b.request("/v1/feedback/summary?since=2020-01-01")[1]["rules"]}
        row = rows.get(RULE)
        # a card's rule reaches the database with its worker's next flush of shown counts (every
        # 2 s), which earlier calls' counts may precede: wait for this card's answers themselves
        done = row and row["shown"] >= 1 and row["overridden"] >= 1 and row["accepted"] >= 1
        if done or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert row is not None and row["overridden"] >= 1 and row["accepted"] >= 1 and row["shown"] >= 1
    assert {"code": "will-monitor", "count": row["overridden"]} in row["reasons"]
    def answers(server: Server) -> dict:  # shown counts may still be on their way from a worker
        rows = server.request("/v1/feedback/summary?since=2020-01-01")[1]["rules"]
        return {r["rule"]: (r["accepted"], r["overridden"], r["reasons"]) for r in rows}

    assert answers(a) == answers(b)


def _counter(text: str, endpoint: str) -> float:
    labels = f'endpoint="{re.escape(endpoint)}",method="POST",status="200"'
    pattern = rf"medcheck_http_requests_total\{{{labels}\}} (\S+)"
    return sum(float(m) for m in re.findall(pattern, text))


def test_metrics_cover_every_worker_and_logs_are_json_without_patient_data(cluster):
    (a, _), _, _, _ = cluster
    before = _counter(a.request("/metrics")[1], "/v1/check")
    regimen = {"patient": {"id": "p-secret-77", "age_years": 71}, "medications": PAIR}
    n = 12
    for i in range(n):
        assert a.request("/v1/check", regimen, {"X-Request-ID": f"req-{i}"})[0] == 200
        assert a.last_request_id == f"req-{i}"
    seen = set()
    for _ in range(6):  # several scrapes: whichever worker answers, the sum is all workers'
        text = a.request("/metrics")[1]
        seen.add(_counter(text, "/v1/check"))
        assert f'medcheck_findings_total{{rule="{RULE}",severity="major"}}' in text
    assert seen == {before + n}
    log = a.log.read_text(errors="replace")
    events = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    mine = [e for e in events if e.get("event") == "request" and e.get("request_id", "").startswith("req-")]
    assert {e["request_id"] for e in mine} >= {f"req-{i}" for i in range(n)}
    assert all(e["endpoint"] == "/v1/check" and e["status"] == 200 for e in mine)
    assert "p-secret-77" not in log and "Jane Roe" not in log
