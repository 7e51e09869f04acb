"""The HTTP face of the checker: a Flask app factory, the /v1 API, CDS Hooks and its FHIR mapping.

Only `wsgi.py` holds a module-level app; everything here is built per `create_app()` call.
`checker.http.fhir` imports no Flask, so importing this package must not either: the factory
is looked up lazily.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from checker.http.app import create_app

        return create_app
    raise AttributeError(name)
