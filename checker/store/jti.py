"""The JWT `jti` ledger in the database: a replay is refused by whichever worker or machine it
reaches, and across restarts, while the token is unexpired.

The check is the primary key: the first insert of (issuer, jti) wins, every later one fails.
A row outlives its token by the verifier's leeway; expired rows are purged now and then, and
one found before its purge is taken over by a new use (it no longer counts)."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from checker.store.db import Store
from checker.store.tables import JtiSeen


def ledger_key(issuer: str, jti: str) -> str:
    return hashlib.sha256(f"{issuer}\0{jti}".encode()).hexdigest()


class DbJtiLedger:
    """A `checker.http.auth.JtiStore` shared by every process on the database."""

    PURGE_EVERY_S = 60.0

    def __init__(self, store: Store, leeway_s: float = 60, timer: Callable[[], float] = time.time) -> None:
        self.store, self.leeway_s, self.timer = store, leeway_s, timer
        self._next_purge = 0.0
        self._lock = threading.Lock()

    def first_use(self, issuer: str, jti: str, exp: float) -> bool:
        key, until, now = ledger_key(issuer, jti), float(exp) + self.leeway_s, self.timer()
        try:
            with self.store.engine.begin() as conn:
                conn.execute(insert(JtiSeen).values(key=key, exp=until))
        except IntegrityError:
            with self.store.engine.begin() as conn:
                taken = conn.execute(
                    update(JtiSeen).where(JtiSeen.key == key, JtiSeen.exp < now).values(exp=until)
                )
            return taken.rowcount == 1
        self._purge(now)
        return True

    def _purge(self, now: float) -> None:
        with self._lock:
            if now < self._next_purge:
                return
            self._next_purge = now + self.PURGE_EVERY_S
        with self.store.engine.begin() as conn:
            conn.execute(delete(JtiSeen).where(JtiSeen.exp < now))

    def __len__(self) -> int:
        """Unexpired ids held."""
        with self.store.engine.connect() as conn:
            return int(conn.scalar(select(func.count()).where(JtiSeen.exp >= self.timer())) or 0)
