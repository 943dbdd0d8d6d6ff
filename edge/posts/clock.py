"""Time for protection: the daemon's own monotonic clock, and each post's device clock watched against it.

Protection elements are timed on the daemon's clock, never on a device's or a bridge's: a device
clock that steps back (NTP, a reset RTC, a bridge box corrected by NTP) would otherwise make new
readings look older than old ones, and protection would drop them. Device timestamps still
serve to drop a true repeat or a late reading, but only while the device clock keeps pace with
ours; a step of either sign is detected, counted and reported, and protection carries on.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from edge.events import Event, Severity
from edge.posts.const import CLOCK_STEP_TOLERANCE_S, EV_CLOCK_STEP, LOG_CLOCK_STEPS_EVERY_S

if TYPE_CHECKING:
    from edge.mqtt import Message
    from edge.posts.monitor import Hub
    from edge.posts.validate import Rejections

__all__ = ["Clock", "DeviceClock", "DeviceOrdering", "daemon_clock"]

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
"""Seconds on a clock that never goes back (epoch-like, for the state document and logs)."""


def daemon_clock() -> Clock:
    """The monotonic clock, anchored once to the epoch at start so its readings look like times.

    Only differences of its readings matter to protection; the anchor keeps persisted latch
    times readable. A wall-clock step after start does not move it.
    """
    anchor = time.time() - time.monotonic()
    monotonic = time.monotonic

    def now() -> float:
        return anchor + monotonic()

    return now


class DeviceClock:
    """One post's clock compared with the daemon's, message by message."""

    __slots__ = ("offset", "steps")

    def __init__(self) -> None:
        """Nothing known until the first timestamped message."""
        self.offset: float | None = None
        self.steps = 0

    def step(self, device_ts: float, now: float) -> float | None:
        """Take one device timestamp received at ``now``; return the step in seconds, or None.

        A positive step is a device clock that jumped forward, a negative one back. The new
        offset is taken at once, so one step is reported once.
        """
        offset = device_ts - now
        previous = self.offset
        self.offset = offset
        if previous is None:
            return None
        jump = offset - previous
        if -CLOCK_STEP_TOLERANCE_S <= jump <= CLOCK_STEP_TOLERANCE_S:
            return None
        self.steps += 1
        return jump


class DeviceOrdering:
    """Device timestamps of one post: clock steps reported, repeats and late readings dropped.

    Mixed into ``PostMonitor``; a reading it lets through is timed on the daemon's clock.
    """

    post_id: str
    hub: Hub
    rejections: Rejections
    device_clock: DeviceClock
    dropped: Counter[str]
    last_device_ts: dict[int, float]
    _last_values: dict[int, dict[str, Any]]
    _clock_logged: float

    detail: Callable[..., dict[str, Any]]  # PostMonitor.detail: the event detail with names

    def _device_time(self, ts: Any, now: float, msg: Message) -> float | None:
        """The device's timestamp if it has a usable one; a step of its clock is reported."""
        if ts is None:
            return None
        if type(ts) is not float or not math.isfinite(ts):
            self.rejections.add("bad_timestamp", repr(ts))
            return None
        jump = self.device_clock.step(ts, now)
        if jump is not None:
            self._clock_step(jump, ts, msg)
            # Ordering by device time starts over on the new clock.
            self.last_device_ts.clear()
        return ts

    def _clock_step(self, jump: float, device_ts: float, msg: Message) -> None:
        self.dropped["clock_step"] += 1
        mono = time.monotonic()
        if mono - self._clock_logged >= LOG_CLOCK_STEPS_EVERY_S:
            self._clock_logged = mono
            logger.warning("post %s: the device clock stepped %+.1f s (on %s); protection keeps "
                           "timing on the daemon's clock (%d step(s) so far)", self.post_id, jump,
                           msg.topic, self.device_clock.steps)
        self.hub.emit(Event(EV_CLOCK_STEP, self.post_id, Severity.WARNING, self.detail(
            step_s=round(jump, 3), device_ts=device_ts, received_at=msg.received_at,
            steps=self.device_clock.steps)))

    def _in_order(self, port: int, device_ts: float | None, raw: dict[str, Any]) -> bool:
        """False for a repeat (same time and values) or a late reading, by a steady device clock."""
        if device_ts is None:
            return True
        last = self.last_device_ts.get(port)
        if last is not None:
            if device_ts < last:
                self.dropped["out_of_order"] += 1
                return False
            if device_ts == last and raw == self._last_values.get(port):
                self.dropped["duplicate"] += 1
                return False
        self.last_device_ts[port] = device_ts
        self._last_values[port] = raw
        return True
