"""The alert manager's working state: the alert tables in an in-memory SQLite, journaled to disk.

The manager and the outbox read and change alerts, notifications and the alert history here, in
microseconds, on the event loop. Triggers note every row a transaction touched; on commit the
rows' new images are handed to the store's writer thread as one operation (upserts by id), so
the database on disk follows in the same order, many changes per fsync. Nothing on the loop
waits for the disk, and nothing is lost while the disk refuses writes: the images wait in the
writer's queue and the state stays here.

Durability gate: a notification may be sent once the operation that inserted it is committed
(:attr:`WorkingSet.gate`: every notification id up to it is on disk), or at once while the store
is degraded: paging never waits for a disk that cannot write.

History lines (``alert_log``) are only journaled: nothing reads them back from memory.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from edge.alerts.const import PRUNE_RESOLVED_AFTER_S
from edge.store import Store

__all__ = ["WorkingSet"]

logger = logging.getLogger(__name__)

TABLES = ("alerts", "notifications", "alert_log")  # also the order images are applied on disk
_OPEN_OR_UNSENT = ("SELECT id FROM alerts WHERE state != 'resolved' OR id IN (SELECT alert_id "
                   "FROM notifications WHERE state IN ('pending', 'held'))")


class WorkingSet:
    """In-memory alert tables with write-behind to the store.

    Args:
        store: the daemon's store (its schema gives the tables; its writer takes the journal).
        on_durable: called on the event loop when more notifications became durable.
    """

    def __init__(self, store: Store, on_durable: Callable[[], None] = lambda: None) -> None:
        self._store = store
        self._on_durable = on_durable
        self._db: sqlite3.Connection | None = None
        self._columns: dict[str, list[str]] = {}
        self._upserts: dict[str, str] = {}
        self._awaiting: deque[tuple[int, int]] = deque()   # (ticket, newest notification id)
        self._gate = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self.stats = {"journaled": 0}

    # -- lifecycle -----------------------------------------------------------------------------

    def open(self) -> None:
        """Build the tables from the store's schema and load what is still open or unsent."""
        db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        marks = ",".join("?" * len(TABLES))
        schema = self._store.query(f"SELECT type, sql FROM sqlite_master WHERE tbl_name IN "  # noqa: S608
                                   f"({marks}) AND sql IS NOT NULL ORDER BY type DESC", TABLES)
        for row in schema:
            db.execute(row["sql"])
        db.execute("CREATE INDEX working_lane ON notifications (channel, state, next_try_ts)")
        db.execute("CREATE INDEX working_alert_lane ON notifications (alert_id, channel, state)")
        db.execute("CREATE TEMP TABLE _dirty (tbl TEXT NOT NULL, rid INTEGER NOT NULL, "
                   "PRIMARY KEY (tbl, rid)) WITHOUT ROWID")
        for table in TABLES:
            self._columns[table] = [r[1] for r in db.execute(f"PRAGMA table_info({table})")]
            cols = self._columns[table]
            self._upserts[table] = (
                f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
                f"ON CONFLICT (id) DO UPDATE SET "
                + ", ".join(f"{c} = excluded.{c}" for c in cols if c != "id"))
            for when, ref in (("INSERT", "new"), ("UPDATE", "new"), ("DELETE", "old")):
                db.execute(f"CREATE TEMP TRIGGER dirty_{table}_{when.lower()} AFTER {when} ON "
                           f"main.{table} BEGIN INSERT OR IGNORE INTO _dirty VALUES ('{table}', "
                           f"{ref}.id); END")
        self._db = db
        self._load()
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        self._store.writer.on_durable(self._durable_from_writer)

    def _load(self) -> None:
        db = self._conn()
        for table, where in (("alerts", f"id IN ({_OPEN_OR_UNSENT})"),
                             ("notifications", f"alert_id IN ({_OPEN_OR_UNSENT})")):
            rows = self._store.query(f"SELECT * FROM {table} WHERE {where}")  # noqa: S608
            cols = self._columns[table]
            db.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES "  # noqa: S608
                           f"({', '.join('?' * len(cols))})", [tuple(r[c] for c in cols)
                                                               for r in rows])
        for table in TABLES:
            on_disk = self._store.query("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,))
            seq = int(on_disk[0]["seq"]) if on_disk else 0
            if self._store.mode == "memory":
                # Nothing on disk could be read: start ids where the disk's cannot be, so rows
                # written when it recovers never overwrite older alerts.
                seq = max(seq, int(time.time()))
            db.execute("DELETE FROM sqlite_sequence WHERE name = ?", (table,))
            db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (table, seq))
        db.execute("DELETE FROM _dirty")
        self._gate = int(db.execute("SELECT COALESCE(MAX(id), 0) FROM notifications").fetchone()[0])

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            msg = "the alert working set is not open"
            raise RuntimeError(msg)
        return self._db

    # -- access --------------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A transaction on the working state; its changes are journaled to disk on commit."""
        db = self._conn()
        db.execute("BEGIN")
        try:
            yield db
            images = self._collect(db)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        self._journal(images)

    def query(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        """Rows of a read query on the working state."""
        cursor = self._conn().execute(sql, params)
        cursor.row_factory = sqlite3.Row
        return cursor.fetchall()

    @property
    def gate(self) -> int | None:
        """Notifications with an id up to this are on disk; None = send everything (degraded)."""
        if not self._store.health.ok:
            return None
        return self._gate

    def prune(self, now: float) -> int:
        """Forget resolved alerts whose every notification ended and is on disk (memory only)."""
        if self._store.writer.queued or not self._store.health.ok:
            return 0
        db = self._conn()
        db.execute("BEGIN")
        ids = [r[0] for r in db.execute(
            "SELECT id FROM alerts WHERE state = 'resolved' AND resolved_ts < ? AND id NOT IN "
            "(SELECT alert_id FROM notifications WHERE state IN ('pending', 'held'))",
            (now - PRUNE_RESOLVED_AFTER_S,))]
        db.executemany("DELETE FROM notifications WHERE alert_id = ?", [(i,) for i in ids])
        db.executemany("DELETE FROM alerts WHERE id = ?", [(i,) for i in ids])
        db.execute("DELETE FROM _dirty")   # forgetting is not a change to journal
        db.execute("COMMIT")
        return len(ids)

    # -- the journal ---------------------------------------------------------------------------

    def _collect(self, db: sqlite3.Connection) -> list[tuple[str, list[tuple[Any, ...]], list[int]]]:
        """Per table, in the order they are applied: (table, new row images, deleted ids)."""
        if db.execute("SELECT 1 FROM _dirty LIMIT 1").fetchone() is None:
            return []
        images = []
        for table in TABLES:
            cols = ", ".join(self._columns[table])
            rows = db.execute(f"SELECT {cols} FROM {table} WHERE id IN (SELECT rid FROM _dirty "  # noqa: S608
                              f"WHERE tbl = ?)", (table,)).fetchall()
            kept = {row[0] for row in rows}
            gone = [rid for (rid,) in db.execute("SELECT rid FROM _dirty WHERE tbl = ?", (table,))
                    if rid not in kept]
            if rows or gone:
                images.append((table, rows, gone))
        db.execute("DELETE FROM alert_log")  # journaled below, never read back
        db.execute("DELETE FROM _dirty")
        return images

    def _journal(self, images: list[tuple[str, list[tuple[Any, ...]], list[int]]]) -> None:
        if not images:
            return
        upserts = self._upserts

        def write(disk: sqlite3.Connection) -> None:
            for table, rows, gone in images:
                if rows:
                    disk.executemany(upserts[table], rows)
                if gone:
                    disk.executemany(f"DELETE FROM {table} WHERE id = ?",  # noqa: S608
                                     [(rid,) for rid in gone])

        ticket = self._store.submit(write)
        self.stats["journaled"] += 1
        newest = max((row[0] for table, rows, _gone in images if table == "notifications"
                      for row in rows), default=0)
        if newest > self._gate:
            self._awaiting.append((ticket, newest))

    def _durable_from_writer(self, ticket: int) -> None:
        # In the writer thread: hop to the loop that owns the gate.
        if self._loop is not None and not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(self._durable, ticket)
            except RuntimeError:
                pass  # the loop is shutting down

    def _durable(self, ticket: int) -> None:
        moved = False
        while self._awaiting and self._awaiting[0][0] <= ticket:
            _ticket, newest = self._awaiting.popleft()
            self._gate = max(self._gate, newest)
            moved = True
        if moved:
            self._on_durable()
