"""The daemon's one SQLite database: WAL, a schema version, forward migrations, and a disk that fails.

Later modules add their tables by appending a :class:`Migration` to ``MIGRATIONS`` (never by
editing an applied one). Writes are durable when committed (``synchronous=FULL``).

Two ways to write:

* :meth:`Store.submit` hands an operation to the one writer thread (:mod:`edge.storage.writer`),
  which commits queued operations in order, many per transaction; the event loop never waits for
  the disk. The alerts and the audit log write this way.
* :meth:`Store.transaction` writes at once, from any thread (CLI commands, other components).

The disk may fill up or turn read-only on a small box. That never stops the daemon: :meth:`open`
falls back to a read-only database (saved state still loads) or, failing that, to an empty one in
memory; a write the disk refuses raises a clean exception (:class:`StoreUnavailableError` or the
``sqlite3`` error) and works again once a background check sees the disk recover.
:attr:`Store.health` says which of these holds, for ``/healthz`` and the "disk full" alert.
"""

from __future__ import annotations

import contextlib
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
from edge.storage.const import (BUSY_TIMEOUT_S, DISK_FULL_BELOW_BYTES, RECOVER_EVERY_S,
                                 RETENTION_EVERY_S)
from edge.storage.disk import StoreHealth, disk_kind, free_bytes
from edge.storage.maintenance import Maintenance
from edge.storage.retention import apply_retention
from edge.storage.writer import Operation, Writer

__all__ = ["MIGRATIONS", "Migration", "Store", "StoreError", "StoreHealth",
           "StoreUnavailableError"]

logger = logging.getLogger(__name__)

DB_NAME = "gridedge.sqlite3"
STOP_FLUSH_S = 5.0


class StoreError(GridedgeError):
    """The database cannot be opened, migrated or written."""


class StoreUnavailableError(StoreError, sqlite3.OperationalError):
    """The store is degraded (read-only or in memory): writes are refused until the disk recovers.

    Also a ``sqlite3.OperationalError``, so code that already handles database errors handles this.
    """


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
    Migration(30, "office console: accounts and file versions", """
        CREATE TABLE console_users (
            name       TEXT PRIMARY KEY,      -- login name (a roster worker id, or any name)
            role       TEXT NOT NULL,         -- admin | office | duty_officer | grid_worker | cadre
            worker     TEXT NOT NULL DEFAULT '', -- roster worker id this login acts as ('' = none)
            pw_hash    TEXT NOT NULL,         -- scrypt$n$r$p$salt$hash (hex)
            pw_version INTEGER NOT NULL DEFAULT 1, -- bumped on a new password: old sessions end
            created_ts REAL NOT NULL,
            changed_ts REAL NOT NULL
        );
        CREATE TABLE console_versions (
            id         INTEGER PRIMARY KEY AUTOINCREMENT,
            file       TEXT NOT NULL,         -- path relative to config.yaml's folder
            ts         REAL NOT NULL,
            author     TEXT NOT NULL,
            note       TEXT NOT NULL DEFAULT '',
            content    TEXT NOT NULL
        );
        CREATE INDEX console_versions_file ON console_versions (file, id);
    """),
)


