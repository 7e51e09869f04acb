"""Issue 14, CDS Hooks authentication the client cannot steer: `aud` is checked against the
configured public URL (never Host or X-Forwarded-*), a token without kid or whose kid names a key
of another type is a 401 (it was a 500), and the jti ledger is a store the workers can share."""

from __future__ import annotations

import json
import logging
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from checker.http import create_app
from checker.http.auth import JtiLedger
from checker.serve import bind_url

ISSUER = "https://ehr.example.org"
PUBLIC = "https://cds.example.org/medcheck"  # behind a proxy, under a path prefix
SIGN = "/cds-services/medcheck-order-sign"
CALL = {
    "hook": "order-sign",
    "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
    "context": {"userId": "Practitioner/1", "patientId": "p-1",
                "draftOrders": {"resourceType": "Bundle", "entry": []}},
}  # fmt: skip


@pytest.fixture(scope="module")
def keys():
    return {
        "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ec": ec.generate_private_key(ec.SECP384R1()),
        "ec256": ec.generate_private_key(ec.SECP256R1()),
    }


def jwk(key, kid: str, alg: str | None) -> dict:
    algo = jwt.algorithms.RSAAlgorithm if isinstance(key, rsa.RSAPrivateKey) else jwt.algorithms.ECAlgorithm
    out = {**json.loads(algo.to_jwk(key.public_key())), "kid": kid}
    return {**out, "alg": alg} if alg else out


@pytest.fixture(scope="module")
def jwks_file(keys, tmp_path_factory):
    path = tmp_path_factory.mktemp("jwks") / "issuers.json"
    entries = [jwk(keys["rsa"], "r1", "RS384"), jwk(keys["ec"], "e1", "ES384"),
               jwk(keys["rsa"], "r-any", None), jwk(keys["ec256"], "e256", None)]  # fmt: skip
    path.write_text(json.dumps({ISSUER: {"keys": entries}}))
    return str(path)


def make_app(jwks_file, **config):
    return create_app({"TESTING": True, "CDS_JWKS_FILE": jwks_file, "PUBLIC_URL": PUBLIC, **config})


@pytest.fixture(scope="module")
def client(jwks_file):
    return make_app(jwks_file).test_client()


def token(key, alg="ES384", kid: str | None = "e1", aud: str = PUBLIC + SIGN, **claims) -> str:
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": aud, "iat": now, "exp": now + 300, "jti": str(uuid.uuid4()), **claims}
    return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid} if kid is not None else None)


def call(client, t: str, url: str = SIGN, **headers: str):
    return client.post(url, json=CALL, headers={"Authorization": f"Bearer {t}", **headers})


def refused(response, words: str) -> None:
    text = response.get_data(as_text=True)
    assert response.status_code == 401, text
    body = response.get_json()
    assert body["code"] == 401 and words in body["message"], body
    assert "Traceback" not in text


# --- aud ------------------------------------------------------------------------------------------------


def test_aud_is_the_configured_public_url_plus_the_path(client, keys):
    assert call(client, token(keys["ec"])).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"Host": "evil.example"},
        {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http"},
        {"Forwarded": "host=evil.example;proto=http"},
        {"Host": "evil.example", "X-Forwarded-Prefix": "/"},
    ],
)
def test_the_client_cannot_choose_the_audience(client, keys, headers):
    """A token minted for another service was accepted by sending that service's Host."""
    stolen = token(keys["ec"], aud="http://evil.example" + SIGN)
    refused(call(client, stolen, **headers), "aud")
    # and the real audience still works whatever those headers say
    assert call(client, token(keys["ec"]), **headers).status_code == 200


def test_without_a_public_url_cds_auth_does_not_start(jwks_file):
    with pytest.raises(RuntimeError, match="MEDCHECK_PUBLIC_URL"):
        create_app({"CDS_JWKS_FILE": jwks_file})


@pytest.mark.parametrize(
    "bad", ["cds.example.org", "ftp://cds.example.org", "https://x.org/?a=1", "https://"]
)
def test_a_public_url_that_is_not_one_stops_the_start(jwks_file, bad):
    with pytest.raises(RuntimeError, match="public URL"):
        make_app(jwks_file, PUBLIC_URL=bad)


