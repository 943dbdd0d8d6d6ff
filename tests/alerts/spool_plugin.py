"""Test-only plugin for a real ``gridedge run``: emits events dropped as JSON files in a folder.

Loaded by the alerts component when ``GRIDEDGE_ALERTS_TEST_PLUGIN=tests.alerts.spool_plugin``;
the folder is ``GRIDEDGE_TEST_EVENT_SPOOL``. Each file holds a list of
``{"kind", "subject", "severity", "detail"}``; every event goes through the daemon's real
EventBus, exactly like the posts module's. It does not depend on the broker, so a test can feed
events while the broker is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from pathlib import Path
from typing import Any

from edge.events import Event, Severity

SPOOL_ENV = "GRIDEDGE_TEST_EVENT_SPOOL"


class SpoolPlugin:
    """Polls the spool folder and emits what it finds."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.folder = Path(os.environ[SPOOL_ENV])
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Begin polling."""
        self._task = asyncio.create_task(self._poll())

    async def stop(self) -> None:
        """Stop polling."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _poll(self) -> None:
        while True:
            for path in sorted(self.folder.glob("*.json")):
                events = json.loads(path.read_text(encoding="utf-8"))
                path.unlink()
                for e in events:
                    self.app.events.emit(Event(e["kind"], e["subject"],
                                               Severity(e.get("severity", "info")),
                                               e.get("detail", {})))
            await asyncio.sleep(0.05)


def create(app: Any) -> SpoolPlugin:
    """The plugin component."""
    return SpoolPlugin(app)
