"""Log lines that a client cannot forge and that carry no secrets.

Anything a client sends (a path, a card id, a reason code) can hold CR/LF: written raw, it starts
a new, made-up log line. Values go into lines through `logfmt`, which escapes control characters,
and `EscapingFilter` does the same for whole records on the server's handlers as a second guard.
Credentials in query strings (`?token=`, `access_token=`, `jwt=` …) are replaced by `REDACTED`
before a URL reaches a log (`redact_query`, used by the access log).
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import unquote_plus

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_BARE = re.compile(r"[\w.:/@+,;|*#%&?!~()\[\]{}<>'-]+")
REDACTED = "REDACTED"
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
# Query parameter names that carry credentials (compared lower-case, "-" read as "_"): any name
# containing one of the first words, or having one of the second as a whole "_"-separated part.
_SECRET_NAME = re.compile(
    r"token|jwt|jws|secret|passw|apikey|api_key|credential|assertion|signature|session"
    r"|(^|_)(key|auth|authorization|bearer|sig|code|pwd)($|_)"
)


def clean(value: Any) -> str:
    """`value` as text on one line: control characters (CR, LF, NEL, LS/PS …) escaped."""
    text = str(value)

    def escape(match: re.Match[str]) -> str:
        char = match.group()
        return _NAMED.get(char) or f"\\u{ord(char):04x}"

    return _CONTROL.sub(escape, text)


def logfmt(**fields: Any) -> str:
    """`key=value …`, each value on one line and quoted when it holds spaces, quotes or '='."""
    parts = []
    for key, value in fields.items():
        text = "-" if value is None or value == "" else str(value)
        if not _BARE.fullmatch(text):
            text = '"' + clean(text.replace("\\", "\\\\").replace('"', '\\"')) + '"'
        parts.append(f"{key}={text}")
    return " ".join(parts)


def is_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(unquote_plus(name).strip().lower().replace("-", "_")))


def redact_query(query: str) -> str:
    """The query string with the values of credential-like parameters replaced by REDACTED."""
    if not query:
        return query
    out = []
    for pair in query.split("&"):
        name, eq, _value = pair.partition("=")
        out.append(f"{name}={REDACTED}" if eq and is_secret_name(name) else pair)
    return "&".join(out)


def redact_url(url: str) -> str:
    """A URL (or request target) with credentials in its query redacted; fragments dropped."""
    path, mark, rest = url.partition("?")
    if not mark:
        return url
    query = rest.split("#", 1)[0]
    return f"{path}?{redact_query(query)}"


def redact_header(name: str, value: str) -> str:
    """Authorization and cookie headers never reach a log; other values as sent."""
    return REDACTED if name.lower() in _SECRET_HEADERS else value


class EscapingFilter(logging.Filter):
    """A handler filter: the formatted message of every record on one line. Tracebacks (added by
    the formatter after this runs) keep their lines; they come from our code, not from clients."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if _CONTROL.search(message):
            record.msg, record.args = clean(message), None
        return True