class Store:
    """The SQLite database in the data directory (one connection, serialised by a lock).

    Args:
        data_dir: where the database file lives (created if missing).
        migrations: the schema steps (tests add their own).
        retention: ``storage.retention`` of config.yaml (None = keep everything).
    """

    def __init__(self, data_dir: Path, migrations: tuple[Migration, ...] = MIGRATIONS,
                 retention: Any = None) -> None:
        self.path = data_dir / DB_NAME
        self.retention = retention
        self._migrations = migrations
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None
        self.mode = "closed"          # rw | ro | memory
        self._problem: tuple[str, str, float] | None = None  # (kind, text, since)
        self.writer = Writer(self)
        self._maintenance: Maintenance | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def open(self) -> None:
        """Open and migrate; on a disk problem fall back to read-only, then to memory.

        Raises:
            StoreError: the schema is newer than this gridedge, or a migration is broken (not a
                disk problem: those degrade the store instead).
        """
        try:
            self._open_rw()
        except StoreError as err:
            if err.__cause__ is None or disk_kind(err.__cause__) is None:
                raise
            self._degrade_open(err.__cause__)
        self.writer.start()

    def _open_rw(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                 check_same_thread=False)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=FULL")
                db.execute("PRAGMA foreign_keys=ON")
            except sqlite3.Error:
                db.close()
                raise
        except (OSError, sqlite3.Error) as err:
            raise StoreError(f"cannot open the database {self.path}: {err}") from err
        with self._lock:
            self._db, self.mode = db, "rw"
        try:
            self._migrate()
        except StoreError:
            with self._lock:
                self._db, self.mode = None, "closed"
            db.close()
            raise

    def _degrade_open(self, cause: BaseException) -> None:
        self._note_problem(cause)
        for uri in (f"file:{self.path}?mode=ro", f"file:{self.path}?immutable=1"):
            try:
                db = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                     check_same_thread=False)
                db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            except sqlite3.Error:
                continue
            with self._lock:
                self._db, self.mode = db, "ro"
            logger.error("database %s opened READ-ONLY (%s): saved state is loaded, nothing is "
                         "written until the disk recovers", self.path, cause)
            return
        db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        with self._lock:
            self._db, self.mode = db, "memory"
        self._migrate()
        logger.error("database %s cannot be read (%s): running on an EMPTY database in memory "
                     "until the disk recovers", self.path, cause)

    async def start(self) -> None:
        """Component start: open the database, watch the disk, apply retention."""
        self.open()
        self._maintenance = Maintenance(self, RECOVER_EVERY_S, RETENTION_EVERY_S)
        self._maintenance.start()

    async def stop(self) -> None:
        """Component stop: commit what is queued (if the disk lets us), close."""
        self.close()

    def close(self) -> None:
        """Stop the threads and close the database (idempotent)."""
        if self._maintenance is not None:
            self._maintenance.stop()
            self._maintenance = None
        self.writer.stop(STOP_FLUSH_S)
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
            self.mode = "closed"

    def try_recover(self) -> bool:
        """Back to read-write if the disk lets us (called by the maintenance thread)."""
        if self.mode in ("ro", "memory"):
            try:
                fresh = Store(self.path.parent, self._migrations)
                fresh._open_rw()  # noqa: SLF001 - same class
            except StoreError as err:
                self._note_problem(err.__cause__ or err)
                return False
            with self._lock:
                old, self._db, self.mode = self._db, fresh._db, "rw"  # noqa: SLF001
                fresh._db = None  # noqa: SLF001
            if old is not None:
                old.close()
            logger.warning("database %s is writable again (it was degraded); queued writes "
                           "follow", self.path)
        elif self.mode == "rw" and self._problem is not None:
            try:
                self.put_state("store", "probe", time.time())
            except sqlite3.Error:
                return False
        self.disk_ok()
        self.writer.kick()
        return True

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
        try:
            with self._lock:
                db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY "
                           "KEY, name TEXT NOT NULL, applied REAL NOT NULL)")
        except sqlite3.Error as err:
            raise StoreError(f"cannot prepare the database {self.path}: {err}") from err
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
                with self._write() as tx:
                    for statement in _statements(migration.sql):
                        tx.execute(statement)
                    tx.execute("INSERT INTO schema_migrations (version, name, applied) "
                               "VALUES (?, ?, ?)", (migration.version, migration.name, time.time()))
                    newest = max(applied | {migration.version})
                    tx.execute(f"PRAGMA user_version = {int(newest)}")
            except sqlite3.Error as err:
                msg = f"database migration {migration.version} ({migration.name}) failed: {err}"
                raise StoreError(msg) from (err if disk_kind(err) else None)
            applied.add(migration.version)
            logger.info("database migrated to version %d (%s)", migration.version, migration.name)

    # -- health --------------------------------------------------------------------------------

    @property
    def writable(self) -> bool:
        """True when writes are attempted (read-write mode; the disk may still refuse them)."""
        return self.mode == "rw" and self._db is not None

    @property
    def health(self) -> StoreHealth:
        """What the store can do now (cheap: no I/O beyond one statvfs)."""
        path = str(self.path)
        if self._problem is None and self.mode == "rw":
            return StoreHealth(ok=True, mode="rw", path=path, queued=self.writer.queued)
        kind, text, since = self._problem or ("io_error", f"the store is {self.mode}", 0.0)
        return StoreHealth(ok=False, mode=self.mode, kind=kind, problem=text, path=path,
                           free_bytes=free_bytes(self.path.parent), since=since,
                           queued=self.writer.queued)

    def disk_failed(self, err: BaseException, queued: int = 0) -> None:
        """A write failed because of the disk: remember it (logged once per episode)."""
        self._note_problem(err, queued)

    def disk_ok(self) -> None:
        """A write went through: the disk problem, if any, is over."""
        if self._problem is not None and self.mode == "rw":
            logger.warning("database %s: the disk takes writes again (%s is over)", self.path,
                           self._problem[0])
            self._problem = None

    def _note_problem(self, err: BaseException, queued: int = 0) -> None:
        kind = disk_kind(err) or "io_error"
        free = free_bytes(self.path.parent)
        if free is not None and free < DISK_FULL_BELOW_BYTES:
            kind = "disk_full"  # SQLite often says "I/O error" when it cannot grow -wal or -shm
        text = {"disk_full": "disk full", "read_only": "read-only disk"}.get(kind, "disk I/O error")
        if self._problem is None or self._problem[0] != kind:
            logger.error("database %s: %s (%s); %s bytes free; %d write(s) held in memory",
                         self.path, text, err, "unknown" if free is None else free, queued)
            self._problem = (kind, f"{text}: {err}", time.time())

    # -- access --------------------------------------------------------------------------------

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """The connection under the store's lock (for the writer thread)."""
        with self._lock:
            yield self._conn()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            db = self._conn()
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction at once, from any thread (BEGIN IMMEDIATE … COMMIT).

        Raises:
            StoreUnavailableError: the store is read-only or in memory (disk problem).
            sqlite3.Error: the write failed (a disk problem is also noted in :attr:`health`).
        """
        if not self.writable:
            msg = f"the database {self.path} cannot be written now ({self.health.detail})"
            raise StoreUnavailableError(msg)
        try:
            with self._write() as db:
                yield db
        except sqlite3.Error as err:
            if disk_kind(err):
                self.disk_failed(err, self.writer.queued)
            raise
        self.disk_ok()

    def submit(self, operation: Operation, *, droppable: bool = False) -> int:
        """Queue a write for the writer thread; returns its ticket at once (see :class:`Writer`)."""
        return self.writer.submit(operation, droppable=droppable)

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
            insert_events(db, [(kind, subject, severity,
                                json.dumps(detail, ensure_ascii=False, default=str), ts)
                               for kind, subject, severity, detail, ts in rows])

    def put_state(self, scope: str, key: str, value: Any) -> None:
        """Save a JSON value for a module (e.g. protection latches) under scope/key."""
        with self.transaction() as db:
            db.execute("INSERT INTO state (scope, key, value, updated) VALUES (?, ?, ?, ?) "
                       "ON CONFLICT (scope, key) DO UPDATE SET value = excluded.value, "
                       "updated = excluded.updated",
                       (scope, key, json.dumps(value, ensure_ascii=False), time.time()))

    def apply_retention(self, now: float | None = None) -> dict[str, int]:
        """Delete finished rows older than ``storage.retention`` says; table → rows deleted."""
        return apply_retention(self, now)

    def get_state(self, scope: str) -> dict[str, Any]:
        """Every saved value of a scope, key → value."""
        rows = self.query("SELECT key, value FROM state WHERE scope = ?", (scope,))
        return {row["key"]: json.loads(row["value"]) for row in rows}


def insert_events(db: sqlite3.Connection, rows: list[tuple[str, str, str, str, float]]) -> None:
    """Insert audit events (kind, subject, severity, detail as JSON text, ts) on ``db``."""
    db.executemany(
        "INSERT INTO events (ts, kind, subject, severity, detail) VALUES (?, ?, ?, ?, ?)",
        [(ts, kind, subject, severity, detail) for kind, subject, severity, detail, ts in rows])


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
