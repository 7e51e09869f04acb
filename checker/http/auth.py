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
from typing import Any, Protocol
from urllib.parse import urlsplit

import jwt
from cachetools import TLRUCache
from flask import current_app, request
from flask_smorest import abort

from checker.http.logs import logfmt

log = logging.getLogger("medcheck.auth")

# CDS Hooks 2.0 forbids "none" and symmetric algorithms; ES384/RS384 are recommended.
ALLOWED_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
REQUIRED_CLAIMS = ("iss", "aud", "exp", "iat", "jti")
LEEWAY_S = 60  # clock skew tolerated on exp and iat, seconds


class AuthError(Exception):
    """A credential that is missing or not good enough; the message is safe to show."""


class JtiStore(Protocol):
    """Where the CDS clients' token ids (`jti`) are remembered. CDS Hooks makes `jti` a nonce
    "used to protect against replay attacks" and an EHR signs a new token for every call, so a
    token is accepted once. A store shared by every worker and machine (a database) catches a
    replay wherever it lands; set one as the app's JTI_STORE."""

    def first_use(self, issuer: str, jti: str, exp: float) -> bool:
        """Record (issuer, jti) until `exp` + LEEWAY_S; False if it is already recorded."""
        ...


class JtiLedger:
    """The default JtiStore: this process's memory. With several gunicorn workers a replay that
    reaches another worker, or comes after a restart, is not caught.

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
    seen: JtiStore = field(default_factory=JtiLedger, compare=False, repr=False)

    @classmethod
    def from_app(cls, config: Mapping[str, Any]) -> AuthConfig:
        keys = config.get("API_KEYS") or ()
        if isinstance(keys, str):
            keys = [k.strip() for k in keys.split(",")]
        path = config.get("CDS_JWKS_FILE")
        base = public_url(config.get("PUBLIC_URL") or config.get("CDS_AUDIENCE_BASE"))
        if path and not base:
            raise RuntimeError(
                "CDS Hooks authentication (MEDCHECK_CDS_JWKS) needs the service's public URL, which "
                "every token's aud must name: set MEDCHECK_PUBLIC_URL (e.g. https://cds.example.org)"
            )
        return cls(
            api_keys=tuple(k for k in keys if k),
            jwks=load_jwks(Path(path)) if path else {},
            audience_base=base,
            seen=config.get("JTI_STORE") or JtiLedger(),
        )


def public_url(value: str | None) -> str | None:
    """The configured base URL without a trailing slash; a value that is not an absolute http(s)
    URL stops the start (a typo here would refuse every token, or accept the wrong audience)."""
    if not value:
        return None
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise RuntimeError(f"the public URL must be an absolute http(s) URL without query: {value!r}")
    return value.strip().rstrip("/")


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


# A key type, and for EC keys the curve, fixes which algorithms it can verify (RFC 7518 §3.1).
_FAMILY = {"RS": "RSA", "PS": "RSA", "ES": "EC"}
_CURVE = {"ES256": "secp256r1", "ES384": "secp384r1", "ES512": "secp521r1"}


def key_fits(key: jwt.PyJWK, alg: str) -> bool:
    """Whether `key` can verify a signature made with `alg` (PyJWT raises TypeError otherwise)."""
    if key.key_type != _FAMILY.get(alg[:2]):
        return False
    if alg in _CURVE:
        return getattr(getattr(key.key, "curve", None), "name", None) == _CURVE[alg]
    # An RSA JWK without "alg" gets PyJWT's default RS256; it verifies any RS/PS algorithm.
    return getattr(key, "algorithm_name", None) in (None, alg, "RS256")


def verify_client_jwt(token: str | None, jwks: Mapping[str, tuple[jwt.PyJWK, ...]], audience: str) -> dict:
    """Verify a CDS client's JWT: trusted issuer, its key by kid, an allowed algorithm, aud, exp,
    iat, jti. CDS Hooks 2.0 requires `kid` in the header ("the identifier of the key-pair used to
    sign this JWT"), so a token without one is refused rather than tried against every key."""
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
    if not isinstance(kid, str) or not kid:
        raise AuthError("The token's header has no kid; CDS Hooks requires the signing key's kid.")
    candidates = [k for k in keys if k.key_id == kid]
    if not candidates:
        raise AuthError("No key of the issuer matches the token's kid.")
    fitting = [k for k in candidates if key_fits(k, alg)]
    if not fitting:
        raise AuthError(f"The key named by the token's kid cannot verify {alg} signatures.")
    for key in fitting:
        try:
            return jwt.decode(
                token, key=key.key, algorithms=[alg], audience=audience, issuer=issuer,
                options={"require": list(REQUIRED_CLAIMS)}, leeway=LEEWAY_S,
            )  # fmt: skip
        except (jwt.InvalidSignatureError, jwt.InvalidKeyError, jwt.InvalidAlgorithmError):
            continue
        except (TypeError, ValueError):  # a key PyJWT cannot use for alg after all: not this one
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
    """The configured public URL plus the path called; never the request's Host or X-Forwarded-*."""
    cfg: AuthConfig = current_app.extensions["medcheck.auth"]
    return f"{cfg.audience_base}{request.path}"


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
        log.info("refused %s", logfmt(method=request.method, path=path, reason=str(exc)))
        abort(401, message=str(exc), headers={"WWW-Authenticate": 'Bearer realm="medcheck"'})
