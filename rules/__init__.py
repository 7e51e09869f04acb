"""The rules layer: evaluators that turn interpreted orders and patient context into findings.

Every evaluator has one signature, `(Context) -> Iterable[Finding]`, and all are listed in
`evaluators()`; their knowledge lives in `rules/data/` and is validated once at load.
"""

from __future__ import annotations

from functools import cache


@cache
def evaluators() -> tuple:
    from rules.dose import check_doses
    from rules.duplication import check_duplication
    from rules.interactions import check_interactions
    from rules.opioids import check_opioid_load
    from rules.patient import check_cautions, check_conditions_known, check_required

    return (
        check_doses,
        check_interactions,
        check_duplication,
        check_cautions,
        check_required,
        check_opioid_load,
        check_conditions_known,
    )


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
