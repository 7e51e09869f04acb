"""Where the database is, how to reach it from each process, and bringing its schema up to date.

`open_store()` is what the server calls at start: it creates the database (a new user needs no
separate step) or migrates it to the newest revision, once per process and URL. Engines are made
per process: the server builds the app before gunicorn forks, and a connection must never be
shared by two processes.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
HEAD = "head"
_LOCK_ID = 0x6D656463  # "medc": the advisory lock held while a PostgreSQL database is migrated


def database_url() -> str:
    """MEDCHECK_DATABASE_URL, else a SQLite file in the user data directory (made if missing)."""
    url = os.environ.get("MEDCHECK_DATABASE_URL", "").strip()
    if url:
        return normalise(url)
    import platformdirs

    folder = Path(platformdirs.user_data_dir("medcheck"))
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'medcheck.db'}"


def normalise(url: str) -> str:
    """`postgresql://` and `postgres://` mean the psycopg (3) driver, the one medcheck depends on."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain) :]
    return url


def redacted(url: str) -> str:
    """The URL without its password, for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)


class Store:
    """One database: an engine per process, migrations, a liveness probe."""

    def __init__(self, url: str) -> None:
        self.url = normalise(url)
        self.dialect = make_url(self.url).get_backend_name()
        self._engines: dict[int, Engine] = {}
        self._lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        pid = os.getpid()
        found = self._engines.get(pid)
        if found is not None:
            return found
        with self._lock:
            for other_pid, inherited in list(self._engines.items()):
                if other_pid != pid:  # a forked child: leave the parent's connections alone
                    inherited.dispose(close=False)
                    del self._engines[other_pid]
            if pid not in self._engines:
                self._engines[pid] = _make_engine(self.url)
            return self._engines[pid]

    def dispose(self) -> None:
        """Close this process's connections (before gunicorn forks its workers)."""
        engine = self._engines.pop(os.getpid(), None)
        if engine is not None:
            engine.dispose()

    def migrate(self, revision: str = HEAD) -> None:
        """Create or upgrade the schema to `revision`; servers starting together take turns."""
        from alembic import command
        from alembic.config import Config

        with self._migration_lock(), self.engine.begin() as conn:
            if self.dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK_ID})
            cfg = Config()
            cfg.set_main_option("script_location", str(MIGRATIONS))
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)

    def revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def ping(self) -> str | None:
        """None when the database answers; else why not (without the password)."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return None
        except Exception as exc:  # any driver error means "not ready", never a crash
            return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"

    @contextlib.contextmanager
    def _migration_lock(self) -> Iterator[None]:
        """SQLite: a lock file beside the database (PostgreSQL uses an advisory lock instead)."""
        path = make_url(self.url).database if self.dialect == "sqlite" else None
        if not path or path == ":memory:":
            yield
            return
        import fcntl

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with open(f"{path}.migrate-lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)


def _make_engine(url: str) -> Engine:
    if make_url(url).get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, pool_size=4, max_overflow=4)
    engine = create_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        # WAL: readers do not wait for the writer; busy_timeout: writers from several workers queue.
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    return engine


_OPEN: dict[str, Store] = {}
_OPEN_LOCK = threading.Lock()


def open_store(url: str | None = None) -> Store:
    """The store for `url` (default: `database_url()`), migrated to the newest revision once per
    process. A database that cannot be reached or migrated raises: the server does not start."""
    url = normalise(url or database_url())
    with _OPEN_LOCK:
        store = _OPEN.get(url)
        if store is None:
            store = Store(url)
            store.migrate()
            _OPEN[url] = store
        return store
