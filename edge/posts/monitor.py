"""One post, watched: its messages decoded and checked, its protection driven, its decisions acted on.

Runs on the asyncio loop (MQTT handlers are called there). The hot path for an ordinary reading
is: compiled decode, plausibility check, the protection core's fast path, a dict update. SQLite,
state JSON and events happen only when something changes that staff care about.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import Counter
from typing import TYPE_CHECKING, Any, Protocol

from edge.events import Event, Severity
from edge.posts.actions import Cutoff, CutoffTracker
from edge.posts.clock import Clock, DeviceClock, DeviceOrdering
from edge.posts.health import PostHealth, trip_detail
from edge.posts.const import (
    EV_CONFIRMED,
    EV_FAILED,
    EV_RECUT,
    EV_TRIP,
    SENSOR_FAULT_AFTER,
)
from edge.posts.decoding import FastDecoder
from edge.posts.protection import (
    PortReading,
    PostProtection,
    Recut,
    RecutReason,
    SensorFault,
    Trip,
)
from edge.posts.validate import Rejections, check_port_in_place, check_post, ranges_with
from edge.profiles.codec import Decoded, DecodeError, bind
from edge.profiles.model import MessageFormat, PortsMode
from edge.profiles.transforms import DERIVATIONS

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from edge.config import PostConfig
    from edge.mqtt import Message
    from edge.posts.protection import Decision
    from edge.posts.settings import EffectiveLimits
    from edge.profiles.model import Profile

__all__ = ["Hub", "PostMonitor"]

logger = logging.getLogger(__name__)

class Hub(Protocol):
    """What a monitor needs from the component that owns it."""

    root: str
    site: str
    tz: ZoneInfo

    def emit(self, event: Event) -> None:
        """Send an event to the bus."""

    def publish(self, topic: str, payload: bytes, qos: int) -> None:
        """Publish a command."""

    def changed(self, monitor: PostMonitor, *, urgent: bool) -> None:
        """The post's state changed: publish it (now if urgent) and persist if urgent."""


def _merge(into: dict[str, Any], update: dict[str, Any]) -> None:
    """Deep-merge a partial status into the last full one (Shelly NotifyStatus)."""
    for key, value in update.items():
        old = into.get(key)
        if type(old) is dict and type(value) is dict:
            _merge(old, value)
        else:
            into[key] = value


