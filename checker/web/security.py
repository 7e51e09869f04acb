"""What guards the pages: CSRF on every form, sign-in when API keys are configured, and headers.

The pages share the API's keys (`MEDCHECK_API_KEYS`): a person signs in once with a key and gets
a session cookie (HttpOnly, SameSite=Strict), instead of the bearer header a browser cannot send.
CSRF is checked only on the pages' own forms: the JSON API and CDS Hooks are called by programs
with bearer credentials, which a cross-site form cannot forge.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, redirect, request, session, url_for
from flask_wtf.csrf import CSRFProtect
from werkzeug.wrappers import Response as BaseResponse

from checker.http.auth import AuthConfig, AuthError, check_api_key

csrf = CSRFProtect()

# No inline script or style anywhere: scripts and styles come from the package's own files.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
OPEN_ENDPOINTS = ("web.signin", "web.static")


def configure(app: Flask) -> None:
    """Session and CSRF settings; an explicit SECRET_KEY (or MEDCHECK_SECRET_KEY) wins."""
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)  # only the pages' forms: see module doc
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", 8 * 3600)  # a working day with the page open
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    if app.config.get("SESSION_COOKIE_SAMESITE") in (None, "None", "Lax"):  # Flask's default is None
        app.config["SESSION_COOKIE_SAMESITE"] = "Strict"
    if app.config.get("SESSION_COOKIE_NAME") == "session":
        app.config["SESSION_COOKIE_NAME"] = "medcheck_session"
    if os.environ.get("MEDCHECK_SECURE_COOKIES", "").lower() in ("1", "true", "yes"):
        app.config["SESSION_COOKIE_SECURE"] = True
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = os.environ.get("MEDCHECK_SECRET_KEY") or _derived_key(app)
    csrf.init_app(app)


def _derived_key(app: Flask) -> bytes:
    """Without a configured secret: from the API keys when there are some (every worker and
    restart agrees, and it is as secret as they are), else random for this process (gunicorn
    preloads the app, so its workers share it; sessions end when it restarts)."""
    keys = app.extensions["medcheck.auth"].api_keys
    if keys:
        return hmac.new("\n".join(sorted(keys)).encode(), b"medcheck pages session", hashlib.sha256).digest()
    return secrets.token_bytes(32)


def signin_required() -> bool:
    cfg: AuthConfig = current_app.extensions["medcheck.auth"]
    return bool(cfg.api_keys)


def guard() -> BaseResponse | None:
    """before_request of the pages: sign-in first (when keys exist), then CSRF on posts."""
    if request.endpoint in OPEN_ENDPOINTS:
        if request.endpoint == "web.signin":
            _protect()
        return None
    if signin_required() and not session.get("signed_in"):
        return redirect(url_for("web.signin", next=request.path))
    _protect()
    return None


def _protect() -> None:
    if current_app.config.get("WTF_CSRF_ENABLED", True):
        csrf.protect()


def sign_in(key: str) -> str | None:
    """Check a key typed into the sign-in form; None when accepted, else the reason."""
    cfg: AuthConfig = current_app.extensions["medcheck.auth"]
    try:
        check_api_key(key.strip() or None, cfg.api_keys)
    except AuthError:
        return "That key is not valid."
    session.clear()
    session["signed_in"] = True
    return None


def safe_next(target: str | None) -> str:
    """Only a path on this site: an open redirect would carry a signed-in user elsewhere."""
    if not target:
        return url_for("web.regimen")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("web.regimen")
    return target


def headers(response: Response) -> Response:
    """after_request of the pages: CSP (unless the view set its own), and no caching of pages
    that may hold patient data."""
    response.headers.setdefault("Content-Security-Policy", PAGE_CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Frame-Options", "DENY")
    if request.endpoint != "web.static":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def template_globals() -> dict[str, Any]:
    return {"signin_required": signin_required(), "signed_in": bool(session.get("signed_in"))}
