"""``/healthz`` and ``/api/status``: is the daemon able to do its job, and what does it see now."""

from __future__ import annotations

import asyncio
import logging
import platform
import sqlite3
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from edge.errors import GridedgeError
from edge.ops.const import HEALTH_PROBE_EVERY_S, HEALTH_PROBE_STUCK_S
from edge.ops.figures import Figures

if TYPE_CHECKING:
    from edge.app import App

__all__ = ["WriteProbe", "health", "status"]

logger = logging.getLogger(__name__)

_PROBE_SCOPE = "ops"
_PROBE_KEY = "health_probe"


def health(app: App, figures: Figures | None, probe: WriteProbe) -> dict[str, Any]:
    """Each check with ``ok`` and ``detail``; ``problems`` lists what is wrong (empty = healthy).

    Args:
        app: the daemon.
        figures: the loop's figures, or None when they could not be taken.
        probe: the database write probe (its last outcome; nothing is written here).
    """
    checks: dict[str, dict[str, Any]] = {}
    mqtt = app.config.mqtt
    if figures is None:
        checks["loop"] = {"ok": False, "detail": "the event loop did not answer"}
        checks["broker"] = {"ok": False, "detail": "unknown: the event loop did not answer"}
    else:
        checks["loop"] = {"ok": True, "detail": "answering"}
        link = "connected to" if figures.mqtt_connected else "not connected to"
        checks["broker"] = {"ok": figures.mqtt_connected,
                            "detail": f"{link} {mqtt.host}:{mqtt.port}"}
    checks["store"] = probe.check()
    checks["schedule"] = _schedule_check(figures)
    problems = [f"{name}: {check['detail']}" for name, check in checks.items() if not check["ok"]]
    return {"status": "fail" if problems else "ok", "site": app.config.site.id,
            "checks": checks, "problems": problems}


class WriteProbe:
    """Proves now and then that the database takes writes, so that ``/healthz`` costs no fsync.

    One row is written (one fsync) every :data:`HEALTH_PROBE_EVERY_S` in a worker thread; a
    health request reads the last outcome. A write that has not finished after
    :data:`HEALTH_PROBE_STUCK_S` counts as failed while it hangs (a dying SD card).

    Args:
        app: the daemon (its store).
        clock: monotonic seconds; injectable for tests.
    """

    def __init__(self, app: App, clock: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        self.clock = clock
        self.ok: bool | None = None      # None = no probe finished yet
        self.detail = "not checked yet"
        self.writing_since: float | None = None
        self.writes = 0

    async def run(self) -> None:
        """Probe until cancelled."""
        while True:
            await self.probe()
            await asyncio.sleep(HEALTH_PROBE_EVERY_S)

    async def probe(self) -> None:
        """Write one row now (off the loop) and keep the outcome."""
        self.writing_since = self.clock()
        try:
            await asyncio.to_thread(self.app.store.put_state, _PROBE_SCOPE, _PROBE_KEY, time.time())
        except (sqlite3.Error, OSError, GridedgeError) as err:
            self.ok, self.detail = False, (
                f"the database {self.app.store.path.name} is not writable: {err}")
        else:
            self.ok, self.detail = True, "writable"
        finally:
            self.writing_since = None
            self.writes += 1

    def check(self) -> dict[str, Any]:
        """The ``store`` check of ``/healthz``: the store's own view, then the last probe."""
        # A full or read-only disk, with the path and the free space, as the store sees it.
        store_health = self.app.store.health
        if not store_health.ok:
            return {"ok": False, "detail": store_health.detail, "kind": store_health.kind}
        since = self.writing_since
        if since is not None and self.clock() - since > HEALTH_PROBE_STUCK_S:
            return {"ok": False, "detail": f"a write to the database {self.app.store.path.name} "
                    f"has not finished for {self.clock() - since:.0f} s"}
        if self.ok is None:
            return {"ok": True, "detail": "not checked yet"}
        return {"ok": self.ok, "detail": self.detail}


def _schedule_check(figures: Figures | None) -> dict[str, Any]:
    if figures is None:
        return {"ok": False, "detail": "unknown: the event loop did not answer"}
    if not figures.schedule_present:
        return {"ok": False, "detail": "the schedule component is not running"}
    if not figures.schedule_loads:
        return {"ok": False, "detail": "no schedule loaded (the files were rejected; see the log)"}
    count = figures.schedule_announcements
    return {"ok": True, "detail": "loaded" if count is None else f"loaded, {count} announcements"}


def status(app: App, figures: Figures | None, version: str) -> dict[str, Any]:
    """The ``/api/status`` document: site, versions, broker, posts, speakers, open alerts."""
    config = app.config
    doc: dict[str, Any] = {
        "site": {"id": config.site.id, "name": config.site.name,
                 "community": config.site.community, "timezone": config.site.timezone},
        "time": time.time(),
        "versions": {"gridedge": version, "python": platform.python_version(),
                     "profiles": {p.id: p.version for p in app.profiles}},
        "broker": {"host": config.mqtt.host, "port": config.mqtt.port,
                   "connected": None if figures is None else figures.mqtt_connected},
    }
    if figures is None:
        doc["error"] = "the event loop did not answer; live figures are missing"
    else:
        doc["broker"].update(connects=figures.mqtt_stats.get("connects", 0),
                             received=figures.mqtt_stats.get("received", 0))
        doc["posts"] = [_post(p) for p in figures.posts]
        doc["posts_summary"] = {
            "total": len(figures.posts),
            "online": sum(1 for p in figures.posts if p.online),
            "offline": sum(1 for p in figures.posts if p.online is False),
            "latched_ports": sum(len(p.latches) for p in figures.posts)}
        doc["speakers"] = [asdict(s) for s in figures.speakers]
        doc["schedule"] = {"loaded": bool(figures.schedule_loads),
                           "announcements": figures.schedule_announcements}
    doc["alerts"] = _open_alerts(app)
    return doc


def _post(post: Any) -> dict[str, Any]:
    return {"post": post.post, "name": post.name, "location": post.location,
            "profile": post.profile, "online": post.online, "messages": post.messages,
            "ports": {str(port): state for port, state in sorted(post.ports.items())},
            "latches": [{"port": port, **latch} for port, latch in sorted(post.latches.items())],
            "sensor_faults": post.sensor_faults}


def _open_alerts(app: App) -> list[dict[str, Any]] | None:
    try:
        rows = app.store.query(
            "SELECT id, kind, severity, state, subject, post, port, speaker, area, first_ts, "
            "last_ts, count, acked_by, held FROM alerts WHERE state != 'resolved' ORDER BY id")
    except sqlite3.Error as err:
        logger.warning("status: open alerts could not be read: %s", err)
        return None
    return [dict(row) for row in rows]
