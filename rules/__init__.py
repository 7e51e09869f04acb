"""The rules layer: evaluators that turn interpreted orders and patient context into findings.

Every evaluator is a `rules.mechanism.Evaluator`: it declares its units and what it reads of
each, and all are listed in `evaluators()`; their knowledge lives in `rules/data/` and is
validated once at load. See docs/adding-a-rule.md.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rules.mechanism import Evaluator


@cache
def evaluators() -> tuple[Evaluator, ...]:
    from rules.anticoagulants import DOSE_REDUCTIONS
    from rules.coverage import DOSE_UNCHECKED
    from rules.dose import DOSE
    from rules.duplication import CLASS_DUPLICATION, SAME_INGREDIENT
    from rules.interactions import INTERACTIONS
    from rules.opioids import OPIOID_LOAD
    from rules.patient import CAUTIONS, CONDITIONS_KNOWN, REQUIRED_CHECKS
    from rules.safety import NALOXONE, OPIOID_NAIVE, PLAUSIBILITY

    return (
        DOSE,
        INTERACTIONS,
        CLASS_DUPLICATION,
        SAME_INGREDIENT,
        CAUTIONS,
        REQUIRED_CHECKS,
        OPIOID_LOAD,
        CONDITIONS_KNOWN,
        OPIOID_NAIVE,
        PLAUSIBILITY,
        NALOXONE,
        DOSE_REDUCTIONS,
        DOSE_UNCHECKED,
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
