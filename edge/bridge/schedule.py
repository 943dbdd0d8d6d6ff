"""Fair turn-taking of the devices on one line: each has a poll interval, one request at a time."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["PollSchedule"]


class PollSchedule:
    """When each device of a line is due, and whose turn it is.

    The device due earliest goes next; among devices due at the same time the one polled longest
    ago goes first, so an overloaded line serves its devices round-robin instead of starving the
    slow ones. A device never owes more than one poll: after a late poll its next one is due one
    interval after the previous due time, or now, whichever is later.
    """

    def __init__(self, intervals_s: Sequence[float], now: float) -> None:
        """Every device is due at `now`, in the given order."""
        self._intervals = list(intervals_s)
        self._due = [now] * len(self._intervals)
        self._turn = list(range(len(self._intervals)))  # lower = polled longer ago
        self._counter = len(self._intervals)

    def next(self) -> tuple[int, float]:
        """Return (device index, due time) of the device to poll next."""
        index = min(range(len(self._due)), key=lambda i: (self._due[i], self._turn[i]))
        return index, self._due[index]

    def done(self, index: int, now: float) -> None:
        """Record that device `index` was polled at `now`."""
        self._due[index] = max(self._due[index] + self._intervals[index], now)
        self._turn[index] = self._counter
        self._counter += 1
