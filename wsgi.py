"""WSGI entry point for servers that import an app object (`gunicorn wsgi:app`)."""

from checker.http import create_app

app = create_app()
