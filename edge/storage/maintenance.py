"""The store's background thread: bring a degraded store back, apply retention periodically."""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edge.store import Store

__all__ = ["Maintenance"]

logger = logging.getLogger(__name__)


class Maintenance:
    """A background thread: brings a degraded store back, and applies retention periodically."""

    def __init__(self, store: Store, recover_every_s: float, retention_every_s: float) -> None:
        self._store = store
        self._recover_every_s = recover_every_s
        self._retention_every_s = retention_every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="store-maintenance", daemon=True)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (waits for a retention chunk in progress)."""
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        next_retention = time.monotonic() + min(60.0, self._retention_every_s)
        while not self._stop.wait(self._recover_every_s):
            store = self._store
            try:
                if not store.health.ok:
                    store.try_recover()
                if time.monotonic() >= next_retention:
                    next_retention = time.monotonic() + self._retention_every_s
                    store.apply_retention()
            except Exception:
                logger.exception("store maintenance round failed; next in %.0f s",
                                 self._recover_every_s)
