"""The store on a real small filesystem that fills up: the daemon's state survives, nothing blocks.

Each test mounts its own tmpfs of a few MiB and fills it with a real file until ENOSPC.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from edge.store import Store, StoreUnavailableError
from tests.smallfs import small_fs

HANG_GUARD_S = 30.0


def _wait(check: Callable[[], bool], timeout: float = HANG_GUARD_S) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _rows(store: Store) -> int:
    return int(store.query("SELECT COUNT(*) FROM events")[0][0])


def test_store_opens_on_a_full_disk_with_its_saved_state(tmp_path: Path) -> None:
    """Test that a database on a filesystem that is full opens (it used to raise 'disk I/O
    error' and keep the daemon down), with the saved state readable and the health saying
    'disk full' with the path and free space; writes fail cleanly and work again once there is
    room, without a restart."""
    with small_fs(tmp_path / "fs") as fs:
        data = fs.root / "data"
        store = Store(data)
        store.open()
        store.put_state("protection", "P03", {"latched": [4]})
        store.close()
        fs.fill()
        full = Store(data)
        full.open()               # must not raise
        try:
            assert full.get_state("protection") == {"P03": {"latched": [4]}}
            health = full.health
            assert not health.ok and health.kind == "disk_full", health
            assert str(data) in health.detail and "bytes free" in health.detail
            with pytest.raises(sqlite3.Error):
                full.put_state("protection", "P03", {"latched": [4, 5]})
            fs.free()
            assert _wait(lambda: full.try_recover())
            assert full.health.ok and full.mode == "rw"
            full.put_state("protection", "P03", {"latched": [4, 5]})
            assert full.get_state("protection") == {"P03": {"latched": [4, 5]}}
        finally:
            full.close()


def test_writes_queued_while_the_disk_is_full_are_committed_when_it_recovers(
        tmp_path: Path) -> None:
    """Test that writes handed to the writer while the disk is full stay queued in order, that
    submitting never blocks, and that they are committed once space returns (the maintenance
    thread notices on its own)."""
    with small_fs(tmp_path / "fs") as fs:
        store = Store(fs.root / "data")
        store.open()
        store.writer.wait(timeout=HANG_GUARD_S)
        fs.fill()

        def insert(i: int) -> Callable[[sqlite3.Connection], None]:
            def op(db: sqlite3.Connection) -> None:
                db.execute("INSERT INTO events (ts, kind, detail) VALUES (?, 'test', ?)",
                           (float(i), "x" * 2000))
            return op

        tickets = [store.submit(insert(i)) for i in range(2000)]
        assert _wait(lambda: not store.health.ok)
        assert store.health.kind == "disk_full"
        assert store.writer.durable < tickets[-1]
        fs.free()
        store._maintenance = None  # noqa: SLF001 - started by start(); here recovery is driven below
        assert _wait(lambda: store.try_recover() and store.writer.durable >= tickets[-1]), (
            store.health, store.writer.stats, fs.free_bytes())
        ts = [r[0] for r in store.query("SELECT ts FROM events WHERE kind = 'test' ORDER BY id")]
        assert ts == [float(i) for i in range(2000)]
        assert store.health.ok
        store.close()


def test_a_full_disk_at_start_then_space_returns_recovers_by_itself(tmp_path: Path) -> None:
    """Test that a store started (as the daemon does) on a full disk with no database yet runs in
    memory, refuses writes with StoreUnavailableError, and goes back to read-write on its own
    once space returns."""
    import asyncio

    with small_fs(tmp_path / "fs", size_mb=4) as fs:
        fs.fill()
        store = Store(fs.root / "data")
        asyncio.run(store.start())
        try:
            assert store.mode in ("memory", "ro")
            assert not store.health.ok and store.health.kind == "disk_full"
            with pytest.raises(StoreUnavailableError):
                store.put_state("x", "y", 1)
            fs.free()
            assert _wait(lambda: store.health.ok)
            store.put_state("x", "y", 1)
            assert store.get_state("x") == {"y": 1}
        finally:
            asyncio.run(store.stop())


def test_retention_deletes_only_old_finished_rows(tmp_path: Path) -> None:
    """Test that retention removes audit events and sent notifications past their age and keeps
    recent rows and anything unfinished, however old."""
    from edge.config.storage import RetentionConfig

    store = Store(tmp_path, retention=RetentionConfig(events_days=90, notifications_days=30))
    store.open()
    now = time.time()
    old, recent = now - 100 * 86400, now - 86400
    with store.transaction() as db:
        for ts in (old, recent):
            db.execute("INSERT INTO events (ts, kind) VALUES (?, 'x')", (ts,))
        db.execute("INSERT INTO alerts (key, kind, severity, state, first_ts, last_ts, detail) "
                   "VALUES ('k', 'overcurrent', 'critical', 'firing', ?, ?, '{}')", (old, old))
        for state in ("sent", "pending"):
            db.execute("INSERT INTO notifications (alert_id, seq, recipient, channel, purpose, "
                       "state, created_ts, next_try_ts) VALUES (1, ?, 'w', ?, 'firing', ?, ?, ?)",
                       (1 if state == "sent" else 2, f"w:{state}", state, old, old))
    deleted = store.apply_retention(now)
    assert deleted == {"events": 1, "notifications": 1}
    assert [r[0] for r in store.query("SELECT ts FROM events")] == [recent]
    assert [r[0] for r in store.query("SELECT state FROM notifications")] == ["pending"]
    store.close()
