"""The daemon's one SQLite database: WAL, a schema version, and forward migrations.

Later modules add their tables by appending a :class:`Migration` to ``MIGRATIONS`` (never by
editing an applied one). Writes are durable before they return (``synchronous=FULL``): the
alert outbox relies on "written before sent" surviving a power cut, not only ``kill -9``.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.errors import GridedgeError

__all__ = ["MIGRATIONS", "Migration", "Store", "StoreError"]

logger = logging.getLogger(__name__)

DB_NAME = "gridedge.sqlite3"
BUSY_TIMEOUT_S = 5.0


class StoreError(GridedgeError):
    """The database cannot be opened, migrated or written."""


@dataclass(frozen=True)
class Migration:
    """One forward step of the schema."""

    version: int
    name: str
    sql: str


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "audit events", """
        CREATE TABLE events (
            id       INTEGER PRIMARY KEY AUTOINCREMENT,
            ts       REAL NOT NULL,           -- epoch seconds
            kind     TEXT NOT NULL,           -- e.g. daemon.started, post.trip, play.done
            subject  TEXT NOT NULL DEFAULT '',-- post/port, speaker, alert id
            severity TEXT NOT NULL DEFAULT 'info',
            detail   TEXT NOT NULL DEFAULT '{}' -- JSON
        );
        CREATE INDEX events_ts ON events (ts);
        CREATE INDEX events_kind ON events (kind, ts);
    """),
    Migration(2, "key-value state", """
        CREATE TABLE state (
            scope   TEXT NOT NULL,            -- module that owns the value, e.g. protection
            key     TEXT NOT NULL,
            value   TEXT NOT NULL,            -- JSON
            updated REAL NOT NULL,
            PRIMARY KEY (scope, key)
        );
    """),
)


class Store:
    """The SQLite database in the data directory (one connection, serialised by a lock)."""

    def __init__(self, data_dir: Path, migrations: tuple[Migration, ...] = MIGRATIONS) -> None:
        self.path = data_dir / DB_NAME
        self._migrations = migrations
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def open(self) -> None:
        """Open (creating the data directory) and migrate to the newest schema."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                 check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA foreign_keys=ON")
        except (OSError, sqlite3.Error) as err:
            raise StoreError(f"cannot open the database {self.path}: {err}") from err
        self._db = db
        self._migrate()

    async def start(self) -> None:
        """Component start: open the database."""
        self.open()

    async def stop(self) -> None:
        """Component stop: close the database."""
        self.close()

    def close(self) -> None:
        """Close the database (idempotent)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    @property
    def version(self) -> int:
        """The schema version of the open database."""
        return int(self._conn().execute("PRAGMA user_version").fetchone()[0])

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            msg = "the store is not open"
            raise StoreError(msg)
        return self._db

    def _migrate(self) -> None:
        newest = max((m.version for m in self._migrations), default=0)
        current = self.version
        if current > newest:
            msg = (f"the database {self.path} has schema version {current}, newer than this "
                   f"gridedge knows ({newest}); upgrade gridedge or restore a matching backup")
            raise StoreError(msg)
        for migration in sorted(self._migrations, key=lambda m: m.version):
            if migration.version <= current:
                continue
            try:
                with self.transaction() as db:
                    for statement in _statements(migration.sql):
                        db.execute(statement)
                    db.execute(f"PRAGMA user_version = {int(migration.version)}")
            except sqlite3.Error as err:
                msg = f"database migration {migration.version} ({migration.name}) failed: {err}"
                raise StoreError(msg) from err
            logger.info("database migrated to version %d (%s)", migration.version, migration.name)

    # -- access --------------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE … COMMIT, rolled back on error)."""
        with self._lock:
            db = self._conn()
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def query(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        """Rows of a read query."""
        with self._lock:
            cursor = self._conn().execute(sql, params)
            cursor.row_factory = sqlite3.Row
            return cursor.fetchall()

    def record_event(self, kind: str, subject: str = "", severity: str = "info",
                     detail: dict[str, Any] | None = None, ts: float | None = None) -> int:
        """Append one audit event; returns its id."""
        with self.transaction() as db:
            cursor = db.execute(
                "INSERT INTO events (ts, kind, subject, severity, detail) VALUES (?, ?, ?, ?, ?)",
                (time.time() if ts is None else ts, kind, subject, severity,
                 json.dumps(detail or {}, ensure_ascii=False)))
            return int(cursor.lastrowid or 0)

    def put_state(self, scope: str, key: str, value: Any) -> None:
        """Save a JSON value for a module (e.g. protection latches) under scope/key."""
        with self.transaction() as db:
            db.execute("INSERT INTO state (scope, key, value, updated) VALUES (?, ?, ?, ?) "
                       "ON CONFLICT (scope, key) DO UPDATE SET value = excluded.value, "
                       "updated = excluded.updated",
                       (scope, key, json.dumps(value, ensure_ascii=False), time.time()))

    def get_state(self, scope: str) -> dict[str, Any]:
        """Every saved value of a scope, key → value."""
        rows = self.query("SELECT key, value FROM state WHERE scope = ?", (scope,))
        return {row["key"]: json.loads(row["value"]) for row in rows}


def _statements(script: str) -> list[str]:
    """Split a migration script into statements (executescript would commit our transaction)."""
    out, buffer = [], ""
    for char in script:
        buffer += char
        if char == ";" and sqlite3.complete_statement(buffer):
            out.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        out.append(buffer.strip())
    return out
