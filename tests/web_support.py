"""Helpers for the pages' tests: a form's CSRF token, and the app served on a real port."""

from __future__ import annotations

import re

HOSTILE = [
    '<script>alert("x")</script>',
    '"><img src=x onerror=alert(1)>',
    "</script><script>alert(2)</script>",
    "javascript:alert(3)",
    '=HYPERLINK("http://evil")',
    "{{ 7*7 }}",
    "<!-- <svg onload=alert(4)>",
]


def csrf_token(client, path: str = "/") -> str:
    page = client.get(path).get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, f"no CSRF token on {path}"
    return found.group(1)
