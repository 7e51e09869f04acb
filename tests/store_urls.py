"""Databases the store tests run on: a SQLite file always, PostgreSQL when .ci/run started one
(MEDCHECK_TEST_POSTGRES_URL); without it those cases skip."""

from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import create_engine, text

POSTGRES = os.environ.get("MEDCHECK_TEST_POSTGRES_URL")
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(
    not POSTGRES, reason="MEDCHECK_TEST_POSTGRES_URL not set (.ci/run starts a PostgreSQL)"))]  # fmt: skip


def fresh_url(backend: str, tmp_path) -> str:
    """An empty database: a new SQLite file, or a new schema-free database on the server."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'medcheck.db'}"
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return POSTGRES.rsplit("/", 1)[0] + "/" + name
