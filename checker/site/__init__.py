"""The site layer: a hospital's own severities, suppressions and local drugs over the packaged
knowledge, from `MEDCHECK_SITE=/path/site.toml` or `--site PATH` (docs/site-configuration.md).

`active()` is the process's site (None without one); `checked(regimen)` is the engine's report
with the site applied and same-advice findings merged (checker.merge), which every way of checking
(library, CLI, HTTP, CDS Hooks, the batch audit) answers with.
"""

from __future__ import annotations

import os
from pathlib import Path

from checker.merge import merge_report
from checker.model import Regimen, Report
from checker.site.apply import apply, rules_view
from checker.site.loader import SiteError, load_site
from checker.site.model import Site

__all__ = ["Site", "SiteError", "active", "apply", "checked", "load_site", "rules_view", "use"]

_UNSET = object()
_active: object = _UNSET


def use(path: str | Path | None) -> Site | None:
    """Make `path` (None: no site) the process's site layer; raises SiteError on a bad file."""
    global _active
    _active = load_site(path) if path else None
    return _active  # type: ignore[return-value]


def active() -> Site | None:
    """The process's site layer, read from MEDCHECK_SITE on first use."""
    if _active is _UNSET:
        return use(os.environ.get("MEDCHECK_SITE") or None)
    return _active  # type: ignore[return-value]


def checked(regimen: Regimen, include_suppressed: bool = False, site: object = _UNSET) -> Report:
    """The engine's report of `regimen` with the site layer (default: `active()`) applied."""
    from checker.engine import run

    layer = active() if site is _UNSET else site
    report = apply(run(regimen), layer, regimen.patient, include_suppressed)  # type: ignore[arg-type]
    return merge_report(report)  # after the site layer: it changes and suppresses rules one by one
