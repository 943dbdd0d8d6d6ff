"""Time for protection: the daemon's own monotonic clock, and each post's device clock watched against it.

Protection elements are timed on the daemon's clock, never on a device's or a bridge's: a device
clock that steps back (NTP, a reset RTC, a bridge box corrected by NTP) would otherwise make new
readings look older than old ones, and protection would drop them. Device timestamps still
serve to drop a true repeat or a late reading, but only while the device clock keeps pace with
ours; a step of either sign is detected, counted and reported, and protection carries on.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from edge.posts.const import CLOCK_STEP_TOLERANCE_S

__all__ = ["Clock", "DeviceClock", "daemon_clock"]

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
