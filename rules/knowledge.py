"""The rules' knowledge, loaded once per process alongside the formulary."""

from __future__ import annotations

from functools import cache

from formulary import load as load_formulary
from rules.loader import load_knowledge
from rules.model import Knowledge


@cache
def knowledge() -> Knowledge:
    return load_knowledge(load_formulary())
