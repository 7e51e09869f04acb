"""Authentication: API keys on /v1, the CDS client's signed JWT on /cds-services, off by default."""

from __future__ import annotations

import json
import logging
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from checker.http import create_app

ISSUER = "https://ehr.example.org"
SERVICE = "http://localhost/cds-services/medcheck-order-sign"
API_KEY = "k-3a9f0c2e7d51"
BODY = {"medications": [{"drug": "acetaminophen", "dose": 1, "unit": "g", "frequency": "q6h"}]}
CDS_CALL = {
    "hook": "order-sign",
    "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
    "context": {
        "userId": "Practitioner/1",
        "patientId": "p-1",
        "draftOrders": {"resourceType": "Bundle", "entry": []},
    },
}


@pytest.fixture(scope="module")
def keys():
    return {
        "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ec": ec.generate_private_key(ec.SECP384R1()),
        "other": ec.generate_private_key(ec.SECP384R1()),
    }


@pytest.fixture(scope="module")
def app(keys, tmp_path_factory):
    def jwk(key, kid: str, alg: str) -> dict:
        algo = jwt.algorithms.RSAAlgorithm if alg.startswith("RS") else jwt.algorithms.ECAlgorithm
        return {**json.loads(algo.to_jwk(key.public_key())), "kid": kid, "alg": alg, "use": "sig"}

    path = tmp_path_factory.mktemp("jwks") / "issuers.json"
    path.write_text(
        json.dumps({ISSUER: {"keys": [jwk(keys["rsa"], "r1", "RS384"), jwk(keys["ec"], "e1", "ES384")]}})
    )
    return create_app(
        {
            "TESTING": True,
            "API_KEYS": [API_KEY, "second-key"],
            "CDS_JWKS_FILE": str(path),
            "PUBLIC_URL": "http://localhost",
        }
    )


@pytest.fixture
def client(app):
    return app.test_client()


def token(key, alg: str = "ES384", kid: str | None = "e1", **claims) -> str:
    now = int(time.time())
    payload = {
        "iss": ISSUER,
        "aud": SERVICE,
        "iat": now,
        "exp": now + 300,
        "jti": str(uuid.uuid4()),
        **claims,
    }
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid} if kid else None)


def bearer(t: str) -> dict:
    return {"Authorization": f"Bearer {t}"}


def refused(response, words: str) -> None:
    assert response.status_code == 401, response.get_data(as_text=True)
    body = response.get_json()
    assert body["code"] == 401 and words in body["message"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


# --- off by default ---------------------------------------------------------------------------


def test_auth_is_off_by_default():
    c = create_app({"TESTING": True}).test_client()
    assert c.post("/v1/check", json=BODY).status_code == 200
    assert c.post("/cds-services/medcheck-order-sign", json=CDS_CALL).status_code == 200


# --- API keys -----------------------------------------------------------------------------------


@pytest.mark.parametrize("key", [API_KEY, "second-key"])
def test_api_key_accepted(client, key):
    assert client.post("/v1/check", json=BODY, headers=bearer(key)).status_code == 200
    assert client.get("/v1/rules", headers=bearer(key)).status_code == 200


@pytest.mark.parametrize(
    ("headers", "words"),
    [
        ({}, "API key is required"),
        (bearer("wrong"), "not valid"),
        ({"Authorization": f"Basic {API_KEY}"}, "required"),
        (bearer(API_KEY + "x"), "not valid"),
    ],
)
def test_api_key_refused(client, headers, words):
    refused(client.post("/v1/check", json=BODY, headers=headers), words)
    refused(client.get("/v1/formulary", headers=headers), words)


def test_open_endpoints_stay_open(client):
    for path in ("/healthz", "/openapi.json", "/docs"):
        assert client.get(path).status_code == 200


def test_api_keys_from_environment(monkeypatch):
    monkeypatch.setenv("MEDCHECK_API_KEYS", "env-key-1, env-key-2")
    c = create_app({"TESTING": True}).test_client()
    assert c.get("/v1/rules", headers=bearer("env-key-2")).status_code == 200
    assert c.get("/v1/rules").status_code == 401


def test_security_schemes_documented_when_on(client):
    schemes = client.get("/openapi.json").get_json()["components"]["securitySchemes"]
    assert schemes["ApiKey"]["scheme"] == "bearer" and schemes["CdsClientJwt"]["bearerFormat"] == "JWT"


# --- CDS Hooks JWT ------------------------------------------------------------------------------


def test_good_tokens_ec_and_rsa(client, keys):
    ok = client.post("/cds-services/medcheck-order-sign", json=CDS_CALL, headers=bearer(token(keys["ec"])))
    assert ok.status_code == 200 and ok.get_json() == {"cards": []}
    rsa_token = token(keys["rsa"], "RS384", "r1")
    assert (
        client.post("/cds-services/medcheck-order-sign", json=CDS_CALL, headers=bearer(rsa_token)).status_code
        == 200
    )
    discovery = token(keys["ec"], aud="http://localhost/cds-services")
    assert client.get("/cds-services", headers=bearer(discovery)).status_code == 200


def test_no_kid_is_refused(client, keys):
    """CDS Hooks 2.0 requires kid in the JWT header; a token without one is a 401 (it was tried
    against every key of the issuer, and one of another type raised a 500)."""
    for t in (token(keys["rsa"], "RS384", kid=None), token(keys["ec"], kid=None)):
        refused(client.post("/cds-services/medcheck-order-sign", json=CDS_CALL, headers=bearer(t)), "kid")


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda k: token(k["ec"], exp=int(time.time()) - 3600, iat=int(time.time()) - 4000), "expired"),
        (lambda k: token(k["ec"], aud="https://elsewhere.example/cds-services/x"), "aud"),
        (lambda k: token(k["ec"], aud="http://localhost/cds-services/medcheck-order-select"), "aud"),
        (lambda k: token(k["ec"], iat=int(time.time()) + 3600), "iat"),
        (lambda k: token(k["ec"], jti=None), "jti"),
        (lambda k: token(k["ec"], exp=None), "exp"),
        (lambda k: token(k["ec"], iss="https://evil.example"), "issuer is not trusted"),
        (lambda k: token(k["other"]), "signature"),
        (lambda k: token(k["ec"], kid="nope"), "kid"),
        (
            lambda k: jwt.encode(
                {
                    "iss": ISSUER,
                    "aud": SERVICE,
                    "exp": int(time.time()) + 60,
                    "iat": int(time.time()),
                    "jti": "1",
                },
                None,
                algorithm="none",
            ),
            "'none' is not accepted",
        ),
        (lambda k: token("a-shared-secret-of-enough-length-for-hs256!", "HS256"), "'HS256' is not accepted"),
        (
            lambda k: token("a-shared-secret-of-enough-length-for-hs384-a-shared-secret!", "HS384"),
            "not accepted",
        ),
        (lambda k: "not.a.jwt", "well-formed"),
        (lambda k: "", "required"),
    ],
)
def test_bad_tokens_refused(client, keys, make, words, caplog):
    t = make(keys)
    with caplog.at_level(logging.DEBUG):
        r = client.post("/cds-services/medcheck-order-sign", json=CDS_CALL, headers=bearer(t) if t else {})
    refused(r, words)
    if t:
        assert t not in caplog.text and t not in r.get_data(as_text=True)  # tokens are never logged


