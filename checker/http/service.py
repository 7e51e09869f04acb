"""What the views answer from, kept apart from the app factory so that views import it and the
factory imports the views, never the other way round."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from cachetools import LRUCache, cached
from flask import current_app

from checker.governance.serving import note_shown, shown_of, site_report
from checker.model import Regimen


@dataclass(frozen=True)
class Knowledge:
    """What the service answers from, loaded once per app: stored in app.extensions["medcheck"]."""

    version: str
    drugs: list[dict[str, Any]]
    rules: list[dict[str, Any]]


def load_knowledge() -> Knowledge:
    from checker.catalogue import drug_list, rule_list
    from checker.engine import knowledge_version
    from rules import evaluators

    evaluators()  # import the rule modules now, not on the first request
    return Knowledge(knowledge_version(), drug_list(), rule_list())


def knowledge() -> Knowledge:
    return current_app.extensions["medcheck"]


def report_cache(megabytes: float) -> Callable[..., tuple[bytes, tuple]]:
    """The report of a regimen as JSON bytes, the most recently used kept up to `megabytes`.

    Order entry re-sends the same list on every change and every `order-select`, and a report is a
    pure function of the validated regimen and the knowledge, which is fixed for the life of the
    process: a repeat is answered without running the rules again. Keyed on the validated
    `Regimen` (patient included), so equal content in another spelling of JSON still hits; bytes,
    not report objects, so nothing a request does can change what the next one gets. Bounded by
    size, not count, so large regimens cannot grow a worker; the lock serves gthread workers."""

    def render(regimen: Regimen, include_suppressed: bool = False) -> tuple[bytes, tuple]:
        # The site layer applied (checker.governance); kept with the (rule, severity) pairs shown.
        report = site_report(regimen, include_suppressed)
        return orjson.dumps(report.to_dict(), option=orjson.OPT_NON_STR_KEYS), shown_of(report)

    if megabytes <= 0:
        return render
    budget = int(megabytes * 1024 * 1024)
    store: LRUCache[Any, Any] = LRUCache(maxsize=budget, getsizeof=lambda hit: len(hit[0]))
    return cached(store, lock=threading.Lock())(render)


def report_json(regimen: Regimen, include_suppressed: bool = False) -> bytes:
    body, shown = current_app.extensions["medcheck.reports"](regimen, include_suppressed)
    note_shown(shown)  # metrics and the batched "shown" counts
    return body
