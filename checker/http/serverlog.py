"""gunicorn's logger for medcheck (the `logger_class` setting): credentials out of the access
log, and one line per record in both logs.

An EHR or a script may put a token in the URL (`?access_token=…`, `?jwt=…`); gunicorn's access log
writes the request line, query and referer as sent, and any `%({header}i)s` a deployment adds.
Here those values are redacted before formatting; Authorization and Cookie headers never appear.
Every record of the error log (where the app's own loggers write under `medcheck serve`) passes
`EscapingFilter`, so a CR/LF a client slipped into a logged value cannot start a line.
"""

from __future__ import annotations

from typing import Any

from gunicorn import glogging

from checker.http.logs import EscapingFilter, clean, redact_header, redact_query, redact_url

_URL_ATOMS = ("f", "{http_referer}e", "{raw_uri}e", "{request_uri}e")
_QUERY_ATOMS = ("q", "{query_string}e")


class Logger(glogging.Logger):
    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for logger in (self.error_log, self.access_log):
            for handler in logger.handlers:
                if not any(isinstance(f, EscapingFilter) for f in handler.filters):
                    handler.addFilter(EscapingFilter())

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
        atoms = super().atoms(resp, req, environ, request_time)
        raw_uri = environ.get("RAW_URI", "")
        atoms["r"] = f"{environ.get('REQUEST_METHOD')} {redact_url(raw_uri)} {environ.get('SERVER_PROTOCOL')}"
        for key in _URL_ATOMS:
            if isinstance(atoms.get(key), str):
                atoms[key] = redact_url(atoms[key])
        for key in _QUERY_ATOMS:
            if isinstance(atoms.get(key), str):
                atoms[key] = redact_query(atoms[key])
        for key, value in list(atoms.items()):
            if not isinstance(value, str):
                continue
            if key.startswith("{") and key.endswith("}i"):
                value = redact_header(key[1:-2], value)
            elif key in ("{http_authorization}e", "{http_cookie}e", "{http_proxy_authorization}e"):
                value = "REDACTED"
            atoms[key] = clean(value)
        return atoms
