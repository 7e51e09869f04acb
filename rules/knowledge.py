"""The rules' knowledge, loaded once per process alongside the formulary."""

from __future__ import annotations

from functools import cache

from formulary import _LOCAL as formulary_local
from formulary import load as load_formulary
from formulary.snapshot import snapshot
from rules.loader import _LOCAL as rules_local
from rules.loader import load_knowledge
from rules.model import Knowledge


@cache
def knowledge() -> Knowledge:
    """The knowledge, once per process; from its snapshot when no site adds local rules or drugs
    (`formulary.snapshot`: the snapshot's name hashes the formulary's files as well as these)."""
    f = load_formulary()
    if formulary_local or rules_local:
        return load_knowledge(f)
    return snapshot("knowledge", lambda: load_knowledge(f))
