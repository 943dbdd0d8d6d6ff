"""The SQLite store: WAL, schema version, forward migrations, refusal of a newer schema."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.store import MIGRATIONS, Migration, Store, StoreError, StoreUnavailableError


def test_new_database_is_migrated_to_newest_version(tmp_path: Path) -> None:
    """Test that a fresh data directory gets the newest schema in WAL mode."""
    store = Store(tmp_path / "data")
    store.open()
    assert store.version == max(m.version for m in MIGRATIONS)
    assert store.query("PRAGMA journal_mode")[0][0] == "wal"
    store.close()


def test_later_migration_applies_on_next_start_and_keeps_data(tmp_path: Path) -> None:
    """Test that adding a migration (as later modules do) upgrades an existing database in place."""
    store = Store(tmp_path)
    store.open()
    store.record_event("daemon.started", "site", detail={"posts": 10})
    store.close()
    newer = (*MIGRATIONS, Migration(999, "test table", "CREATE TABLE t (x INTEGER);"))
    upgraded = Store(tmp_path, newer)
    upgraded.open()
    assert upgraded.version == 999
    assert [r["kind"] for r in upgraded.query("SELECT kind FROM events")] == ["daemon.started"]
    with upgraded.transaction() as db:
        db.execute("INSERT INTO t VALUES (1)")
    upgraded.close()


def test_failed_migration_leaves_the_old_schema(tmp_path: Path) -> None:
    """Test that a migration that fails is rolled back whole, not half applied."""
    broken = (*MIGRATIONS, Migration(999, "broken", "CREATE TABLE ok (x); CREATE TABLE ok (x);"))
    store = Store(tmp_path, broken)
    with pytest.raises(StoreError, match="migration 999 \\(broken\\) failed"):
        store.open()
    store.close()
    check = Store(tmp_path)
    check.open()
    assert check.version == max(m.version for m in MIGRATIONS)
    assert not check.query("SELECT name FROM sqlite_master WHERE name = 'ok'")
    check.close()


def test_database_from_a_newer_gridedge_is_refused(tmp_path: Path) -> None:
    """Test that a downgrade is refused with a message that says what to do."""
    store = Store(tmp_path, (*MIGRATIONS, Migration(999, "future", "CREATE TABLE f (x);")))
    store.open()
    store.close()
    older = Store(tmp_path)
    with pytest.raises(StoreError, match="newer than this gridedge knows"):
        older.open()


def test_state_values_survive_reopening(tmp_path: Path) -> None:
    """Test that module state saved with put_state is there after a restart."""
    store = Store(tmp_path)
    store.open()
    store.put_state("protection", "P03", {"latched": [4], "acc": 0.5})
    store.put_state("protection", "P03", {"latched": [4, 5], "acc": 0.0})
    store.close()
    again = Store(tmp_path)
    again.open()
    assert again.get_state("protection") == {"P03": {"latched": [4, 5], "acc": 0.0}}
    again.close()


def test_unwritable_data_directory_degrades_and_says_so(tmp_path: Path) -> None:
    """Test that a data directory that cannot be created does not stop the store (it used to
    raise, which kept the whole daemon down): it runs in memory, refuses writes cleanly, and its
    health names the path."""
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    store = Store(blocker / "data")
    store.open()
    health = store.health
    assert not health.ok and health.mode == "memory"
    assert str(blocker / "data") in health.detail
    assert store.get_state("protection") == {}
    with pytest.raises(StoreUnavailableError, match="cannot be written now"):
        store.put_state("protection", "P03", {"latched": [4]})
    store.close()


def test_migration_numbered_below_an_applied_one_still_runs(tmp_path: Path) -> None:
    """Test that a migration landing after a higher-numbered one (parallel work) is applied."""
    base = tuple(m for m in MIGRATIONS if m.version <= 2)
    store = Store(tmp_path, (*base, Migration(20, "later number first", "CREATE TABLE b (x);")))
    store.open()
    store.close()
    both = Store(tmp_path, (*base, Migration(10, "lower number later", "CREATE TABLE a (x);"),
                            Migration(20, "later number first", "CREATE TABLE b (x);")))
    both.open()
    names = {r["name"] for r in both.query("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"a", "b"} <= names
    assert both.version == 20
    both.close()