def test_unsigned_token_with_a_forged_signature_refused(client, keys):
    header, payload, _ = token(keys["ec"]).split(".")
    none_header = jwt.utils.base64url_encode(json.dumps({"alg": "none", "typ": "JWT"}).encode()).decode()
    refused(
        client.post(
            "/cds-services/medcheck-order-sign", json=CDS_CALL, headers=bearer(f"{none_header}.{payload}.")
        ),
        "not accepted",
    )


def test_audience_base_behind_a_proxy(keys, tmp_path):
    path = tmp_path / "jwks.json"
    path.write_text(
        json.dumps(
            {
                ISSUER: [
                    {**json.loads(jwt.algorithms.ECAlgorithm.to_jwk(keys["ec"].public_key())), "kid": "e1"}
                ]
            }
        )
    )
    c = create_app(
        {"CDS_JWKS_FILE": str(path), "CDS_AUDIENCE_BASE": "https://cds.example.org/"}
    ).test_client()
    good = token(keys["ec"], aud="https://cds.example.org/cds-services/medcheck-order-sign")
    assert c.post("/cds-services/medcheck-order-sign", json=CDS_CALL, headers=bearer(good)).status_code == 200
    refused(
        c.post("/cds-services/medcheck-order-sign", json=CDS_CALL, headers=bearer(token(keys["ec"]))), "aud"
    )


def test_feedback_needs_the_jwt_and_never_logs_it(client, keys, caplog):
    fb = {"feedback": [{"card": "c1", "outcome": "accepted", "outcomeTimestamp": "2026-11-27T10:00:00Z"}]}
    t = token(keys["ec"], aud="http://localhost/cds-services/medcheck-order-sign/feedback")
    with caplog.at_level(logging.DEBUG):
        assert (
            client.post("/cds-services/medcheck-order-sign/feedback", json=fb, headers=bearer(t)).status_code
            == 200
        )
        refused(client.post("/cds-services/medcheck-order-sign/feedback", json=fb), "required")
    assert "outcome=accepted" in caplog.text and t not in caplog.text


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        "{}",
        json.dumps({"https://x": {"keys": []}}),
        json.dumps({"https://x": {"keys": [{"kty": "oct", "k": "c2VjcmV0", "alg": "HS256"}]}}),
    ],
)
def test_bad_jwks_file_stops_the_start(tmp_path, content):
    path = tmp_path / "jwks.json"
    path.write_text(content)
    with pytest.raises(RuntimeError):
        create_app({"CDS_JWKS_FILE": str(path)})


def test_a_token_is_accepted_once(client, keys):
    """CDS Hooks' `jti` is a nonce against replay: the same signed token a second time is refused
    (in the worker that saw it), while the EHR's next token, with its own jti, goes through."""
    url, t = "/cds-services/medcheck-order-sign", token(keys["ec"])
    assert client.post(url, json=CDS_CALL, headers=bearer(t)).status_code == 200
    refused(client.post(url, json=CDS_CALL, headers=bearer(t)), "used before")
    assert client.post(url, json=CDS_CALL, headers=bearer(token(keys["ec"]))).status_code == 200


def test_the_jti_ledger_forgets_expired_tokens_and_stays_bounded():
    from checker.http.auth import LEEWAY_S, JtiLedger

    now = [900.0]
    ledger = JtiLedger(timer=lambda: now[0])
    assert ledger.first_use("iss", "a", exp=1000)
    now[0] = 1000 + LEEWAY_S - 1
    assert not ledger.first_use("iss", "a", exp=1000)  # decode still takes it: still refused
    assert ledger.first_use("other-iss", "a", exp=1000)  # ids are per issuer
    now[0] = 1000 + LEEWAY_S + 1
    assert ledger.first_use("iss", "a", exp=5000)  # expired for good: forgotten
    small = JtiLedger(timer=lambda: 0.0, maxsize=3)
    for i in range(10):
        assert small.first_use("iss", str(i), exp=10_000 + i)
    assert len(small) == 3
    assert not small.first_use("iss", "9", exp=10_009)  # the latest are kept
