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
    Migration(3, "charging-post protection state", """
        CREATE TABLE post_protection (
            post        TEXT PRIMARY KEY,     -- post id from config.yaml
            snapshot    TEXT NOT NULL,        -- JSON of PostProtection.snapshot(): latches, accumulators
            open_events TEXT NOT NULL DEFAULT '{}', -- JSON: offline, sensor faults, unconfirmed cut-offs
            updated     REAL NOT NULL         -- epoch seconds
        );
    """),
    Migration(4, "play log", """
        CREATE TABLE plays (
            key          TEXT NOT NULL,       -- occurrence: announcement + slot, or ad-hoc id
            speaker      TEXT NOT NULL,       -- speaker id
            announcement TEXT NOT NULL,
            source       TEXT NOT NULL,       -- schedule | say | announce
            priority     TEXT NOT NULL,       -- routine | important | emergency
            due          REAL NOT NULL,       -- epoch seconds of the slot
            grace_s      REAL NOT NULL,
            request      TEXT NOT NULL,       -- JSON: text, clip, volume, repeat (to resume queued)
            state        TEXT NOT NULL,       -- queued, dispatched, played, interrupted, missed, failed
            confirmation TEXT NOT NULL DEFAULT '', -- played: confirmed | inferred
            reason       TEXT NOT NULL DEFAULT '', -- English message id (translated when shown)
            detail       TEXT NOT NULL DEFAULT '', -- evidence: what the speaker said, the error
            command_id   TEXT NOT NULL DEFAULT '',
            clip_sha256  TEXT NOT NULL DEFAULT '',
            duration_s   REAL,
            volume       INTEGER,
            attempts     INTEGER NOT NULL DEFAULT 0,
            queued_at    REAL NOT NULL,
            dispatched_at REAL,
            started_at   REAL,
            ended_at     REAL,
            PRIMARY KEY (key, speaker)
        );
        CREATE INDEX plays_due ON plays (due);
        CREATE INDEX plays_state ON plays (state);
    """),
    Migration(5, "alerts, their notification outbox, silences", """
        CREATE TABLE alerts (
            id          INTEGER PRIMARY KEY AUTOINCREMENT,
            key         TEXT NOT NULL,        -- alert kind + post/port or speaker: dedup while open
            kind        TEXT NOT NULL,        -- e.g. overcurrent, post_offline, broker_unreachable
            severity    TEXT NOT NULL,        -- critical | warning | info
            state       TEXT NOT NULL,        -- firing | acknowledged | resolved
            subject     TEXT NOT NULL DEFAULT '',
            post        TEXT NOT NULL DEFAULT '',
            port        INTEGER,
            speaker     TEXT NOT NULL DEFAULT '',
            area        TEXT NOT NULL DEFAULT '',
            first_ts    REAL NOT NULL,        -- epoch seconds of the first event
            last_ts     REAL NOT NULL,        -- epoch seconds of the newest event
            count       INTEGER NOT NULL DEFAULT 1, -- events folded into this alert
            detail      TEXT NOT NULL,        -- JSON: evidence and what the daemon did
            held        TEXT NOT NULL DEFAULT '', -- '' | silenced | inhibited: nobody paged now
            level       INTEGER NOT NULL DEFAULT -1, -- escalation step reached (-1 = none yet)
            level_ts    REAL,                 -- when the escalation clock started
            next_ts     REAL,                 -- next repeat/escalation due (NULL = none)
            seq         INTEGER NOT NULL DEFAULT 0, -- newest message sequence number
            acked_by    TEXT NOT NULL DEFAULT '',
            acked_ts    REAL,
            ack_note    TEXT NOT NULL DEFAULT '',
            resolved_ts REAL,
            resolved_by TEXT NOT NULL DEFAULT ''
        );
        CREATE UNIQUE INDEX alerts_open_key ON alerts (key) WHERE state != 'resolved';
        CREATE INDEX alerts_state ON alerts (state);
        CREATE TABLE alert_log (
            id       INTEGER PRIMARY KEY AUTOINCREMENT,
            alert_id INTEGER NOT NULL REFERENCES alerts (id),
            ts       REAL NOT NULL,
            what     TEXT NOT NULL,           -- raised, repeated, updated, escalated, acked, resolved …
            by       TEXT NOT NULL DEFAULT '',
            detail   TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX alert_log_alert ON alert_log (alert_id);
        CREATE TABLE notifications (
            id         INTEGER PRIMARY KEY AUTOINCREMENT,
            alert_id   INTEGER NOT NULL REFERENCES alerts (id),
            seq        INTEGER NOT NULL,      -- message number within the alert (dedup key with id)
            recipient  TEXT NOT NULL,         -- worker id, or 'mqtt'
            channel    TEXT NOT NULL,         -- 'mqtt' or '<worker>:<index of the Apprise URL>'
            purpose    TEXT NOT NULL,         -- firing, repeat, escalation, update, ack, all_clear,
                                              -- record, clear
            title      TEXT NOT NULL DEFAULT '',
            body       TEXT NOT NULL DEFAULT '',
            retain     INTEGER NOT NULL DEFAULT 0,
            state      TEXT NOT NULL,         -- pending, held, sent, failed, suppressed
            attempts   INTEGER NOT NULL DEFAULT 0,
            created_ts REAL NOT NULL,
            next_try_ts REAL NOT NULL,
            sent_ts    REAL,
            last_error TEXT NOT NULL DEFAULT '',
            UNIQUE (alert_id, seq, channel)
        );
        CREATE INDEX notifications_state ON notifications (state, next_try_ts);
        CREATE INDEX notifications_alert ON notifications (alert_id);
        CREATE TABLE silences (
            id         INTEGER PRIMARY KEY AUTOINCREMENT,
            scope      TEXT NOT NULL,         -- post | area
            target     TEXT NOT NULL,         -- post id or area name
            start_ts   REAL NOT NULL,
            end_ts     REAL NOT NULL,
            by         TEXT NOT NULL DEFAULT '',
            reason     TEXT NOT NULL DEFAULT '',
            ended_ts   REAL                   -- set once the daemon released what it held
        );
    """),
    Migration(20, "post protection save version", """
        -- grows with every snapshot of a post; a save never replaces a higher version
        ALTER TABLE post_protection ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
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
        # Applied versions are recorded one by one, so a migration numbered below one already
        # applied (modules developed side by side) still runs; user_version mirrors the newest.
        db = self._conn()
        with self._lock:
            db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
                       " name TEXT NOT NULL, applied REAL NOT NULL)")
        applied = {int(r[0]) for r in self.query("SELECT version FROM schema_migrations")}
        known = {m.version for m in self._migrations}
        unknown = sorted(applied - known)
        if unknown:
            msg = (f"the database {self.path} has schema version {unknown[-1]}, newer than this "
                   f"gridedge knows ({max(known, default=0)}); upgrade gridedge or restore a "
                   "matching backup")
            raise StoreError(msg)
        for migration in sorted(self._migrations, key=lambda m: m.version):
            if migration.version in applied:
                continue
            try:
                with self.transaction() as tx:
                    for statement in _statements(migration.sql):
                        tx.execute(statement)
                    tx.execute("INSERT INTO schema_migrations (version, name, applied) "
                               "VALUES (?, ?, ?)", (migration.version, migration.name, time.time()))
                    newest = max(applied | {migration.version})
                    tx.execute(f"PRAGMA user_version = {int(newest)}")
            except sqlite3.Error as err:
                msg = f"database migration {migration.version} ({migration.name}) failed: {err}"
                raise StoreError(msg) from err
            applied.add(migration.version)
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

    def record_events(self, rows: list[tuple[str, str, str, dict[str, Any], float]]) -> None:
        """Append audit events (kind, subject, severity, detail, ts) in one transaction."""
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO events (ts, kind, subject, severity, detail) VALUES (?, ?, ?, ?, ?)",
                [(ts, kind, subject, severity, json.dumps(detail, ensure_ascii=False,
                                                          default=str))
                 for kind, subject, severity, detail, ts in rows])

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
