"""The Channel protocol: one way of getting a notification to someone, confirmed or raising."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["Channel", "Notification"]


@dataclass(frozen=True)
class Notification:
    """One row of the outbox, as a channel needs it."""

    id: int            # outbox row
    alert_id: int
    seq: int           # with alert_id, the key a receiver drops duplicates by
    recipient: str     # worker id, or "mqtt"
    channel: str       # "mqtt" or "<worker>:<index>"
    purpose: str       # firing, repeat, escalation, ack, all_clear, record, clear
    title: str
    body: str          # for MQTT: the JSON record ("" = clear the retained record)
    retain: bool

    @property
    def ref(self) -> str:
        """The stable id of this message, ``<alert id>-<seq>``: the same on every redelivery."""
        return f"{self.alert_id}-{self.seq}"


class Channel(Protocol):
    """Delivers notifications. ``send`` returns only once the far end confirmed."""

    name: str

    async def send(self, notification: Notification) -> None:
        """Deliver one notification.

        Raises:
            ChannelError: not confirmed; the outbox retries with backoff.
            PermanentChannelError: can never work as configured; recorded as failed at once.
        """

    async def close(self) -> None:
        """Release threads and connections."""
