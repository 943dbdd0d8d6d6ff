"""Capped exponential backoff for reopening a serial port that vanished."""

from __future__ import annotations

import time


class ReopenBackoff:
    """When the next reopen attempt is due: `initial_s`, then doubling per failure, capped."""

    def __init__(self, initial_s: float, max_s: float) -> None:
        """Store the bounds; no attempt is pending."""
        self._initial_s = initial_s
        self._max_s = max_s
        self._delay_s = 0.0
        self._due_at = 0.0

    @property
    def delay_s(self) -> float:
        """The current wait between attempts (0 while the port is fine)."""
        return self._delay_s

    def remaining_s(self) -> float:
        """Seconds until the next attempt is due (0 if due now)."""
        return max(0.0, self._due_at - time.monotonic())

    def failed(self) -> None:
        """Record a failure: wait `initial_s` after the first, then twice the last wait."""
        self._delay_s = (
            self._initial_s if self._delay_s == 0.0 else min(self._delay_s * 2, self._max_s)
        )
        self._due_at = time.monotonic() + self._delay_s

    def reset(self) -> None:
        """Forget the failures: the next attempt is due at once."""
        self._delay_s = 0.0
        self._due_at = 0.0
