"""gunicorn workers for medcheck: a request must arrive within a deadline, and gunicorn's own
error answers (400, 408, 414, 431, 503 …) are JSON like the app's.

Why a deadline: gunicorn's threaded worker waits for a connection's first byte without holding a
thread, but from then on a thread reads the headers with a blocking socket and no time limit, so
a client that trickles one header byte every few seconds holds a thread for as long as it likes;
a handful of them holds every thread and `/healthz` with them (the sync worker is held whole).
Here every request (headers and body) must have arrived READ_TIMEOUT seconds after its first byte
was read, or the connection is answered 408 and closed. A client behind a buffering proxy (nginx)
never meets this limit: the proxy sends each request whole.

The error bodies: gunicorn answers requests it cannot parse itself, as HTML. Its workers write
those answers through `gunicorn.util.write_error`; our workers replace that function, in the
worker process only, with one that writes our error JSON.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any

import orjson
from gunicorn import util
from gunicorn.workers import gthread, sync


def _read_timeout() -> float:
    """MEDCHECK_READ_TIMEOUT, seconds per request; a value that is not a positive number stops the
    start (0 would answer every request 408)."""
    raw = os.environ.get("MEDCHECK_READ_TIMEOUT", "10")
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not 0 < value < 3600:
        raise RuntimeError(f"MEDCHECK_READ_TIMEOUT must be seconds between 0 and 3600, not {raw!r}")
    return value


READ_TIMEOUT = _read_timeout()


class RequestReadTimeout(Exception):
    """The request's headers did not arrive in time. Not an OSError on purpose: gunicorn logs
    socket errors with a traceback, and hands other exceptions to `handle_error`."""


class DeadlineSocket:
    """A client socket whose reads share one deadline per request.

    The deadline starts at the first read of a request and covers its headers and body; the
    worker calls `start_request()` before each request on a connection and `headers_read()` once
    the headers are parsed. Past it, a read raises RequestReadTimeout while headers are read (a
    408 answer follows) and `socket.timeout` after (gunicorn and Werkzeug treat that as a client
    gone). Everything else goes to the real socket."""

    def __init__(self, sock: socket.socket, seconds: float) -> None:
        self._sock = sock
        self._seconds = seconds
        self._deadline: float | None = None
        self._spent = False
        self.reading_headers = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)

    def start_request(self) -> None:
        self._deadline, self._spent, self.reading_headers = None, False, True

    def headers_read(self) -> None:
        self.reading_headers = False

    def recv(self, size: int, *flags: int) -> bytes:
        prior = self._sock.gettimeout()
        if self._spent or prior == 0.0:  # after a timeout (closing drains), or non-blocking
            return self._sock.recv(size, *flags)
        now = time.monotonic()
        if self._deadline is None:
            self._deadline = now + self._seconds
        remaining = self._deadline - now
        if remaining <= 0:
            self._expire()
        self._sock.settimeout(remaining if prior is None else min(prior, remaining))
        try:
            return self._sock.recv(size, *flags)
        except TimeoutError:
            if time.monotonic() >= self._deadline:
                self._expire()
            raise
        finally:
            self._sock.settimeout(prior)

    def _expire(self) -> None:
        self._spent = True
        if self.reading_headers:
            raise RequestReadTimeout(f"the request did not arrive within {self._seconds:g} s")
        raise TimeoutError("the request body did not arrive in time")


def error_json(status: int, reason: str, message: str) -> bytes:
    """A complete HTTP/1.1 error response with the app's error body; the connection closes."""
    body = orjson.dumps({"code": status, "status": reason, "message": message or reason})
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def write_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """Stands in for gunicorn.util.write_error (same signature): the same answer, as JSON."""
    util.write_nonblock(sock, error_json(status_int, reason, mesg))


class JsonErrors:
    """What both workers add: JSON error answers, the 408 for a late request, and a JSON 503 when
    the arbiter stops a request that ran past the worker timeout (sync worker only: the threaded
    worker's main loop keeps reporting alive, so it is killed only if the process is stuck)."""

    log: Any
    cfg: Any
    timeout: float

    def init_process(self) -> None:
        util.write_error = write_error  # this worker process only; see the module docstring
        super().init_process()  # type: ignore[misc]  # runs the worker loop

    def wrap(self, sock: Any) -> Any:
        if self.cfg.is_ssl or isinstance(sock, DeadlineSocket):
            return sock  # TLS wraps the real socket; terminate TLS at the proxy for the deadline
        return DeadlineSocket(sock, READ_TIMEOUT)

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        if isinstance(exc, RequestReadTimeout):
            ip = (addr or ("",))[0] if isinstance(addr, tuple) else addr
            self.log.info("Request not received in time from ip=%s: %s", ip, exc)
            _answer(client, 408, "Request Timeout", f"The request did not arrive within {READ_TIMEOUT:g} s.")
            return
        if isinstance(exc, SystemExit):
            self.log.error("Request stopped at the worker timeout (%s s)", self.timeout)
            message = f"The request ran past the worker timeout ({self.timeout:g} s) and was stopped."
            _answer(client, 503, "Service Unavailable", message)
            raise exc
        super().handle_error(req, client, addr, exc)  # type: ignore[misc]


def _answer(sock: Any, status: int, reason: str, message: str) -> None:
    try:
        write_error(sock, status, reason, message)
    except OSError:
        pass  # the client is gone


class ThreadWorker(JsonErrors, gthread.ThreadWorker):
    """gunicorn's gthread worker with the request deadline (the default for `medcheck serve`)."""

    def enqueue_req(self, conn: Any) -> None:
        if not conn.initialized:
            conn.sock = self.wrap(conn.sock)
        super().enqueue_req(conn)

    def handle(self, conn: Any) -> Any:
        if isinstance(conn.sock, DeadlineSocket):
            conn.sock.start_request()
        return super().handle(conn)

    def handle_request(self, req: Any, conn: Any) -> Any:
        if isinstance(conn.sock, DeadlineSocket):
            conn.sock.headers_read()
        return super().handle_request(req, conn)


class SyncWorker(JsonErrors, sync.SyncWorker):
    """gunicorn's sync worker with the request deadline (`--threads 1`): one request at a time per
    process, so a slow client holds the whole worker up to READ_TIMEOUT; use it behind a proxy."""

    def handle(self, listener: Any, client: Any, addr: Any) -> None:
        super().handle(listener, self.wrap(client), addr)

    def handle_request(self, listener: Any, req: Any, client: Any, addr: Any) -> None:
        if isinstance(client, DeadlineSocket):
            client.headers_read()
        super().handle_request(listener, req, client, addr)
