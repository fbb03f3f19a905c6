"""Migrations on SQLite and PostgreSQL: from an empty database, and from the previous revision
with data in it; the migrated schema is the one ``serving.store.schema`` declares."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from classifier.types import Note
from serving.store import Store
from serving.store.engine import current_revision, head_revision, make_engine, upgrade
from serving.store.schema import METADATA


def test_store_migrates_an_empty_database_to_the_declared_schema(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        assert current_revision(engine) is None
        upgrade(engine)
        assert current_revision(engine) == head_revision() == "0003"
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), METADATA)
        assert diff == []
        assert set(inspect(engine).get_table_names()) >= {
            "notes", "verdicts", "verdict_rules", "queue_items", "decisions", "audit_log"}
        upgrade(engine)  # at head: nothing to do
    finally:
        engine.dispose()


def test_store_migrates_from_the_previous_revision_keeping_the_data(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        upgrade(engine, "0001")
        assert current_revision(engine) == "0001"
        assert "audit_log" not in inspect(engine).get_table_names()
        now = datetime(2026, 5, 1, tzinfo=UTC).replace(tzinfo=None)
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO notes (note_id, version, content_hash, note, created_at) "
                "VALUES ('old', 1, :h, :n, :t)"),
                {"h": "0" * 64, "n": '{"id": "old", "text": "旧笔记"}', "t": now})
    finally:
        engine.dispose()
    store = Store.open(db_url)  # upgrades 0001 -> head (0003)
    try:
        assert current_revision(store.engine) == "0003"
        assert store.note_history("old").versions[0].note == {"id": "old", "text": "旧笔记"}
        store.audit("ops", "migrated", {"from": "0001"})
        assert store.audit_entries()[0].details == {"from": "0001"}
        store.record_correction(Note(id="old", text="旧笔记 v2"), "sharing", "li")
        assert [v.version for v in store.note_history("old").versions] == [1, 2]
    finally:
        store.close()


def test_store_opened_by_many_at_once_migrates_once(db_url: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def open_close(_: int) -> str | None:
        store = Store.open(db_url)
        try:
            return current_revision(store.engine)
        finally:
            store.close()

    with ThreadPoolExecutor(6) as pool:
        assert list(pool.map(open_close, range(6))) == ["0003"] * 6
