"""The steady clock: epoch-like seconds that advance with the monotonic clock.

Escalation steps, repeats and retries are durations. Kept as epoch-like numbers they still read
naturally in the database, but measured here they do not jump when NTP steps the wall clock: an
NTP step back of an hour neither delays an escalation by an hour nor does a step forward fire it
at once. The anchor is taken at start, so the numbers stay close to the wall clock's.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["SteadyClock"]


class SteadyClock:
    """``wall() at start + (monotonic() - monotonic() at start)``.

    Args:
        wall: the wall clock, read once.
        monotonic: the monotonic clock, read on every call.
    """

    def __init__(self, wall: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._base = wall() - monotonic()

    def __call__(self) -> float:
        return self._base + self._monotonic()
