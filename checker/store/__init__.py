"""The service's shared state in a database (SQLAlchemy 2, migrated by Alembic at start).

What several workers or machines must agree on lives here, not in a process: the JWT `jti`
ledger, CDS Hooks feedback, outcomes recorded on the pages, and per-rule "shown" counts. No
patient identifiers and no free text are stored: rule ids, coded reasons, times and counts.
"""

from checker.store.db import Store, database_url, open_store

__all__ = ["Store", "database_url", "open_store"]
