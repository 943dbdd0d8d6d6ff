"""What the daemon says about a post: the retained ``posts/<post>/state`` document and what survives a restart."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from edge.posts.const import (
    PORT_CUT,
    PORT_CUT_FAILED,
    PORT_CUTTING,
    PORT_LATCHED,
    PORT_NORMAL,
    PORT_PICKUP,
)
from edge.posts.protection import SnapshotError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from edge.posts.monitor import PostMonitor
    from edge.posts.protection import Latch

__all__ = ["build_state", "open_events", "port_state", "restore"]

logger = logging.getLogger(__name__)

STATE_VERSION = 1


def port_state(monitor: PostMonitor, port: int, latches: Mapping[int, Latch] | None = None) -> str:
    """One word for a port: normal, overload, cutting, cut_off, cutoff_failed or latched."""
    latch = (monitor.protection.latches if latches is None else latches).get(port)
    if latch is None:
        snap = monitor.protection.quiet
        return PORT_NORMAL if snap or not _timing(monitor, port) else PORT_PICKUP
    pending = monitor.cutoffs.pending.get(port)
    if pending is not None:
        return PORT_CUT_FAILED if pending.failed else PORT_CUTTING
    if port in monitor.cutoffs.confirmed:
        return PORT_CUT
    return PORT_LATCHED


def _timing(monitor: PostMonitor, port: int) -> bool:
    st = monitor.protection._engine.state.ports[port]
    return (st.inverse.accumulated > 0 or st.overpower.picked_at is not None
            or st.overtemp.picked_at is not None)


def build_state(monitor: PostMonitor) -> dict[str, Any]:
    """The retained state document of a post (JSON types only)."""
    protection = monitor.protection
    latches = protection.latches
    engine_ports = protection._engine.state.ports
    ports: dict[str, Any] = {}
    for port, reading in monitor.readings.items():
        latch = latches.get(port)
        ports[str(port)] = {
            **reading,
            "state": port_state(monitor, port, latches),
            "latched": latch is not None,
            "latch": None if latch is None else {"cause": str(latch.cause), "at": latch.at},
            "current_derived": port in monitor.derived,
            "overload_accumulated": round(engine_ports[port].inverse.accumulated, 4),
        }
    return {
        "version": STATE_VERSION,
        "post": monitor.post_id,
        "name": monitor.config.name,
        "location": monitor.config.location,
        "profile": monitor.profile.id,
        "online": monitor.online,
        "offline_since": monitor.offline_since,
        "updated": time.time(),
        "derived_current": bool(monitor.derived),
        "current_source": "derived_from_power" if monitor.derived else "measured",
        "voltage_v": monitor.voltage_v,
        "post_reading": monitor.post_reading,
        "ports": ports,
        "latched_ports": sorted(latches),
        "sensor_faults": sorted(monitor.sensor_faults),
        "rejected": dict(monitor.rejections.counts),
        "dropped": dict(monitor.dropped),
        "last_command": monitor.last_command,
        # True once every change shown here (a latch above all) is on disk.
        "saved": monitor.written_version >= monitor.save_version,
    }


def open_events(monitor: PostMonitor) -> dict[str, Any]:
    """What must survive a restart besides the protection core: offline, faults, cut-offs."""
    return {
        "offline_since": monitor.offline_since if monitor.online is False else None,
        "sensor_faults": monitor.sensor_faults,
        "cutoffs": {str(p): {"reason": c.reason, "failed": c.failed, "request_id": c.request_id}
                    for p, c in monitor.cutoffs.pending.items()},
        "confirmed": sorted(monitor.cutoffs.confirmed),
    }


def restore(monitor: PostMonitor, snapshot: dict[str, Any], events: dict[str, Any],
            now: float) -> list[int]:
    """Load saved state into a new monitor; returns the ports whose cut-off must be sent again."""
    try:
        monitor.protection.restore(snapshot, now)
    except SnapshotError:
        logger.exception("post %s: starting with clear protection state", monitor.post_id)
        return []
    if events.get("offline_since") is not None:
        monitor.online = False
        monitor.offline_since = float(events["offline_since"])
    monitor.sensor_faults = dict(events.get("sensor_faults") or {})
    latched = set(monitor.protection.latches)
    return sorted(int(p) for p in (events.get("cutoffs") or {}) if int(p) in latched)
