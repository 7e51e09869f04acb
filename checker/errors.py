"""The exceptions the checker raises. Findings are values; errors are exceptions.

Foreign errors (marshmallow, pint) are translated where they enter, so callers catch one type.
"""

from __future__ import annotations


class CheckerError(Exception):
    """Base of every error the checker raises on purpose."""


MAX_KEY_SHOWN = 100


def safe_key(name: object) -> str:
    """A client's field name as it may be shown and written anywhere: text, at most MAX_KEY_SHOWN
    characters, lone surrogates escaped (an unknown field named "\ud800" is reported, not a crash)."""
    text = name if isinstance(name, str) else str(name)
    if len(text) > MAX_KEY_SHOWN:
        text = text[:MAX_KEY_SHOWN] + "…"
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class InvalidRegimen(CheckerError):
    """The regimen breaks the input schema. `errors` maps dotted field paths to messages."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = {safe_key(k): [str(m).encode("utf-8", "backslashreplace").decode() for m in v]
                       for k, v in errors.items()}  # fmt: skip
        errors = self.errors
        first = next(iter(errors.items()), ("regimen", ["invalid"]))
        super().__init__(f"invalid regimen: {first[0]}: {'; '.join(first[1])}")


def flatten_errors(messages: object, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested {"medications": {2: {"dose": [...]}}} → {"medications.2.dose": [...]}."""
    if isinstance(messages, dict):
        out: dict[str, list[str]] = {}
        for k, v in messages.items():
            name = "regimen" if k == "_schema" and not prefix else safe_key(k)
            path = f"{prefix}.{name}" if prefix and k != "_schema" else (prefix or name)
            out.update(flatten_errors(v, path))
        return out
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return {prefix or "regimen": list(messages)}
    if isinstance(messages, list):
        out = {}
        for i, v in enumerate(messages):
            out.update(flatten_errors(v, f"{prefix}.{i}" if prefix else str(i)))
        return out
    return {prefix or "regimen": [str(messages)]}
