"""``/healthz`` and ``/api/status``: is the daemon able to do its job, and what does it see now."""

from __future__ import annotations

import logging
import platform
import sqlite3
import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from edge.errors import GridedgeError
from edge.ops.figures import Figures

if TYPE_CHECKING:
    from edge.app import App

__all__ = ["health", "status"]

logger = logging.getLogger(__name__)

_PROBE_SCOPE = "ops"
_PROBE_KEY = "health_probe"


def health(app: App, figures: Figures | None) -> dict[str, Any]:
    """Each check with ``ok`` and ``detail``; ``problems`` lists what is wrong (empty = healthy).

    Args:
        app: the daemon.
        figures: the loop's figures, or None when the loop did not answer in time.
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
    checks["store"] = _store_check(app)
    checks["schedule"] = _schedule_check(figures)
    problems = [f"{name}: {check['detail']}" for name, check in checks.items() if not check["ok"]]
    return {"status": "fail" if problems else "ok", "site": app.config.site.id,
            "checks": checks, "problems": problems}


def _store_check(app: App) -> dict[str, Any]:
    # The store's own view first: a full or read-only disk, with the path and the free space.
    store_health = app.store.health
    if not store_health.ok:
        return {"ok": False, "detail": store_health.detail, "kind": store_health.kind}
    # A real write (one row, one fsync) proves the disk takes writes, not just that a file exists.
    try:
        app.store.put_state(_PROBE_SCOPE, _PROBE_KEY, time.time())
    except (sqlite3.Error, OSError, GridedgeError) as err:
        return {"ok": False, "detail": f"the database {app.store.path.name} is not writable: {err}"}
    return {"ok": True, "detail": "writable"}


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
