"""Per-rule "shown" counts, batched: a request adds its report's (rule, severity) pairs to a
counter in memory with one dictionary update, and a background thread expands and writes the
sums every few seconds (and at exit). A check costs a dictionary update, not a database round
trip or one update per finding; a crash loses at most one interval's counts, never a report.

The same tally feeds the findings metric (`on_flush`), so Prometheus counters are also updated
per interval rather than per finding."""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import date, timedelta

from checker.store.db import Store
from checker.store.tables import Card, CardMerged, Shown

log = logging.getLogger("medcheck.store")
EPOCH = date(1970, 1, 1)
Pairs = tuple[tuple[str, str], ...]  # (rule, severity) of each rule a finding served stands for
Cards = dict[str, tuple[str, ...]]  # card uuid -> the rules it stands for, its own first


def upsert(store: Store):  # type: ignore[no-untyped-def]
    """The dialect's INSERT that can say ON CONFLICT (SQLite and PostgreSQL spell it alike)."""
    from sqlalchemy.dialects import postgresql, sqlite

    return postgresql.insert if store.dialect == "postgresql" else sqlite.insert


class ShownRecorder:
    """Counts in memory, flushed by a daemon thread every `interval_s` seconds: to the database
    (when `store` is given) and to `on_flush` ({(rule, severity): n}, e.g. the metrics)."""

    def __init__(self, store: Store | None, interval_s: float = 2.0,
                 on_flush: Callable[[dict[tuple[str, str], int]], None] | None = None) -> None:  # fmt: skip
        self.store, self.interval_s, self.on_flush = store, interval_s, on_flush
        self._pid = -1
        self._reset()
        atexit.register(self.flush)

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._lock = threading.Lock()
        # (day, id of the pairs) -> [pairs, n]: the pairs are held, so their id stays theirs, and a
        # cached report's pairs (the same object on every repeat) are not hashed per request.
        self._pending: dict[tuple[int, int], list] = {}
        self._cards: Cards = {}
        self._unwritten: Counter[tuple[int, str]] = Counter()
        self._thread: threading.Thread | None = None

    def add(self, shown: Iterable[tuple[str, str]],
            cards: dict[str, tuple[str, ...] | str] | None = None) -> None:  # fmt: skip
        """Count one showing of each (rule, severity); remember which rules each card uuid showed
        (its own first, then those merged into it)."""
        if type(shown) is not tuple:
            shown = tuple(shown)
        key = (int(time.time() // 86400), id(shown))  # the UTC day as days since 1970-01-01
        with self._lock:
            if self._thread is None or self._pid != os.getpid():
                self._start()
            entry = self._pending.get(key)
            if entry is None:
                self._pending[key] = [shown, 1]
            else:
                entry[1] += 1
            if cards:  # a lone rule id is a card of one rule
                self._cards.update({u: (r,) if isinstance(r, str) else tuple(r) for u, r in cards.items()})

    def _start(self) -> None:
        if self._pid != os.getpid():  # forked: the parent's thread stayed behind
            lock = self._lock
            self._reset()
            self._lock = lock  # held by the caller; a fresh process has no other holder
        self._thread = threading.Thread(target=self._loop, name="medcheck-shown", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            time.sleep(self.interval_s)
            self.flush()

    def flush(self) -> None:
        """Apply what has been counted; on a database error keep the counts for the next try."""
        if self._pid != os.getpid():
            return
        with self._lock:
            pending, cards, counts = self._pending, self._cards, self._unwritten
            self._pending, self._cards, self._unwritten = {}, {}, Counter()
        pairs: Counter[tuple[str, str]] = Counter()
        for (day, _), (shown, n) in pending.items():
            for pair in shown:
                pairs[pair] += n
                counts[(day, pair[0])] += n
        if self.on_flush is not None and pairs:
            self.on_flush(pairs)
        if self.store is None or (not counts and not cards):
            return
        try:
            self._write(self.store, counts, cards)
        except Exception as exc:  # the database is away: count on, write later
            log.warning("shown counts not written yet: %s", type(exc).__name__)
            with self._lock:
                self._unwritten.update(counts)
                self._cards = {**cards, **self._cards}

    @staticmethod
    def _write(store: Store, counts: Counter[tuple[int, str]], cards: Cards) -> None:
        insert = upsert(store)
        with store.engine.begin() as conn:
            if counts:
                stmt = insert(Shown)
                added = {"count": Shown.count + stmt.excluded.count}
                stmt = stmt.on_conflict_do_update(index_elements=[Shown.day, Shown.rule], set_=added)
                rows = [{"day": EPOCH + timedelta(days=d), "rule": r, "count": n}
                        for (d, r), n in sorted(counts.items())]  # fmt: skip
                conn.execute(stmt, rows)
            if cards:
                stmt = insert(Card).on_conflict_do_nothing(index_elements=[Card.uuid])
                conn.execute(stmt, [{"uuid": u, "rule": rules[0]} for u, rules in sorted(cards.items())])
                others = sorted({(u, r) for u, (own, *rest) in cards.items() for r in rest if r != own})
                if others:
                    stmt = insert(CardMerged).on_conflict_do_nothing(
                        index_elements=[CardMerged.uuid, CardMerged.rule])
                    conn.execute(stmt, [{"uuid": u, "rule": r} for u, r in others])
