"""Pages for people (CONTRACT §6): check a regimen as written, browse the knowledge, run an audit.

`register(app)` adds them to the service's Flask app; the JSON API is untouched.
"""

from __future__ import annotations

from flask import Flask

__all__ = ["register"]


def register(app: Flask) -> None:
    from checker.web import security
    from checker.web.views import web

    security.configure(app)
    app.register_blueprint(web)
