"""Errors of alerting.

Hierarchy::

    GridedgeError                 (edge.errors)
     └── AlertsError              anything alerting refuses or cannot do
          ├── UnknownAlertError   no open alert with that id
          ├── UnknownWorkerError  an ack or silence names somebody not on the roster
          └── ChannelError        a channel could not deliver one notification
               └── PermanentChannelError   retrying cannot help (bad URL, unknown channel)
"""

from __future__ import annotations

from edge.errors import GridedgeError

__all__ = ["AlertsError", "ChannelError", "PermanentChannelError", "UnknownAlertError",
           "UnknownWorkerError"]


class AlertsError(GridedgeError):
    """Alerting refused or failed to do something."""


class UnknownAlertError(AlertsError):
    """There is no (open) alert with that id."""


class UnknownWorkerError(AlertsError):
    """The name is not a worker id of the roster."""


class ChannelError(AlertsError):
    """One notification could not be delivered on one channel (will be retried)."""


class PermanentChannelError(ChannelError):
    """Delivery can never succeed as configured; retrying is pointless."""
