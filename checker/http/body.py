"""What a request body may be: within the size limit however it is framed, and JSON that every
later step (validation, the report cache, logs, error bodies) can hold without failing.

What it closes, all reachable by any client:

- A chunked body has no Content-Length, so Werkzeug's limit check on the header never fires and
  its stream stops reading at the limit *without an error*: a 3 MiB chunked body was cut at
  1 MiB and checked. `BodyLimit` reads such a body itself, one byte past the limit, and makes an
  oversized one look to Werkzeug like a Content-Length over the limit: the usual 413 follows.
- Python's JSON reader accepts lone UTF-16 surrogates (`"\\ud800"`), `NaN` and `Infinity`, and any
  depth up to the interpreter's recursion limit; the first cannot be encoded as UTF-8 (so the error
  body naming it failed with a 500), the others are not JSON. I-JSON (RFC 7493 §2.1) forbids
  surrogates; we hold bodies to that and to a nesting depth far beyond any real FHIR resource.

Numbers beyond a 64-bit float (a 401-digit integer, `1e400`) are valid JSON but not I-JSON
(§2.2): no later step can compute with them. They are refused here by field path, like any
value the schema refuses (422 for /v1/check, 400 for a CDS Hooks call), never passed on.
"""

from __future__ import annotations

import io
import json
import math
import sys
from collections.abc import Callable, Iterable
from typing import Any

import orjson

MAX_DEPTH = 64  # arrays/objects inside each other, inclusive; a FHIR MedicationRequest needs ~10
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
READ_CHUNK = 64 * 1024


class BodyError(ValueError):
    """A body that is not JSON this service accepts; the message names why (never the body)."""


def parse_json(raw: bytes) -> Any:
    """The body as Python values, or BodyError.

    orjson answers the common case fast and is strict (no surrogates, no NaN); only when it refuses
    is the body read again by the standard library, to tell malformed JSON (BodyError) from a lone
    surrogate (BodyError naming where) and from numbers no float holds (NumbersOutOfRange, by
    field path)."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        value = _parse_lenient(raw)
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH:  # fewer brackets cannot nest deeper
        _check_depth(value)
    return value


def _reject_constant(name: str) -> Any:
    raise BodyError(f"{name} is not a JSON number")


def _parse_lenient(raw: bytes) -> Any:
    try:
        value = json.loads(raw, parse_constant=_reject_constant)
    except RecursionError:
        raise BodyError(f"nested deeper than {MAX_DEPTH} levels") from None
    except BodyError:
        raise
    except ValueError as exc:  # includes UnicodeDecodeError: bytes that are not UTF-8
        raise BodyError(str(exc)) from None
    _check_values(value)
    return value


class NumbersOutOfRange(BodyError):
    """Numbers no float can hold, by dotted path ("regimen" for the body itself)."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        super().__init__(", ".join(errors))


def _children(value: Any) -> Iterable[tuple[str, Any]]:
    if isinstance(value, dict):
        return value.items()
    if isinstance(value, list):
        return ((str(i), v) for i, v in enumerate(value))
    return ()


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _out_of_range(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return abs(value) > sys.float_info.max
    return isinstance(value, float) and not math.isfinite(value)


def _check_values(value: Any) -> None:
    """BodyError for a lone surrogate in any string or key; NumbersOutOfRange for numbers."""
    too_large: dict[str, list[str]] = {}
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if _has_surrogate(item):
                raise BodyError(f"a lone UTF-16 surrogate (not a character) in {path or 'the body'}")
        elif _out_of_range(item):
            too_large[path or "regimen"] = ["Number too large: beyond the range of a 64-bit float."]
        for key, child in _children(item):
            if _has_surrogate(key):
                raise BodyError(f"a lone UTF-16 surrogate (not a character) in a key of {path or 'the body'}")
            stack.append((f"{path}.{key}" if path else key, child))
    if too_large:
        raise NumbersOutOfRange(dict(sorted(too_large.items())))


def _check_depth(value: Any) -> None:
    stack: list[tuple[int, Any]] = [(1, value)]
    while stack:
        depth, item = stack.pop()
        if not isinstance(item, dict | list):
            continue
        if depth > MAX_DEPTH:
            raise BodyError(f"nested deeper than {MAX_DEPTH} levels")
        stack.extend((depth + 1, child) for _, child in _children(item))


# --- the size of bodies without a Content-Length ----------------------------------------------------

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class BodyLimit:
    """WSGI middleware: a body sent without Content-Length (chunked) is read here, at most one
    byte past `limit()`, and handed on with the Content-Length it turned out to have.

    Over the limit, the app sees a Content-Length of limit + 1 and an empty stream, so Werkzeug
    raises its 413 exactly as for a declared length. A client that stops sending mid-body gets
    408 through `environ["medcheck.body_error"]`. Bodies with a Content-Length are left to
    Werkzeug, which refuses an oversized one before reading it."""

    def __init__(self, app: WsgiApp, limit: Callable[[], int | None]) -> None:
        self.app = app
        self.limit = limit

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") in BODY_METHODS and _unsized(environ):
            self._buffer(environ)
        return self.app(environ, start_response)

    def _buffer(self, environ: dict[str, Any]) -> None:
        limit = self.limit()
        if limit is None:
            return
        stream = environ["wsgi.input"]
        parts: list[bytes] = []
        size = 0
        try:
            while size <= limit:
                part = stream.read(min(READ_CHUNK, limit + 1 - size))
                if not part:
                    break
                parts.append(part)
                size += len(part)
        except (OSError, ValueError):  # the client stalled past the read deadline or hung up
            environ["medcheck.body_error"] = "timeout"
            parts, size = [], 0
        if size > limit:
            parts = []
        environ["wsgi.input"] = io.BytesIO(b"".join(parts))
        environ["CONTENT_LENGTH"] = str(size)
        environ.pop("wsgi.input_terminated", None)
        environ.pop("HTTP_TRANSFER_ENCODING", None)


def _unsized(environ: dict[str, Any]) -> bool:
    """A body framed by chunks (whose Content-Length, if any, Werkzeug rightly ignores) or by the
    end of the stream."""
    if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return True
    return not environ.get("CONTENT_LENGTH") and bool(environ.get("wsgi.input_terminated"))
