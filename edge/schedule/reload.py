"""Hot reload: poll the schedule (and holiday) files; a valid edit replaces the schedule whole,
an invalid one is rejected whole while the last good schedule keeps running."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from edge.config.errors import ConfigError
from edge.schedule.const import RELOAD_POLL_S

__all__ = ["FileWatcher"]

logger = logging.getLogger(__name__)

Snapshot = dict[Path, str | None]


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None  # a file being replaced or deleted: its absence is itself a change


class FileWatcher:
    """Calls ``reload()`` when any watched file's content changes, and routes its outcome.

    Args:
        paths: the files to watch (schedule files and the holiday file).
        reload: loads everything again; raises ConfigError when a file is invalid. Runs in a
            worker thread (it may decode clips).
        on_loaded: called on the loop with reload's result.
        on_rejected: called on the loop with the ConfigError.
        poll_s: seconds between looks at the files.
        sleep: coroutine sleeping the given seconds (tests drive it).
    """

    def __init__(self, paths: list[Path], reload: Callable[[], object],
                 on_loaded: Callable[[object], None], on_rejected: Callable[[ConfigError], None],
                 *, poll_s: float = RELOAD_POLL_S,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self._paths = list(paths)
        self._reload = reload
        self._on_loaded = on_loaded
        self._on_rejected = on_rejected
        self._poll_s = poll_s
        self._sleep = sleep
        self._seen: Snapshot | None = None

    def mark_current(self) -> None:
        """Take the files as they are now as already loaded (call after the first load)."""
        self._seen = self._snapshot()

    def _snapshot(self) -> Snapshot:
        return {p: _digest(p) for p in self._paths}

    async def check(self) -> bool:
        """Look once; reload when content changed. True when a reload was attempted."""
        # Hashing a few small files every poll is cheap, and unlike mtimes it cannot miss two
        # same-size saves within one timestamp tick, nor report a save without changes.
        current = self._snapshot()
        if current == self._seen:
            return False
        self._seen = current
        try:
            result = await asyncio.to_thread(self._reload)
        except ConfigError as err:
            self._on_rejected(err)
            return True
        except Exception:
            logger.exception("reloading the schedule failed; the last good schedule keeps running")
            return True
        self._on_loaded(result)
        return True

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop`` is set."""
        while not stop.is_set():
            await self.check()
            sleeper = asyncio.ensure_future(self._sleep(self._poll_s))
            stopper = asyncio.ensure_future(stop.wait())
            try:
                await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
                stopper.cancel()
