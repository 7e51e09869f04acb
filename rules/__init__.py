"""The rules layer: evaluators that turn interpreted orders and patient context into findings.

Every evaluator has one signature, `(Context) -> Iterable[Finding]`, and all are listed in
`evaluators()`; their knowledge lives in `rules/data/` and is validated once at load.
"""

from __future__ import annotations

from functools import cache


@cache
def evaluators() -> tuple:
    from rules.dose import check_doses

    return (check_doses,)


@cache
def knowledge_digest() -> str:
    """Digest of the rule data files, folded into knowledge_version."""
    import hashlib
    from importlib import resources

    h = hashlib.sha256()
    folder = resources.files("rules") / "data"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            h.update(entry.name.encode() + b"\0" + entry.read_bytes())
    return h.hexdigest()
