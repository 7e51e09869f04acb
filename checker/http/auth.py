"""Who may call: bearer API keys for /v1, and the CDS Hooks client's signed JWT for /cds-services.

Both are off unless configured (local use needs no set-up). Keys and tokens are compared and
verified here and never logged or echoed: a rejection says why, not what was sent.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cachetools import TLRUCache
from flask import current_app, request
from flask_smorest import abort

log = logging.getLogger("medcheck.auth")

# CDS Hooks 2.0 forbids "none" and symmetric algorithms; ES384/RS384 are recommended.
ALLOWED_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
REQUIRED_CLAIMS = ("iss", "aud", "exp", "iat", "jti")
LEEWAY_S = 60  # clock skew tolerated on exp and iat, seconds


class AuthError(Exception):
    """A credential that is missing or not good enough; the message is safe to show."""


class JtiLedger:
    """The CDS clients' token ids (`jti`) seen, each kept until its token expires, so that a token
    is accepted once: CDS Hooks makes `jti` a nonce "used to protect against replay attacks", and
    an EHR signs a new token for every call.

    Held in this process's memory: with several gunicorn workers, a replay that reaches another
    worker is not caught (run one worker, or put a shared store behind this class, for that).
    Bounded: past MAX ids, the expired go first, then the oldest."""

    MAX = 100_000

    def __init__(self, timer: Callable[[], float] = time.time, maxsize: int = MAX) -> None:
        # Each id lives until its own token's expiry (plus the leeway decoding allows).
        self._seen: TLRUCache = TLRUCache(maxsize, ttu=lambda _key, until, _now: until, timer=timer)
        self._lock = threading.Lock()

    def first_use(self, issuer: str, jti: str, exp: float) -> bool:
        """Record the token; False if it was seen before and has not expired since."""
        key = (issuer, jti)
        with self._lock:
            if key in self._seen:
                return False
            self._seen[key] = float(exp) + LEEWAY_S
            return True

    def __len__(self) -> int:
        with self._lock:
            self._seen.expire()
            return len(self._seen)


@dataclass(frozen=True)
class AuthConfig:
    api_keys: tuple[str, ...] = ()
    jwks: Mapping[str, tuple[jwt.PyJWK, ...]] = field(default_factory=dict)
    audience_base: str | None = None
    seen: JtiLedger = field(default_factory=JtiLedger, compare=False, repr=False)

    @classmethod
    def from_app(cls, config: Mapping[str, Any]) -> AuthConfig:
        keys = config.get("API_KEYS") or ()
        if isinstance(keys, str):
            keys = [k.strip() for k in keys.split(",")]
        path = config.get("CDS_JWKS_FILE")
        base = config.get("CDS_AUDIENCE_BASE")
        return cls(
            api_keys=tuple(k for k in keys if k),
            jwks=load_jwks(Path(path)) if path else {},
            audience_base=base.rstrip("/") if base else None,
        )


def load_jwks(path: Path) -> dict[str, tuple[jwt.PyJWK, ...]]:
    """Read {issuer: JWKS} (a JWKS is {"keys": [...]}); a bad file stops the start, loudly."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RuntimeError(f"cannot read CDS Hooks JWKS file {path}: {exc}") from None
    if not isinstance(data, dict) or not data:
        raise RuntimeError(f"{path}: expected a JSON object mapping each issuer to its JWKS")
    out: dict[str, tuple[jwt.PyJWK, ...]] = {}
    for issuer, jwks in data.items():
        entries = jwks.get("keys") if isinstance(jwks, dict) else jwks
        if not isinstance(entries, list) or not entries:
            raise RuntimeError(f"{path}: issuer {issuer!r} has no keys")
        try:
            keys = tuple(jwt.PyJWK(k) for k in entries)
        except (jwt.PyJWKError, jwt.InvalidKeyError, TypeError) as exc:
            raise RuntimeError(f"{path}: a key of issuer {issuer!r} is unusable: {exc}") from None
        if any(k.algorithm_name and k.algorithm_name not in ALLOWED_ALGORITHMS for k in keys):
            raise RuntimeError(f"{path}: issuer {issuer!r} has a key for a forbidden algorithm")
        out[issuer] = keys
    return out


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def check_api_key(token: str | None, keys: tuple[str, ...]) -> None:
    if not token:
        raise AuthError("An API key is required: send 'Authorization: Bearer <key>'.")
    # Compare with every key, in constant time, so timing tells nothing about near misses.
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(token.encode(), key.encode())
    if not matched:
        raise AuthError("The API key is not valid.")


def verify_client_jwt(token: str | None, jwks: Mapping[str, tuple[jwt.PyJWK, ...]], audience: str) -> dict:
    """Verify a CDS client's JWT: trusted issuer, its key, an allowed algorithm, aud, exp, iat, jti."""
    if not token:
        raise AuthError("A signed JWT is required: send 'Authorization: Bearer <jwt>'.")
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise AuthError("The token is not a well-formed JWT.") from None
    alg = header.get("alg")
    if alg not in ALLOWED_ALGORITHMS:
        raise AuthError(f"Algorithm {alg!r} is not accepted; sign with an asymmetric key (ES384, RS384).")
    issuer = claims.get("iss")
    keys = jwks.get(issuer) if isinstance(issuer, str) else None
    if not keys:
        raise AuthError("The token's issuer is not trusted.")
    kid = header.get("kid")
    candidates = [k for k in keys if kid is None or k.key_id == kid]
    if not candidates:
        raise AuthError("No key of the issuer matches the token's kid.")
    for key in candidates:
        try:
            return jwt.decode(
                token, key=key.key, algorithms=[alg], audience=audience, issuer=issuer,
                options={"require": list(REQUIRED_CLAIMS)}, leeway=LEEWAY_S,
            )  # fmt: skip
        except jwt.InvalidSignatureError:
            continue
        except (jwt.InvalidKeyError, jwt.InvalidAlgorithmError):
            continue
        except jwt.ExpiredSignatureError:
            raise AuthError("The token has expired.") from None
        except jwt.InvalidAudienceError:
            raise AuthError(f"The token's aud must be this service's URL: {audience}") from None
        except jwt.ImmatureSignatureError:
            raise AuthError("The token's iat is in the future.") from None
        except jwt.MissingRequiredClaimError as exc:
            raise AuthError(f"The token lacks the {exc.claim!r} claim.") from None
        except jwt.PyJWTError:
            raise AuthError("The token is not valid.") from None
    raise AuthError("The token's signature does not verify with the issuer's keys.")


def _audience() -> str:
    cfg: AuthConfig = current_app.extensions["medcheck.auth"]
    if cfg.audience_base:
        return cfg.audience_base + request.path
    return request.base_url


def authenticate() -> None:
    """before_request: apply whichever scheme guards the path; routing errors pass through."""
    if request.routing_exception is not None:
        return
    cfg: AuthConfig = current_app.extensions["medcheck.auth"]
    path = request.path
    try:
        if cfg.api_keys and (path == "/v1" or path.startswith("/v1/")):
            check_api_key(bearer_token(), cfg.api_keys)
        elif cfg.jwks and (path == "/cds-services" or path.startswith("/cds-services/")):
            claims = verify_client_jwt(bearer_token(), cfg.jwks, _audience())
            if not cfg.seen.first_use(str(claims["iss"]), str(claims["jti"]), claims["exp"]):
                raise AuthError("The token has been used before (same jti); sign a new token for each call.")
    except AuthError as exc:
        log.info("refused %s %s: %s", request.method, path, exc)
        abort(401, message=str(exc), headers={"WWW-Authenticate": 'Bearer realm="medcheck"'})
