"""Cut-offs of one post: send the profile's ``port_off``, wait for telemetry to confirm, retry, escalate.

A port is only ever reported off when a reading shows it off: taken after the command (current
at about 0 A, or the relay reported open), or the very message that tripped it reporting the
relay already open (the device cut itself). Until then the command is sent again every
``confirm_s``; after ``retries`` repeats, where the profile can ask the device for its status
(``port_status``), the daemon asks and waits one more ``confirm_s`` (telemetry may just be
silent); only then the post gets "cut-off failed", and the tracker keeps waiting, so a late
confirmation is still reported.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from edge.posts.const import CONFIRM_CURRENT_A

__all__ = ["Cutoff", "CutoffTracker"]

logger = logging.getLogger(__name__)

# One sequence per process, started from the clock so ids do not repeat after a restart.
_request_ids = itertools.count(int(time.time() * 1000) % 1_000_000_000)


@dataclass
class Cutoff:
    """One port being cut off."""

    port: int
    reason: str
    request_id: int
    sent_at: float  # epoch seconds of the first command
    attempts: int = 1
    queried: bool = False  # the device was asked for its status before failure
    failed: bool = False
    confirmed_by: str = ""
    timer: asyncio.TimerHandle | None = field(default=None, repr=False)


Send = Callable[[int, int, str], None]
"""send(port, request_id, reason): publish the port_off command."""
Report = Callable[[Cutoff], None]
Query = Callable[[int], None]
"""query(port): ask the device to report the port's state now (its own status command)."""


class CutoffTracker:
    """Pending cut-offs of one post.

    Args:
        send: Publishes the cut-off command for a port.
        confirm_s: Seconds to wait for a confirming reading before sending again.
        retries: Repeats before ``on_failed``.
        on_confirmed: Called once telemetry shows the port off.
        on_failed: Called once when the retries are exhausted.
    """

    def __init__(self, send: Send, confirm_s: float, retries: int, *,  # noqa: PLR0913
                 on_confirmed: Report, on_failed: Report, query: Query | None = None) -> None:
        """Store the callbacks; nothing is pending."""
        self._send = send
        self._query = query
        self.confirm_s = confirm_s
        self.retries = retries
        self._on_confirmed = on_confirmed
        self._on_failed = on_failed
        self.pending: dict[int, Cutoff] = {}
        self.confirmed: dict[int, Cutoff] = {}
        self.sent = 0  # cut-off commands sent, retries included (read by /metrics)

    def cut(self, port: int, reason: str) -> Cutoff:
        """Send the cut-off now (again, if one is pending: a re-cut starts a fresh count)."""
        old = self.pending.pop(port, None)
        if old is not None and old.timer is not None:
            old.timer.cancel()
        self.confirmed.pop(port, None)
        cutoff = Cutoff(port, reason, next(_request_ids), time.time())
        self.pending[port] = cutoff
        self._transmit(cutoff)
        return cutoff

    def observe(self, port: int, current_a: float | None, on: bool | None) -> Cutoff | None:
        """A reading of ``port`` arrived after the command; return the cut-off it confirms."""
        cutoff = self.pending.get(port)
        if cutoff is None:
            return None
        if on is False:
            cutoff.confirmed_by = "relay_off"
        elif current_a is not None and current_a <= CONFIRM_CURRENT_A:
            cutoff.confirmed_by = "current_zero"
        else:
            return None
        del self.pending[port]
        if cutoff.timer is not None:
            cutoff.timer.cancel()
        self.confirmed[port] = cutoff
        self._on_confirmed(cutoff)
        return cutoff

    def forget(self, port: int) -> None:
        """Stop tracking a port (a staff reset released it)."""
        cutoff = self.pending.pop(port, None)
        if cutoff is not None and cutoff.timer is not None:
            cutoff.timer.cancel()
        self.confirmed.pop(port, None)

    def cancel_all(self) -> None:
        """Stop every timer (the daemon is stopping)."""
        for cutoff in self.pending.values():
            if cutoff.timer is not None:
                cutoff.timer.cancel()

    def _transmit(self, cutoff: Cutoff) -> None:
        self.sent += 1
        try:
            self._send(cutoff.port, cutoff.request_id, cutoff.reason)
        except Exception:  # a broken profile template must not stop the retries
            logger.exception("sending the cut-off of port %d failed", cutoff.port)
        loop = asyncio.get_running_loop()
        cutoff.timer = loop.call_later(self.confirm_s, self._expired, cutoff)

    def _expired(self, cutoff: Cutoff) -> None:
        if self.pending.get(cutoff.port) is not cutoff:
            return
        if cutoff.attempts <= self.retries:
            cutoff.attempts += 1
            logger.warning("port %d: cut-off not confirmed after %.1f s; sending it again "
                           "(attempt %d)", cutoff.port, self.confirm_s, cutoff.attempts)
            self._transmit(cutoff)
            return
        if self._query is not None and not cutoff.queried:
            cutoff.queried = True
            logger.warning("port %d: cut-off still not confirmed; asking the device for its "
                           "status before declaring it failed", cutoff.port)
            try:
                self._query(cutoff.port)
            except Exception:  # a broken profile template must not stop the failure report
                logger.exception("asking port %d for its status failed", cutoff.port)
            cutoff.timer = asyncio.get_running_loop().call_later(self.confirm_s, self._expired,
                                                                 cutoff)
            return
        if not cutoff.failed:
            cutoff.failed = True
            self._on_failed(cutoff)
