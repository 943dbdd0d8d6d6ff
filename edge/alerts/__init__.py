"""Alerting of the people who respond: lifecycle, roster, escalation, silences, durable outbox."""

from edge.alerts.component import AlertsComponent, create
from edge.alerts.errors import (AlertsError, ChannelError, PermanentChannelError,
                                UnknownAlertError, UnknownWorkerError)
from edge.alerts.manager import AlertManager
from edge.alerts.outbox import Dispatcher
from edge.alerts.roster import Roster, shift_covers
from edge.alerts.rules import EVENT_RULES, INHIBITS

__all__ = [
    "EVENT_RULES",
    "INHIBITS",
    "AlertManager",
    "AlertsComponent",
    "AlertsError",
    "ChannelError",
    "Dispatcher",
    "PermanentChannelError",
    "Roster",
    "UnknownAlertError",
    "UnknownWorkerError",
    "create",
    "shift_covers",
]
