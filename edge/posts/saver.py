"""Saving protection state off the event loop, in order, until it is written.

Every snapshot of a post gets the next number of that post's version, taken on the event loop
at the moment the snapshot is taken; the database keeps, per post, only the row with the highest
version (``persist.save`` is a conditional upsert). So whatever order threads, retries and
restarts write in, an older snapshot can never replace a newer one, and a latch once saved stays
saved. One worker thread writes (no SQLite commit on the loop), every post waiting in one
transaction, so a storm of trips costs one fsync per batch rather than one per post; a batch that
fails (disk full, read-only file system) keeps the newest snapshot of each of its posts waiting
and is tried again every ``SAVE_RETRY_S`` until it is written.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from edge.posts import persist
from edge.posts.const import SAVE_RETRY_S

if TYPE_CHECKING:
    from edge.store import Store

__all__ = ["Saver"]

logger = logging.getLogger(__name__)

Written = Callable[[str, int], None]
"""written(post, version): called from the worker thread once a version is durable."""


class Saver:
    """The newest unsaved snapshot of each post, written by one worker thread.

    Args:
        store: The database.
        written: Told (from the worker thread) each time a post's version is durable.
    """

    def __init__(self, store: Store, written: Written | None = None) -> None:
        """Start with nothing waiting; ``start()`` starts the worker."""
        self._store = store
        self._written = written
        self._lock = threading.Condition()
        self._waiting: dict[str, tuple[int, dict[str, Any], dict[str, Any]]] = {}
        self._busy = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.failures = 0  # failed writes, retried (read by tests and /metrics)
        self.saved = 0

    def start(self) -> None:
        """Start the worker thread."""
        self._thread = threading.Thread(target=self._run, name="posts-saver", daemon=True)
        self._thread.start()

    def submit(self, post: str, version: int, snapshot: dict[str, Any],
               open_events: dict[str, Any]) -> None:
        """Queue a post's snapshot; a newer one waiting for the same post replaces it."""
        with self._lock:
            waiting = self._waiting.get(post)
            if waiting is None or waiting[0] < version:
                self._waiting[post] = (version, snapshot, open_events)
            self._lock.notify_all()

    def pending(self) -> int:
        """Snapshots not written yet (waiting or being written)."""
        with self._lock:
            return len(self._waiting) + (1 if self._busy else 0)

    def flush(self, timeout: float) -> bool:
        """Wait until everything submitted so far is written; False if ``timeout`` passed first."""
        with self._lock:
            return self._lock.wait_for(lambda: not self._waiting and not self._busy, timeout)

    def stop(self, timeout: float) -> bool:
        """Write what is waiting (for at most ``timeout`` s), then end the worker."""
        done = self.flush(timeout)
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        if not done:
            logger.error("protection state of %d post(s) could not be saved before stopping",
                         len(self._waiting))
        return done

    def _run(self) -> None:
        while True:
            with self._lock:
                self._lock.wait_for(lambda: self._waiting or self._stopping)
                if self._stopping:
                    return
                batch = self._waiting
                self._waiting = {}
                self._busy = True
            failed = self._write(batch)
            with self._lock:
                for post, item in failed.items():
                    newer = self._waiting.get(post)
                    if newer is None or newer[0] < item[0]:
                        self._waiting[post] = item
                self._busy = False
                self._lock.notify_all()
                if failed:
                    # Wait before retrying (a stop request ends the wait).
                    self._lock.wait_for(lambda: self._stopping, SAVE_RETRY_S)

    def _write(self, batch: dict[str, tuple[int, dict[str, Any], dict[str, Any]]],
               ) -> dict[str, tuple[int, dict[str, Any], dict[str, Any]]]:
        """Write the batch in one transaction (one fsync however many posts tripped at once);
        returns what failed, to be tried again."""
        try:
            persist.save_many(self._store, [(post, snapshot, events, version) for
                                            post, (version, snapshot, events) in batch.items()])
        except Exception as err:  # noqa: BLE001 - disk full, read-only, locked: retry
            self.failures += 1
            if self.failures == 1 or self.failures % 100 == 0:
                logger.error("saving the protection state of %d post(s) failed (%s); keeping it "
                             "in memory and retrying every %.0f s", len(batch), err, SAVE_RETRY_S)
            return batch
        self.saved += len(batch)
        if self._written is not None:
            for post, (version, _snapshot, _events) in batch.items():
                self._written(post, version)
        return {}
