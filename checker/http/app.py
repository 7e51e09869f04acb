"""The app factory: configuration, the knowledge, the API, and one JSON shape for every error.

`create_app()` only wires. The knowledge is loaded here, once, so the first request of a worker
costs what every other one does, and a broken data file stops the start instead of a request.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import orjson
from flask import Flask, Response, current_app, jsonify, request, send_from_directory
from flask.json.provider import DefaultJSONProvider
from flask_smorest import Api
from werkzeug.exceptions import (
    HTTPException,
    MethodNotAllowed,
    RequestEntityTooLarge,
    RequestTimeout,
    UnsupportedMediaType,
)

from checker.errors import flatten_errors
from checker.http import auth
from checker.http.body import BodyLimit
from checker.http.logs import logfmt
from checker.http.schemas import ErrorSchema
from checker.http.service import load_knowledge, report_cache

log = logging.getLogger("medcheck.http")

DEFAULTS: dict[str, Any] = {
    "MAX_CONTENT_LENGTH": 1024 * 1024,  # bytes, inclusive; larger bodies get 413
    "REPORT_CACHE_MB": 32,  # per worker, for reports of repeated regimens (0 = off); see report_cache
    "API_KEYS": [],  # bearer keys for /v1; empty = open (local use)
    "CDS_JWKS_FILE": None,  # JSON {issuer: JWKS}; set = CDS Hooks calls need a signed JWT
    # The service's public base URL (scheme, host, any path prefix): a CDS client's JWT `aud` must
    # be it plus the service path. Never taken from the request (Host, X-Forwarded-*), which the
    # client writes. Required when CDS_JWKS_FILE is set; `medcheck serve` supplies its bind address.
    "PUBLIC_URL": None,
    "JTI_STORE": None,  # an auth.JtiStore shared by workers; None = this process's memory
    "API_TITLE": "medcheck",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/",
    "OPENAPI_JSON_PATH": "openapi.json",
    "OPENAPI_SWAGGER_UI_PATH": "/docs",
    "OPENAPI_SWAGGER_UI_URL": "/docs/assets/",
}
_JSON_TYPES = ("application/json",)


def _from_env() -> dict[str, Any]:
    out: dict[str, Any] = {}
    if keys := os.environ.get("MEDCHECK_API_KEYS"):
        out["API_KEYS"] = [k.strip() for k in keys.split(",") if k.strip()]
    if jwks := os.environ.get("MEDCHECK_CDS_JWKS"):
        out["CDS_JWKS_FILE"] = jwks
    if base := os.environ.get("MEDCHECK_PUBLIC_URL") or os.environ.get("MEDCHECK_CDS_AUDIENCE_BASE"):
        out["PUBLIC_URL"] = base  # the second name is the one this setting had before
    if size := os.environ.get("MEDCHECK_MAX_CONTENT_LENGTH"):
        out["MAX_CONTENT_LENGTH"] = int(size)
    if size := os.environ.get("MEDCHECK_REPORT_CACHE_MB"):
        out["REPORT_CACHE_MB"] = float(size)
    return out


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("medcheck")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0"


class OrjsonProvider(DefaultJSONProvider):
    """Flask's JSON through orjson: a report is ~15 KB, and the stdlib encoder was a tenth of a
    check request. Keys keep their order (the contract's), non-ASCII stays as UTF-8.

    What orjson refuses (a string that is not valid Unicode, nesting past 254 levels) goes through
    the standard library with ASCII escapes instead: an error body must never fail to encode, or
    the answer to a bad request becomes a 500."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return self._encode(obj).decode()

    def response(self, *args: Any, **kwargs: Any) -> Response:
        obj = self._prepare_response_obj(args, kwargs)
        # flask types the provider's app as the sans-I/O App, whose response class takes a status
        # first; at run time it is this Flask app's Response, which takes the body.
        body = self._encode(obj)
        return cast(Response, self._app.response_class(body, mimetype=self.mimetype))  # type: ignore[arg-type]

    def _encode(self, obj: Any) -> bytes:
        try:
            return orjson.dumps(obj, default=self.default, option=orjson.OPT_NON_STR_KEYS)
        except orjson.JSONEncodeError:
            return json.dumps(obj, default=self.default, ensure_ascii=True).encode()


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app. `config` overrides the defaults and the MEDCHECK_* environment."""
    app = Flask(__name__, static_folder=None)
    app.json = OrjsonProvider(app)
    app.config.from_mapping(DEFAULTS)
    app.config["API_VERSION"] = _version()
    app.config.from_mapping(_from_env())
    app.config.from_mapping(config or {})
    app.extensions["medcheck"] = load_knowledge()
    app.extensions["medcheck.auth"] = auth.AuthConfig.from_app(app.config)
    app.extensions["medcheck.reports"] = report_cache(float(app.config["REPORT_CACHE_MB"]))
    _spec_options(app)

    api = MedcheckApi(app)
    _register_docs_assets(app)
    from checker.http import cds_hooks, views

    views.document_custom_fields(api)  # before the blueprints: their schemas convert on register
    api.register_blueprint(views.health)
    api.register_blueprint(views.v1)
    api.register_blueprint(cds_hooks.blp)
    from checker.governance.wiring import install as install_governance

    install_governance(app, api)  # site layer, database, jti ledger, request ids, metrics, /governance

    from checker import web  # the pages for people (checker/web), with their own CSRF and errors

    web.register(app)
    app.wsgi_app = BodyLimit(app.wsgi_app, lambda: app.config["MAX_CONTENT_LENGTH"])  # type: ignore[method-assign]
    app.before_request(_body_error)
    app.before_request(auth.authenticate)
    app.before_request(_require_json)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(Exception, unexpected_error)
    return app


class MedcheckApi(Api):
    """flask-smorest's Api, documenting errors with our schema (errors by dotted path)."""

    ERROR_SCHEMA = ErrorSchema


def _spec_options(app: Flask) -> None:
    """Security schemes appear in the document only when auth is configured, so it stays true."""
    options: dict[str, Any] = {
        "info": {
            "description": "Medication and supplement dose and interaction checks. "
            "See CONTRACT.md for the regimen and report shapes.",
        },
    }
    cfg: auth.AuthConfig = app.extensions["medcheck.auth"]
    schemes = {}
    if cfg.api_keys:
        schemes["ApiKey"] = {"type": "http", "scheme": "bearer", "description": "API key"}
    if cfg.jwks:
        schemes["CdsClientJwt"] = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    if schemes:
        options["components"] = {"securitySchemes": schemes}
    app.config.setdefault("API_SPEC_OPTIONS", options)


def _register_docs_assets(app: Flask) -> None:
    """Serve Swagger UI's files from the installed flask-swagger-ui wheel: /docs needs no CDN."""
    import flask_swagger_ui

    dist = Path(flask_swagger_ui.__file__).parent / "dist"

    def docs_asset(filename: str) -> Response:
        response = send_from_directory(dist, filename, max_age=86400)
        return response

    app.add_url_rule("/docs/assets/<path:filename>", "docs_asset", docs_asset)


def _body_error() -> None:
    """A body BodyLimit could not finish reading: the client stopped sending."""
    if request.environ.get("medcheck.body_error") == "timeout":
        raise RequestTimeout("The request body did not arrive in time; send it whole.")


def _require_json(*_: Any) -> None:
    """A body that is not JSON gets 415 before any parsing (webargs would read it as empty)."""
    if request.method not in ("POST", "PUT", "PATCH") or request.routing_exception is not None:
        return
    if request.blueprint == "web":  # the pages take form posts
        return
    mimetype = request.mimetype or ""
    if mimetype not in _JSON_TYPES and not mimetype.endswith("+json"):
        raise UnsupportedMediaType(
            f"Send the body as application/json (got {mimetype or 'no Content-Type'})."
        )


def http_error(error: HTTPException) -> Response:
    """Every HTTP error as {code, status, message, errors?}; validation errors by dotted path."""
    payload: dict[str, Any] = {"code": error.code, "status": error.name, "message": error.description}
    if isinstance(error, RequestEntityTooLarge):
        limit = current_app.config["MAX_CONTENT_LENGTH"]
        payload["message"] = f"The request body is over the limit of {limit} bytes."
    data = getattr(error, "data", None) or {}
    if data.get("message"):
        payload["message"] = data["message"]
    messages = data.get("errors", data.get("messages"))
    cds = request.path.startswith("/cds-services")
    if messages:
        if isinstance(messages, dict) and "json" in messages and len(messages) == 1:
            messages = messages["json"]  # webargs nests body errors under their location
        payload["errors"] = _rename_root(flatten_errors(messages), "request" if cds else "regimen")
        if not data.get("message"):
            what = "Not a valid CDS Hooks call" if cds else "The request breaks the schema"
            payload["message"] = f"{what}: {', '.join(payload['errors'])}."
    response = jsonify(payload)
    response.status_code = error.code or 500
    for name, value in (data.get("headers") or {}).items():
        response.headers[name] = value
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        response.headers["Allow"] = ", ".join(sorted(error.valid_methods))
    return response


def _rename_root(errors: dict[str, list[str]], root: str) -> dict[str, list[str]]:
    return {(root if k == "regimen" else k): v for k, v in errors.items()}


def unexpected_error(error: Exception) -> Response:
    """A bug, not a client error: log it with its traceback, answer a JSON 500 without one."""
    if isinstance(error, HTTPException):  # pragma: no cover - Flask routes these to http_error
        return http_error(error)
    log.exception("unhandled error %s", logfmt(method=request.method, path=request.path))
    response = jsonify(
        {
            "code": 500,
            "status": "Internal Server Error",
            "message": "An internal error occurred; it was logged.",
        }
    )
    response.status_code = 500
    return response
