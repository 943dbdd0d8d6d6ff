"""The two clocks of the speaker fleet: the wall clock for calendar moments, the monotonic one for waiting.

A slot is due at a calendar moment (wall clock, epoch seconds), but once a request is queued
its grace window, the command deadlines and the inferred end of a play are durations: they are
measured on the monotonic clock, so an NTP step of the wall clock in either direction neither
expires a queued play early nor stretches a wait by the size of the step. Both clocks are
injectable so that tests can step the wall clock without touching the system's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["SpeakerClock"]


@dataclass(frozen=True)
class SpeakerClock:
    """Wall-clock seconds (epoch) and monotonic seconds."""

    wall: Callable[[], float] = time.time
    mono: Callable[[], float] = time.monotonic

    def mono_at(self, wall_moment: float) -> float:
        """The monotonic reading of a wall-clock moment, as the clocks stand now."""
        return self.mono() + (wall_moment - self.wall())
