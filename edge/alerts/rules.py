"""The one table from daemon events to alerts: which kind, severity, key and resolution.

Every event kind the alert manager reacts to is listed in :data:`EVENT_RULES`; anything else on
the bus is ignored. Inhibition (an alert that silences others while it is open) is the second
table, :data:`INHIBITS`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from edge.events import Severity

__all__ = ["EVENT_RULES", "HOLD_DOWN_KINDS", "INHIBITS", "Action", "Rule", "Scope", "Target", "parse_subject"]


class Action(StrEnum):
    """What an event does to the alert of its key."""

    RAISE = "raise"        # open an alert (or fold into the open one: dedup)
    RESOLVE = "resolve"    # resolve the open alerts of these kinds for the same key
    UPDATE = "update"      # note what the daemon did on the open alerts of these kinds


class Scope(StrEnum):
    """What an alert's key is made of, besides its kind."""

    PORT = "port"          # post + port ("P03/4")
    POST = "post"          # post ("P03"); a port subject counts as its post
    SPEAKER = "speaker"    # speaker id
    SITE = "site"          # one per site


@dataclass(frozen=True)
class Rule:
    """How one event kind acts on alerts."""

    action: Action
    kinds: tuple[str, ...]           # the alert kind raised, or the kinds resolved / updated
    scope: Scope
    severity: Severity = Severity.WARNING
    note: str = ""                   # for UPDATE: the action recorded ("cutoff_confirmed")


_C, _W = Severity.CRITICAL, Severity.WARNING
_PORT_ALERTS = ("overcurrent", "cutoff_failed", "recut", "sensor_fault")

EVENT_RULES: dict[str, Rule] = {
    # charging posts
    "post.trip": Rule(Action.RAISE, ("overcurrent",), Scope.PORT, _C),
    "post.cutoff_confirmed": Rule(Action.UPDATE, ("overcurrent", "recut"), Scope.PORT,
                                  note="cutoff_confirmed"),
    "post.cutoff_failed": Rule(Action.RAISE, ("cutoff_failed",), Scope.PORT, _C),
    "post.recut": Rule(Action.RAISE, ("recut",), Scope.PORT, _W),
    "post.sensor_fault": Rule(Action.RAISE, ("sensor_fault",), Scope.PORT, _W),
    "post.reset": Rule(Action.RESOLVE, _PORT_ALERTS, Scope.PORT),
    "post.offline": Rule(Action.RAISE, ("post_offline",), Scope.POST, _W),
    "post.online": Rule(Action.RESOLVE, ("post_offline",), Scope.POST),
    # speakers and playout
    "speaker.offline": Rule(Action.RAISE, ("speaker_offline",), Scope.SPEAKER, _W),
    "speaker.online": Rule(Action.RESOLVE, ("speaker_offline",), Scope.SPEAKER),
    "speaker.unsolicited_play": Rule(Action.RAISE, ("unsolicited_play",), Scope.SPEAKER, _W),
    "play.missed": Rule(Action.RAISE, ("play_missed",), Scope.SPEAKER, _W),
    "play.failed": Rule(Action.RAISE, ("play_failed",), Scope.SPEAKER, _W),
    "play.done": Rule(Action.RESOLVE, ("play_missed", "play_failed"), Scope.SPEAKER),
    # schedules
    "schedule.rejected": Rule(Action.RAISE, ("schedule_rejected",), Scope.SITE, _W),
    "schedule.reloaded": Rule(Action.RESOLVE, ("schedule_rejected",), Scope.SITE),
    # the daemon's own link (raised by the manager's broker watch, not by the bus)
    "alerts.broker_unreachable": Rule(Action.RAISE, ("broker_unreachable",), Scope.SITE, _C),
    "alerts.broker_reachable": Rule(Action.RESOLVE, ("broker_unreachable",), Scope.SITE),
    "alerts.nobody_reachable": Rule(Action.RAISE, ("nobody_reachable",), Scope.SITE, _C),
    # the daemon's own disk (raised by the alerts component's store watch)
    "store.degraded": Rule(Action.RAISE, ("disk_full",), Scope.SITE, _C),
    "store.recovered": Rule(Action.RESOLVE, ("disk_full",), Scope.SITE),
}

# Kinds that page only once the condition has lasted its hold-down (a broker restart replays
# every device's will; a device back within the hold-down pages nobody).
HOLD_DOWN_KINDS = ("post_offline", "speaker_offline")

# An open alert of the key kind holds back the listed kinds: on the same post ("post"), or
# everywhere ("site"). A post that is offline cannot report anything trustworthy; with the broker
# gone every device looks offline, and one alert says it all.
INHIBITS: dict[str, tuple[str, tuple[str, ...]]] = {
    "post_offline": ("post", ("overcurrent", "cutoff_failed", "recut", "sensor_fault")),
    "broker_unreachable": ("site", ("post_offline", "speaker_offline", "play_missed",
                                    "play_failed")),
}

_PORT_SUBJECT = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_-]*)/(\d{1,3})$")


@dataclass(frozen=True)
class Target:
    """What an alert is about."""

    post: str = ""
    port: int | None = None
    speaker: str = ""

    def key(self, kind: str) -> str:
        """The dedup key of an alert of ``kind`` about this target."""
        if self.port is not None:
            return f"{kind}:{self.post}/{self.port}"
        return f"{kind}:{self.post or self.speaker}" if (self.post or self.speaker) else kind


def parse_subject(subject: str, scope: Scope) -> Target | None:
    """The target an event's subject names, or None when it does not fit the scope."""
    if scope is Scope.SITE:
        return Target()
    if scope is Scope.SPEAKER:
        return Target(speaker=subject) if subject and "/" not in subject else None
    match = _PORT_SUBJECT.match(subject)
    if match:
        post, port = match[1], int(match[2])
        return Target(post=post, port=port) if scope is Scope.PORT else Target(post=post)
    if subject and "/" not in subject:
        return Target(post=subject)  # a post-wide event (e.g. a post sensor fault)
    return None
