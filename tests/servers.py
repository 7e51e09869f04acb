"""For tests that start real servers (gunicorn, several of them): a free port and JSON over HTTP."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from email.message import Message


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_json(url: str, body: dict | None = None, headers: dict | None = None,
              timeout: float = 10) -> tuple[int, bytes, Message]:  # fmt: skip
    """POST `body` as JSON (GET without one); the status, raw answer and headers, errors included."""
    data = json.dumps(body).encode() if body is not None else None
    sent = {**({"Content-Type": "application/json"} if data else {}), **(headers or {})}
    req = urllib.request.Request(url, data=data, headers=sent)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read(), r.headers
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read(), exc.headers
