"""A post's health as staff see it: online or offline, sensor faults, and device faults named in Chinese.

``PostHealth`` is the part of ``PostMonitor`` that raises and clears these events; it uses the
monitor's hub, identity and counters.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from edge.events import Event, Severity
from edge.i18n import N_, _
from edge.posts.const import EV_OFFLINE, EV_ONLINE, EV_SENSOR, SENSOR_FAULT_AFTER

if TYPE_CHECKING:
    from edge.config import PostConfig
    from edge.posts.monitor import Hub
    from edge.posts.protection import PostProtection, SensorFault, Trip
    from edge.posts.settings import EffectiveLimits
    from edge.posts.validate import Rejections
    from edge.profiles.model import Profile

__all__ = ["FAULT_NAMES", "PostHealth", "fault_reason", "trip_detail"]

FAULT_NAMES: dict[str, str] = {
    "overcurrent": N_("overcurrent"),
    "overpower": N_("overpower"),
    "overvoltage": N_("overvoltage"),
    "undervoltage": N_("undervoltage"),
    "overtemp": N_("overheating"),
    "sensor_invalid": N_("meter reading invalid"),
}
"""Faults devices report (Shelly errors[], the canonical fault field), named for a grid worker."""


def fault_reason(fault: str) -> str:
    """The device-fault page's situation line, in the staff language."""
    name = FAULT_NAMES.get(fault)
    return _("fault reported by the post: {fault}").format(fault=_(name) if name else fault)


def trip_detail(trip: Trip) -> dict[str, Any]:
    """Event detail of a trip; a device fault has no measured value, so it names the fault."""
    detail = trip.to_dict()
    if trip.measured is None:
        for key in ("measured", "limit", "unit"):
            detail.pop(key, None)
        fault = str(trip.evidence.get("fault") or "")
        detail["fault"] = fault
        detail["reason"] = fault_reason(fault)
    return detail


class PostHealth:
    """Availability and sensor faults of one post (mixed into ``PostMonitor``)."""

    post_id: str
    config: PostConfig
    profile: Profile
    limits: EffectiveLimits
    hub: Hub
    protection: PostProtection
    rejections: Rejections
    online: bool | None
    offline_since: float | None
    last_seen: float
    dirty: bool
    sensor_faults: dict[str, dict[str, Any]]
    _streak: Counter[str]

    detail: Callable[..., dict[str, Any]]  # PostMonitor.detail: the event detail with names

    # -- availability and sensor faults --------------------------------------------------------

    def check_silence(self, now_mono: float) -> None:
        """Mark the post offline when it has been silent for its ``offline_after_s``."""
        if self.online is not False and now_mono - self.last_seen > self.config.offline_after_s:
            self._availability(False, "silent")

    def _availability(self, online: bool, how: str) -> None:
        if online == self.online:
            return
        was = self.online
        self.online = online
        self.dirty = True
        if online:
            if was is False:
                down = None if self.offline_since is None else time.time() - self.offline_since
                self.hub.emit(Event(EV_ONLINE, self.post_id, Severity.INFO,
                                    self.detail(how=how, offline_s=down)))
            self.offline_since = None
        else:
            self.offline_since = time.time()
            self.hub.emit(Event(EV_OFFLINE, self.post_id, Severity.WARNING, self.detail(
                how=how, offline_after_s=self.config.offline_after_s,
                silent_s=round(time.monotonic() - self.last_seen, 1),
                latched=sorted(self.protection.latches))))
        self.hub.changed(self, urgent=True)

    def _reject_message(self, reason: str, sample: bytes) -> None:
        self.rejections.add(reason, repr(sample))
        self._streak["post"] += 1
        if self._streak["post"] >= SENSOR_FAULT_AFTER and "post" not in self.sensor_faults:
            self._raise_fault("post", None, [("message", reason, sample[:40])])

    def _over_ceiling(self, fault: SensorFault) -> None:
        """A current above the meter's range: a sensor fault at once (the port may be cut too)."""
        key = str(fault.port)
        if key in self.sensor_faults:
            return
        ceiling = self.limits.post.max_current_a
        self._raise_fault(key, fault.port, [("current_a", "absurd", fault.value)], reason=_(
            "current {value} A is above what the meter of profile {profile} can measure "
            "({ceiling} A): the sensor or its wiring is faulty").format(
                value=fault.value, profile=self.profile.id, ceiling=ceiling))

    def _raise_fault(self, key: str, port: int | None, bad: list[tuple[str, str, Any]],
                     reason: str = "") -> None:
        detail = self.detail(port=port, rejected=[[k, r, repr(v)[:60]] for k, r, v in bad],
                             consecutive=self._streak[key], active=True,
                             since=time.time(), reason=reason or _(
                                 "{count} readings in a row could not be used").format(
                                     count=self._streak[key]))
        self.sensor_faults[key] = detail
        self.dirty = True
        if self.online is not False:  # an offline post's other alerts are inhibited
            subject = self.post_id if port is None else f"{self.post_id}/{port}"
            self.hub.emit(Event(EV_SENSOR, subject, Severity.WARNING, detail))
        self.hub.changed(self, urgent=True)

    def _clear_fault(self, key: str) -> None:
        detail = self.sensor_faults.pop(key, None)
        if detail is None:
            return
        self.dirty = True
        subject = self.post_id if detail["port"] is None else f"{self.post_id}/{detail['port']}"
        self.hub.emit(Event(EV_SENSOR, subject, Severity.INFO,
                            self.detail(port=detail["port"], active=False)))
        self.hub.changed(self, urgent=True)
