"""The store's one writer thread: operations in order, many per transaction (group commit).

Components hand over a write as a callable on the connection and get a ticket back at once; the
event loop never waits for the disk. The thread commits whatever has queued up in one
``BEGIN IMMEDIATE … COMMIT`` (one fsync for the lot), each operation inside its own savepoint so
that one broken operation is logged, counted and dropped without taking the others with it.
While the disk refuses writes the operations stay queued in memory, in order, and are committed
when it recovers; listeners hear the newest durable ticket after every commit.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from edge.storage.const import RECOVER_EVERY_S, WRITER_BATCH, WRITER_MAX_QUEUED
from edge.storage.disk import is_disk_error

if TYPE_CHECKING:
    from edge.store import Store

__all__ = ["Operation", "Writer"]

logger = logging.getLogger(__name__)

Operation = Callable[[sqlite3.Connection], None]


class Writer:
    """Commits queued operations of one store, in order, off the event loop."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._queue: deque[tuple[int, Operation, bool]] = deque()
        self._cond = threading.Condition()
        self._last_ticket = 0
        self.durable = 0               # every ticket up to this one is committed (or dropped)
        self._listeners: list[Callable[[int], None]] = []
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._kicked = False
        self.stats = {"commits": 0, "operations": 0, "dropped": 0, "op_errors": 0,
                      "disk_failures": 0}

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the thread (idempotent)."""
        if self._thread is None:
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
            self._thread.start()

    def stop(self, timeout: float) -> int:
        """Commit what is queued (if the disk lets us within ``timeout``); returns what was lost."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        with self._cond:
            lost = len(self._queue)
            self._queue.clear()
        if lost:
            logger.error("%d database write(s) could not be committed before stopping "
                         "(the disk refused them)", lost)
        return lost

    # -- use -----------------------------------------------------------------------------------

    def submit(self, operation: Operation, *, droppable: bool = False) -> int:
        """Queue ``operation(connection)``; returns its ticket. Never blocks on the disk.

        Args:
            operation: runs inside the writer's transaction; must not commit.
            droppable: may be dropped (counted) when the disk has been refusing writes so long
                that the queue is full (audit events); alert changes never are.
        """
        with self._cond:
            self._last_ticket += 1
            ticket = self._last_ticket
            self._queue.append((ticket, operation, droppable))
            if len(self._queue) > WRITER_MAX_QUEUED:
                self._shed()
            self._cond.notify()
        return ticket

    def on_durable(self, listener: Callable[[int], None]) -> None:
        """Call ``listener(ticket)`` (in the writer thread) after each commit."""
        self._listeners.append(listener)

    @property
    def queued(self) -> int:
        """Operations not committed yet."""
        return len(self._queue)

    @property
    def last_ticket(self) -> int:
        """The newest ticket handed out."""
        return self._last_ticket

    def kick(self) -> None:
        """The disk may take writes again: try now rather than at the next retry."""
        with self._cond:
            self._kicked = True
            self._cond.notify_all()

    def wait(self, ticket: int | None = None, timeout: float = 10.0) -> bool:
        """Block until ``ticket`` (default: everything submitted so far) is durable."""
        target = self._last_ticket if ticket is None else ticket
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.durable < target:
                left = deadline - time.monotonic()
                if left <= 0 or self._thread is None:
                    return self.durable >= target
                self._cond.wait(min(left, 0.1))
        return True

    # -- the thread ----------------------------------------------------------------------------

    def _shed(self) -> None:
        keep: deque[tuple[int, Operation, bool]] = deque()
        dropped = 0
        excess = len(self._queue) - WRITER_MAX_QUEUED
        for item in self._queue:
            if dropped < excess and item[2]:
                dropped += 1
                continue
            keep.append(item)
        self._queue = keep
        if dropped:
            self.stats["dropped"] += dropped
            logger.warning("the disk refuses writes: %d audit row(s) dropped to bound memory",
                           dropped)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if not self._queue:
                    return
                batch = [self._queue[i] for i in range(min(len(self._queue), WRITER_BATCH))]
            if self._commit(batch):
                with self._cond:
                    for _ in batch:
                        self._queue.popleft()
                    self.durable = batch[-1][0]
                    self._cond.notify_all()
                for listener in self._listeners:
                    try:
                        listener(self.durable)
                    except Exception:
                        logger.exception("store durability listener failed")
                continue
            with self._cond:
                if self._stopping:
                    return
                if not self._kicked:
                    self._cond.wait(RECOVER_EVERY_S)
                self._kicked = False

    def _commit(self, batch: list[tuple[int, Operation, bool]]) -> bool:
        store = self._store
        if not store.writable:
            return False
        try:
            with store.connection() as db:
                db.execute("BEGIN IMMEDIATE")
                try:
                    for _ticket, operation, _droppable in batch:
                        self._apply(db, operation)
                    db.execute("COMMIT")
                except BaseException:
                    with contextlib.suppress(sqlite3.Error):
                        db.execute("ROLLBACK")
                    raise
        except Exception as err:
            if is_disk_error(err):
                self.stats["disk_failures"] += 1
                store.disk_failed(err, queued=len(self._queue))
            else:
                logger.exception("the store writer could not commit %d operation(s); "
                                 "retrying", len(batch))
            return False
        self.stats["commits"] += 1
        self.stats["operations"] += len(batch)
        store.disk_ok()
        return True

    def _apply(self, db: sqlite3.Connection, operation: Operation) -> None:
        db.execute("SAVEPOINT op")
        try:
            operation(db)
        except Exception as err:
            if is_disk_error(err):
                raise
            db.execute("ROLLBACK TO op")
            self.stats["op_errors"] += 1
            logger.exception("a database write was refused and dropped (the others go on)")
        db.execute("RELEASE op")