def test_public_url_from_the_environment(jwks_file, keys, monkeypatch):
    monkeypatch.setenv("MEDCHECK_PUBLIC_URL", "https://env.example.org/")
    c = create_app({"TESTING": True, "CDS_JWKS_FILE": jwks_file}).test_client()
    assert call(c, token(keys["ec"], aud="https://env.example.org" + SIGN)).status_code == 200
    refused(call(c, token(keys["ec"])), "https://env.example.org/cds-services/medcheck-order-sign")


def test_serve_uses_its_bind_address_only_when_it_names_the_host():
    assert bind_url("127.0.0.1", 8000) == "http://127.0.0.1:8000"
    assert bind_url("::1", 9000) == "http://[::1]:9000"
    assert bind_url("0.0.0.0", 8000) is None and bind_url("::", 8000) is None


# --- kid ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "alg", "kid", "words"),
    [
        ("ec", "ES384", None, "no kid"),
        ("rsa", "RS384", None, "no kid"),
        ("ec", "ES384", "", "no kid"),
        ("rsa", "RS384", "e1", "cannot verify RS384"),  # kid of the EC key, RSA signature
        ("rsa", "PS384", "e1", "cannot verify PS384"),
        ("ec", "ES384", "r1", "cannot verify ES384"),  # kid of the RSA key, EC signature
        ("ec", "ES384", "r-any", "cannot verify ES384"),
        ("ec256", "ES256", "e1", "cannot verify ES256"),  # EC, but another curve
        ("ec", "ES384", "e256", "cannot verify ES384"),
        ("rsa", "PS384", "r1", "cannot verify PS384"),  # the JWK says RS384
        ("ec", "ES384", "nope", "matches the token's kid"),
    ],
)
def test_a_kid_missing_or_naming_a_key_of_another_type_is_401(client, keys, key, alg, kid, words, caplog):
    with caplog.at_level(logging.ERROR):
        refused(call(client, token(keys[key], alg, kid)), words)
    assert "Traceback" not in caplog.text


FITTING = [
    ("rsa", "PS384", "r-any"),  # an RSA JWK without alg verifies any RS/PS algorithm
    ("rsa", "RS512", "r-any"),
    ("ec256", "ES256", "e256"),
    ("rsa", "RS384", "r1"),
]


@pytest.mark.parametrize(("key", "alg", "kid"), FITTING)
def test_a_kid_naming_a_fitting_key_verifies(client, keys, key, alg, kid):
    assert call(client, token(keys[key], alg, kid)).status_code == 200


# --- the jti store ----------------------------------------------------------------------------------------


class SharedStore:
    """What a database-backed store does, in memory: one ledger for every app (worker) given it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, float]] = []
        self.ledger = JtiLedger()

    def first_use(self, issuer: str, jti: str, exp: float) -> bool:
        self.calls.append((issuer, jti, exp))
        return self.ledger.first_use(issuer, jti, exp)


def test_a_shared_jti_store_refuses_a_replay_at_another_worker(jwks_file, keys):
    store = SharedStore()
    worker_a = make_app(jwks_file, JTI_STORE=store).test_client()
    worker_b = make_app(jwks_file, JTI_STORE=store).test_client()
    t = token(keys["ec"])
    assert call(worker_a, t).status_code == 200
    refused(call(worker_b, t), "used before")
    claims = jwt.decode(t, options={"verify_signature": False})
    assert store.calls[0] == (ISSUER, claims["jti"], claims["exp"])


def test_without_a_store_apps_on_one_database_share_the_ledger(jwks_file, keys):
    """No JTI_STORE given: the app's database is the ledger (checker.store.jti), so a replay that
    reaches another app (worker, machine) on the same database is refused."""
    t = token(keys["ec"])
    first, second = make_app(jwks_file).test_client(), make_app(jwks_file).test_client()
    assert call(first, t).status_code == 200
    refused(call(second, t), "used before")
    refused(call(first, t), "used before")


def test_a_refusal_is_logged_on_one_line(jwks_file, caplog):
    """The refused path is the client's: CR/LF in it must not start a forged log line."""
    c = make_app(jwks_file, API_KEYS=["k-1"]).test_client()
    with caplog.at_level(logging.INFO, logger="medcheck.auth"):
        assert c.get("/v1/formulary/x%0D%0A2026-12-01 INFO forged").status_code == 401
    [record] = [r for r in caplog.records if r.name == "medcheck.auth"]
    message = record.getMessage()
    assert "\n" not in message and "\r" not in message and 'path="/v1/formulary/x\\r\\n2026' in message
