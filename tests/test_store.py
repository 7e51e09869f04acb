"""The database: migrations from empty and from the previous revision, the shared jti ledger,
batched "shown" counts and the feedback summary, on SQLite and (when available) PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import insert, inspect, select

from checker.store.db import Store, database_url
from checker.store.feedback import FeedbackItem, record_feedback, record_outcome, summary
from checker.store.jti import DbJtiLedger
from checker.store.shown import ShownRecorder
from checker.store.tables import Base, Card, Feedback, Shown
from tests.store_urls import BACKENDS, fresh_url

TODAY = datetime.now(UTC).date()
HEAD = "0003"


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    s = Store(fresh_url(request.param, tmp_path))
    yield s
    s.dispose()


def test_an_empty_database_is_migrated_to_the_schema_the_code_uses(store):
    store.migrate()
    assert store.revision() == HEAD
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], diff  # the migrations build exactly the tables the models describe
    store.migrate()  # running again at the next start changes nothing
    assert store.revision() == HEAD


def test_a_database_at_the_previous_revision_keeps_its_rows_when_upgraded(store):
    store.migrate("0001")
    assert "outcome" not in inspect(store.engine).get_table_names()
    with store.engine.begin() as conn:
        conn.execute(insert(Shown).values(day=TODAY, rule="interaction.x", count=7))
        row = {"at": datetime(2026, 12, 1), "service": "s", "card": "c1", "rule": "interaction.x",
               "outcome": "overridden", "reason": "will-monitor"}
        conn.execute(insert(Feedback).values(**row))
    store.migrate()
    assert store.revision() == HEAD
    record_outcome(store, "interaction.x", "acted_on")
    [row] = summary(store, date(2026, 1, 1))
    assert row["shown"] == 7 and row["overridden"] == 1 and row["accepted"] == 1


def test_a_jti_is_accepted_once_until_its_token_expires(store):
    store.migrate()
    now = [1_000_000.0]
    ledger = DbJtiLedger(store, leeway_s=60, timer=lambda: now[0])
    other_worker = DbJtiLedger(Store(store.url), leeway_s=60, timer=lambda: now[0])
    assert ledger.first_use("https://ehr", "j-1", exp=now[0] + 300)
    assert not other_worker.first_use("https://ehr", "j-1", exp=now[0] + 300)  # replay elsewhere
    assert other_worker.first_use("https://other-ehr", "j-1", exp=now[0] + 300)  # another issuer's id
    now[0] += 300 + 61  # expired, leeway included: the id may come again (a new token)
    assert ledger.first_use("https://ehr", "j-1", exp=now[0] + 300)
    assert not ledger.first_use("https://ehr", "j-1", exp=now[0] + 300)


def test_expired_ids_are_purged(store):
    store.migrate()
    now = [2_000_000.0]
    ledger = DbJtiLedger(store, leeway_s=0, timer=lambda: now[0])
    for i in range(5):
        assert ledger.first_use("iss", f"old-{i}", exp=now[0] + 10)
    now[0] += ledger.PURGE_EVERY_S + 20
    assert ledger.first_use("iss", "new", exp=now[0] + 10)
    assert len(ledger) == 1
    with store.engine.connect() as conn:
        assert conn.scalar(select(Base.metadata.tables["jti_seen"].c.key).limit(10)) is not None
        assert len(conn.execute(select(Base.metadata.tables["jti_seen"].c.key)).all()) == 1


def test_concurrent_first_uses_of_one_jti_let_exactly_one_through(store):
    store.migrate()
    results: list[bool] = []
    ledgers = [DbJtiLedger(store) for _ in range(6)]
    start = threading.Barrier(len(ledgers))

    def use(ledger: DbJtiLedger) -> None:
        start.wait()
        results.append(ledger.first_use("iss", "raced", exp=datetime.now(UTC).timestamp() + 60))

    threads = [threading.Thread(target=use, args=(x,)) for x in ledgers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 5 + [True]


def test_shown_counts_are_batched_and_summed_across_recorders(store):
    store.migrate()
    worker_a = ShownRecorder(store, interval_s=3600)
    worker_b = ShownRecorder(Store(store.url), interval_s=3600)
    for _ in range(3):
        worker_a.add([("dose.acetaminophen.0", "major"), ("interaction.x", "minor")])
    worker_b.add([("interaction.x", "minor")], cards={"card-1": "interaction.x"})
    assert summary(store, TODAY) == []  # nothing written until a flush: no database call per check
    worker_a.flush()
    worker_b.flush()
    worker_a.add([("interaction.x", "minor")])
    worker_a.flush()
    rows = {r["rule"]: r for r in summary(store, TODAY)}
    assert rows["interaction.x"]["shown"] == 5 and rows["dose.acetaminophen.0"]["shown"] == 3
    record_feedback(store, "svc", [FeedbackItem("card-1", "overridden", "will-monitor")])
    assert summary(store, TODAY)[1]["reasons"] == [{"code": "will-monitor", "count": 1}]


def test_the_background_thread_writes_without_being_asked(store):
    store.migrate()
    rec = ShownRecorder(store, interval_s=0.05)
    rec.add([("interaction.y", "info")])
    deadline = datetime.now() + timedelta(seconds=10)
    while datetime.now() < deadline and not summary(store, TODAY):
        threading.Event().wait(0.05)
    assert summary(store, TODAY)[0]["shown"] == 1


def test_summary_rates_reasons_and_the_since_day(store):
    store.migrate()
    rec = ShownRecorder(store, interval_s=3600)
    for _ in range(10):
        rec.add([("r.a", "major")])
    rec.flush()
    old = datetime.now(UTC) - timedelta(days=40)
    record_feedback(store, "svc", [
        *[FeedbackItem(f"c{i}", "overridden", "will-monitor", rule="r.a") for i in range(6)],
        FeedbackItem("c7", "overridden", "Jane Roe asked for it", rule="r.a"),  # free text: not a code
        FeedbackItem("c8", "accepted", rule="r.a"),
        FeedbackItem("c9", "overridden", "tolerated-before", at=old, rule="r.a"),  # before `since`
    ])  # fmt: skip
    record_outcome(store, "r.a", "overridden", "palliative-care")
    [row] = summary(store, TODAY - timedelta(days=30))
    assert row == {"rule": "r.a", "shown": 10, "accepted": 1, "overridden": 8, "override_rate": 0.8,
                   "reasons": [{"code": "will-monitor", "count": 6}, {"code": "other", "count": 1},
                               {"code": "palliative-care", "count": 1}]}  # fmt: skip
    with store.engine.connect() as conn:
        assert "Jane" not in str(conn.execute(select(Feedback.reason)).all())


def test_the_default_database_is_a_file_in_the_user_data_directory(monkeypatch, tmp_path):
    monkeypatch.delenv("MEDCHECK_DATABASE_URL")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert database_url() == f"sqlite:///{tmp_path / 'medcheck' / 'medcheck.db'}"
    monkeypatch.setenv("MEDCHECK_DATABASE_URL", "postgresql://u@db.example/medcheck")
    assert database_url() == "postgresql+psycopg://u@db.example/medcheck"


def test_cards_of_merged_findings_credit_every_rule_after_an_upgrade_from_0002(store):
    store.migrate("0002")
    with store.engine.begin() as conn:  # a card served and answered before the upgrade
        conn.execute(insert(Card).values(uuid="old-card", rule="r.old"))
        conn.execute(insert(Feedback).values(at=datetime.now(UTC).replace(tzinfo=None), service="s",
                                             card="old-card", outcome="overridden", reason="x"))  # fmt: skip
    store.migrate()
    rec = ShownRecorder(store, interval_s=3600)
    # a card of a merged finding (rules r.a and r.b), one of a rule merged with itself, a plain one
    rec.add([("r.a", "major"), ("r.b", "major"), ("r.c", "major"), ("r.d", "minor")],
            cards={"merged": ("r.a", "r.b"), "twice": ("r.c", "r.c"), "plain": "r.d"})  # fmt: skip
    rec.flush()
    record_feedback(store, "svc", [FeedbackItem("merged", "overridden", "will-monitor"),
                                   FeedbackItem("twice", "overridden", "will-monitor"),
                                   FeedbackItem("plain", "accepted"), FeedbackItem("old-card", "accepted")])
    got = {r["rule"]: (r["shown"], r["accepted"], r["overridden"]) for r in summary(store, TODAY)}
    assert got == {"r.a": (1, 0, 1), "r.b": (1, 0, 1), "r.c": (1, 0, 1), "r.d": (1, 1, 0), "r.old": (0, 1, 1)}
    record_outcome(store, "r.a", "acted_on", merged=["r.b", "r.a"])
    got = {r["rule"]: r for r in summary(store, TODAY)}
    assert (got["r.a"]["accepted"], got["r.b"]["accepted"], got["r.b"]["override_rate"]) == (1, 1, 0.5)
