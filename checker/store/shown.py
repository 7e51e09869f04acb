"""Per-rule "shown" counts, batched: a request adds to a counter in memory, and a background
thread writes the sums every few seconds (and at exit). A check costs a dictionary update, not
a database round trip; a crash loses at most one interval's counts, never a report."""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime

from checker.store.db import Store
from checker.store.tables import Card, Shown

log = logging.getLogger("medcheck.store")


def upsert(store: Store):  # type: ignore[no-untyped-def]
    """The dialect's INSERT that can say ON CONFLICT (SQLite and PostgreSQL spell it alike)."""
    if store.dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


class ShownRecorder:
    """Counts in memory, flushed by a daemon thread every `interval_s` seconds."""

    def __init__(self, store: Store, interval_s: float = 2.0) -> None:
        self.store, self.interval_s = store, interval_s
        self._pid = -1
        self._reset()
        atexit.register(self.flush)

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()
        self._cards: dict[str, str] = {}
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def _started(self) -> None:
        if self._pid != os.getpid():  # forked: the parent's thread and lock stayed behind
            self._reset()
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="medcheck-shown", daemon=True)
            self._thread.start()

    def add(self, rules: Iterable[str], cards: dict[str, str] | None = None) -> None:
        """Count one showing of each rule (and remember which rule each card uuid showed)."""
        day = datetime.now(UTC).date().isoformat()
        with self._lock:
            self._started()
            for rule in rules:
                self._counts[(day, rule)] += 1
            if cards:
                self._cards.update(cards)

    def _loop(self) -> None:
        while True:
            self._wake.wait(self.interval_s)
            self._wake.clear()
            self.flush()

    def flush(self) -> None:
        """Write what has been counted; on a database error keep it for the next try."""
        if self._pid != os.getpid():
            return
        with self._lock:
            counts, cards = self._counts, self._cards
            self._counts, self._cards = Counter(), {}
        if not counts and not cards:
            return
        insert = upsert(self.store)
        try:
            with self.store.engine.begin() as conn:
                if counts:
                    stmt = insert(Shown)
                    added = {"count": Shown.count + stmt.excluded.count}
                    stmt = stmt.on_conflict_do_update(index_elements=[Shown.day, Shown.rule], set_=added)
                    rows = [{"day": datetime.fromisoformat(d).date(), "rule": r, "count": n}
                            for (d, r), n in sorted(counts.items())]  # fmt: skip
                    conn.execute(stmt, rows)
                if cards:
                    stmt = insert(Card).on_conflict_do_nothing(index_elements=[Card.uuid])
                    conn.execute(stmt, [{"uuid": u, "rule": r} for u, r in sorted(cards.items())])
        except Exception as exc:  # the database is away: count on, write later
            log.warning("shown counts not written yet: %s", type(exc).__name__)
            with self._lock:
                self._counts.update(counts)
                self._cards = {**cards, **self._cards}