class PostMonitor(PostHealth, DeviceOrdering):
    """Telemetry in, protection decisions out, for one post.

    Args:
        post_id: The post's id.
        config: Its settings from config.yaml.
        profile: Its device profile.
        limits: The protection settings in force.
        hub: The component: events, publishing, state.
    """

    def __init__(self, post_id: str, config: PostConfig, profile: Profile,  # noqa: PLR0913
                 limits: EffectiveLimits, hub: Hub, clock: Clock) -> None:
        """Build the decoders and the protection state (nothing is subscribed yet)."""
        self.post_id = post_id
        self.clock = clock
        self.config = config
        self.profile = profile
        self.limits = limits
        self.hub = hub
        self.protection = PostProtection(post_id, limits.post, limits.ports)
        device = config.topic_id or post_id
        self.decoders = [FastDecoder(profile, b, hub.tz)
                         for b in bind(profile, device, root=hub.root, site=hub.site)]
        # Full statuses are kept per port only where a partial update will be merged into them.
        self._keep_raw = any(d.merge for d in self.decoders)
        self._raw: dict[int, dict[str, Any]] = {}
        self._derive = [DERIVATIONS[name] for name in profile.derive]
        self._ranges = ranges_with(limits.post.max_current_a)
        self.rejections = Rejections(post_id)
        self.messages = 0  # messages decoded for this post (read by /metrics)
        self.dropped: Counter[str] = Counter()
        self.cutoffs = CutoffTracker(self._send_cutoff, limits.cutoff_confirm_s,
                                     limits.cutoff_retries, on_confirmed=self._confirmed,
                                     on_failed=self._failed,
                                     query=self._query if "port_status" in profile.commands
                                     else None)
        self.readings: dict[int, dict[str, Any]] = {p: {} for p in limits.ports}
        self.derived: set[int] = set()
        self.voltage_v: float | None = None
        self.post_reading: dict[str, Any] = {}
        self.device_clock = DeviceClock()
        self._clock_logged = -math.inf
        self.online: bool | None = None
        self.offline_since: float | None = None
        self.last_seen = time.monotonic()
        self.last_device_ts: dict[int, float] = {}  # per port, while the device clock is steady
        self._last_values: dict[int, dict[str, Any]] = {}
        self._streak: Counter[str] = Counter()
        self.sensor_faults: dict[str, dict[str, Any]] = {}
        self.last_command: dict[str, Any] | None = None
        self.save_version = 0  # number of the newest snapshot taken (grows, survives restarts)
        self.written_version = 0  # number of the newest snapshot on disk
        self.dirty = False  # a trip, reset or open event not saved yet: save at once
        self.save_due = False  # accumulators moved: save with the next periodic save
        self.state_dirty = False  # readings changed since the state was last published
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.nan

    # -- identity ------------------------------------------------------------------------------

    def detail(self, **more: Any) -> dict[str, Any]:
        """Event detail with the human names an alert needs."""
        return {"post": self.post_id, "name": self.config.name,
                "location": self.config.location, "profile": self.profile.id, **more}

    def now(self) -> float:
        """Protection time now: the daemon's monotonic clock, whatever the device's says."""
        return self.clock()

    # -- ingest --------------------------------------------------------------------------------

    def on_message(self, decoder: FastDecoder, msg: Message) -> None:
        """Handle one message on one of the post's topics."""
        try:
            decoded = self._decode(decoder, msg)
        except DecodeError as err:
            self._reject_message(err.reason, msg.payload[:80])
            return
        if decoded is None:
            return
        self.messages += 1
        if decoded.availability is not None:
            # The profile's own availability topic is a sign of life as such.
            self._alive()
            self._availability(decoded.availability, "lwt")
            return
        for problem in decoded.problems:
            self.rejections.add("bad_value", problem)
        now = self.clock()
        post_reading, port_readings, overs = self._check(decoder, decoded)
        if not post_reading and not port_readings:
            # [], {}, null, {"ENERGY": []}: nothing to protect with, so not a sign of life.
            self.rejections.add("no_readings", repr(msg.payload[:80]))
            return
        self._alive()
        if self.online is not True:
            self._availability(True, "telemetry")
        device_ts = self._device_time(decoded.ts, now, msg)
        decisions: list[Decision] = []
        if post_reading:
            decisions += self._post_values(now, post_reading)
        off_now: list[int] = []
        batch: list[PortReading] = []
        shown_ts = device_ts or msg.received_at
        # The hot loop of a 10-port message, written out: the ordering check, the values shown in
        # the state and the protection input of each port, with no call per port on the way.
        last_ts, last_values, shown_by_port = self.last_device_ts, self._last_values, self.readings
        for port, reading in port_readings.items():
            if device_ts is not None:
                last = last_ts.get(port)
                if last is not None and device_ts <= last:
                    if not self._in_order(port, device_ts, reading):
                        continue  # a repeat, or late
                else:
                    last_ts[port] = device_ts
                    last_values[port] = reading
            if self._derive and "current_a" not in reading and "power_w" in reading:
                reading = self._derived(port, reading)
            shown = shown_by_port[port]
            shown.update(reading)
            shown["ts"] = shown_ts
            get = reading.get
            current, on = get("current_a"), get("on")
            if on is False:
                off_now.append(port)
            if self.cutoffs.pending:
                self.cutoffs.observe(port, current, on)
            if current is None and overs:
                current = overs.get(port)  # absurd but finite: it may still cut (fail safe)
            batch.append((port, current, get("power_w"), get("temp_c"), on, get("fault")))
        if batch:
            decisions += self.protection.observe_many(now, batch)
        if decisions:
            self._act(decisions, off_now)
        if not self.protection.quiet or self._timer is not None:
            self.save_due = True
            self._schedule()

    def _alive(self) -> None:
        self.last_seen = time.monotonic()
        if self._streak.get("post"):  # .get: no Counter.__missing__ call per message
            self._streak["post"] = 0
            self._clear_fault("post")

    def _check(self, decoder: FastDecoder, decoded: Decoded) -> tuple[
            dict[str, Any], dict[int, dict[str, Any]], dict[int, float]]:
        """Validate every value first: (post reading, port → reading, port → over-range current).

        A port's reading is the decoder's dict for this message, checked in place (no copy).
        """
        post_reading: dict[str, Any] = {}
        if decoded.post:
            post_reading = self._check_post(decoded.post)
        ports: dict[int, dict[str, Any]] = {}
        overs: dict[int, float] = {}
        complete = decoder.binding.spec.complete
        known = self.readings
        bad: list[tuple[str, str, Any]] = []
        for port, values in decoded.ports.items():
            if port not in known:
                self.rejections.add("unknown_port", str(port))
                continue
            if complete and "fault" not in values:
                values["fault"] = None  # a whole status without errors: no fault now
            reading = check_port_in_place(values, bad, self._ranges)
            if bad:
                over = self._bad_port_values(port, bad)
                bad = []
                if over is not None:
                    overs[port] = over
            elif self._streak and self._streak.get(str(port)):
                self._streak[str(port)] = 0
                self._clear_fault(str(port))
            if reading or port in overs:
                ports[port] = reading
        return post_reading, ports, overs

    def _bad_port_values(self, port: int, bad: list[tuple[str, str, Any]]) -> float | None:
        """Count rejected values; return a finite current above the ceiling (it may still cut)."""
        key = str(port)
        over = None
        for name, reason, value in bad:
            self.rejections.add(f"{name}_{reason}", repr(value)[:60])
            if name == "current_a" and reason == "absurd":
                over = float(value)
        self._streak[key] += 1
        if self._streak[key] >= SENSOR_FAULT_AFTER and key not in self.sensor_faults:
            self._raise_fault(key, port, bad)
        return over

    def _decode(self, decoder: FastDecoder, msg: Message) -> Decoded | None:
        if not self._keep_raw or not decoder.fast:
            return decoder.decode(msg.topic, msg.payload)
        spec = decoder.binding.spec
        if spec.format is not MessageFormat.JSON or spec.availability is not None:
            return decoder.decode(msg.topic, msg.payload)
        found = decoder.raw(msg.topic, msg.payload)
        if found is None:
            return None
        match, data = found
        ports = spec.ports
        if decoder.merge and ports is not None and ports.mode is PortsMode.KEYS and \
                type(data) is dict:
            # NotifyStatus carries only what changed: merge it into the last full status.
            params = data.get(ports.path) if ports.path != "@" else data
            if type(params) is dict and decoder.key_regex is not None:
                if not decoder.accepts(data):
                    return None
                for key, item in list(params.items()):
                    if type(item) is not dict:
                        continue
                    number = decoder.key_regex.match(key)
                    if number is None:
                        continue
                    port = int(number[1]) + 1 - self.profile.port_base
                    full = self._raw.setdefault(port, {})
                    _merge(full, item)
                    params[key] = full
        elif ports is not None and ports.mode is PortsMode.TOPIC and type(data) is dict:
            port = int(match["port"]) + 1 - self.profile.port_base
            self._raw[port] = dict(data)
        return decoder.from_data(match, data)

    def _check_post(self, values: dict[str, Any]) -> dict[str, Any]:
        if type(values.get("voltage_v")) is list:
            # Multi-channel Tasmota: ENERGY.Voltage is per channel; the ports carry it.
            values = {k: v for k, v in values.items() if k != "voltage_v"}
        bad: list[tuple[str, str, Any]] = []
        reading = check_post(values, bad)
        for key, reason, value in bad:
            self.rejections.add(f"{key}_{reason}", repr(value))
        return reading

    def _post_values(self, ts: float, reading: dict[str, Any]) -> list[Decision]:
        if "voltage_v" in reading:
            self.voltage_v = reading["voltage_v"]
        self.post_reading.update(reading)
        if "temp_c" in reading or reading.get("fault"):
            return self.protection.observe_post(ts, temp_c=reading.get("temp_c"),
                                                fault=reading.get("fault"))
        return []

    def _derived(self, port: int, reading: dict[str, Any]) -> dict[str, Any]:
        """The reading with the current worked out from power (profiles that report no current)."""
        reading = dict(reading)  # the raw values stay as received (duplicate check)
        for derive in self._derive:
            if derive(reading, reading.get("voltage_v", self.voltage_v)):
                self.derived.add(port)
        return reading

    # -- decisions -----------------------------------------------------------------------------

    def _act(self, decisions: list[Decision], off_now: list[int] = ()) -> None:  # type: ignore[assignment]
        for decision in decisions:
            if isinstance(decision, Trip):
                for port in decision.ports:
                    self.cutoffs.cut(port, str(decision.cause))
                    if port in off_now:
                        # The message that tripped it says the relay is already open (the
                        # device cut itself, e.g. Shelly "source":"limit"): that confirms it.
                        self.cutoffs.observe(port, None, False)
                self.dirty = True
                subject = self.post_id if decision.port is None else f"{self.post_id}/{decision.port}"
                self.hub.emit(Event(EV_TRIP, subject, Severity.WARNING,
                                    self.detail(**trip_detail(decision)), ts=time.time()))
            elif isinstance(decision, Recut):
                if decision.reason is RecutReason.STILL_ON and decision.port in self.cutoffs.pending:
                    continue  # the tracker is already sending it again
                self.cutoffs.cut(decision.port, f"recut_{decision.reason}")
                self.dirty = True
                self.hub.emit(Event(EV_RECUT, f"{self.post_id}/{decision.port}", Severity.WARNING,
                                    self.detail(**decision.to_dict()), ts=time.time()))
            elif isinstance(decision, SensorFault):
                self.rejections.add(f"{decision.quantity}_{decision.reason}", decision.value)
                if decision.quantity == "current_a" and decision.reason == "implausible" \
                        and decision.port is not None:
                    self._over_ceiling(decision)
        self.hub.changed(self, urgent=True)

    def _send_cutoff(self, port: int, request_id: int, reason: str) -> None:
        from edge.profiles.codec import render_command

        topic, payload, qos = render_command(
            self.profile, "port_off",
            {"device": self.config.topic_id or self.post_id, "port": port,
             "request_id": request_id, "reason": reason},
            root=self.hub.root, site=self.hub.site)
        self.hub.publish(topic, payload, qos)

    def _query(self, port: int) -> None:
        from edge.profiles.codec import render_command

        topic, payload, qos = render_command(
            self.profile, "port_status",
            {"device": self.config.topic_id or self.post_id, "port": port, "request_id": 0,
             "reason": "confirm_cutoff"}, root=self.hub.root, site=self.hub.site)
        self.hub.publish(topic, payload, qos)

    def _confirmed(self, cutoff: Cutoff) -> None:
        self.hub.emit(Event(EV_CONFIRMED, f"{self.post_id}/{cutoff.port}", Severity.INFO,
                            self.detail(port=cutoff.port, reason=cutoff.reason,
                                        request_id=cutoff.request_id, by=cutoff.confirmed_by,
                                        attempts=cutoff.attempts, was_failed=cutoff.failed,
                                        reading=dict(self.readings[cutoff.port]))))
        self.hub.changed(self, urgent=True)

    def _failed(self, cutoff: Cutoff) -> None:
        self.hub.emit(Event(EV_FAILED, f"{self.post_id}/{cutoff.port}", Severity.CRITICAL,
                            self.detail(port=cutoff.port, reason=cutoff.reason,
                                        request_id=cutoff.request_id, attempts=cutoff.attempts,
                                        waited_s=time.time() - cutoff.sent_at,
                                        post_offline=self.online is False,
                                        reading=dict(self.readings[cutoff.port]))))
        self.hub.changed(self, urgent=True)

    # -- timers --------------------------------------------------------------------------------

    def _schedule(self) -> None:
        deadline = self.protection.next_deadline()
        if deadline is None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            return
        if self._timer is not None:
            if deadline == self._timer_at:
                return
            self._timer.cancel()
        delay = max(0.0, deadline - self.clock())
        self._timer_at = deadline
        self._timer = asyncio.get_running_loop().call_later(delay, self._deadline, deadline)

    def _deadline(self, deadline: float) -> None:
        self._timer = None
        trips = self.protection.advance(deadline)
        if trips:
            self._act(list(trips))
        self._schedule()

    def stop(self) -> None:
        """Cancel every timer."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.cutoffs.cancel_all()
